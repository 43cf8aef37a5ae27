"""A small real sample for the demo: the six BigEarthNet Sentinel-1/Sentinel-2 example pairs.

They are found, in order, in a folder given by the caller (``geocodec demo --data``), in
``$GEOCODEC_SAMPLE_DIR``, or in the PyPI package ``bigearthnet-common==2.8.0`` (installed by
``scripts/install.sh`` with ``--no-deps``), whose
wheel ships them as two ``.tar.bz2`` files; those are unpacked once into ``~/.cache/geocodec``.
"""

from __future__ import annotations

import importlib.util
import os
import tarfile
from pathlib import Path

from geocodec.errors import GeocodecError

_FOLDER = "bigearthnet-example-geotiff"
_ARCHIVES = ("BigEarthNet-S1-Example.tar.bz2", "BigEarthNet-S2-Example.tar.bz2")


def _from_package() -> Path | None:
    spec = importlib.util.find_spec("bigearthnet_common")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = Path(next(iter(spec.submodule_search_locations)))
    if not all((pkg / a).exists() for a in _ARCHIVES):
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "geocodec" / _FOLDER
    for a in _ARCHIVES:
        if not (cache / a.removesuffix(".tar.bz2")).is_dir():
            cache.mkdir(parents=True, exist_ok=True)
            with tarfile.open(pkg / a) as tar:
                tar.extractall(cache, filter="data")
    return cache


def sample_dir(folder=None) -> Path:
    """Folder holding ``BigEarthNet-S1-Example/`` and ``BigEarthNet-S2-Example/``.

    Parameters
    ----------
    folder : str or Path, optional
        Look here first; then ``$GEOCODEC_SAMPLE_DIR``; then the ``bigearthnet-common`` wheel.
    """
    candidates = [Path(c) for c in (folder, os.environ.get("GEOCODEC_SAMPLE_DIR")) if c]
    for c in candidates:
        if (c / "BigEarthNet-S1-Example").is_dir() and (c / "BigEarthNet-S2-Example").is_dir():
            return c
    if folder is not None:
        raise GeocodecError(f"{folder} holds no BigEarthNet-S1-Example/ and BigEarthNet-S2-Example/ folders")
    found = _from_package()
    if found is not None:
        return found
    raise GeocodecError("no sample data: install it with `pip install --no-deps bigearthnet-common==2.8.0` "
                        "or set GEOCODEC_SAMPLE_DIR to a folder with BigEarthNet-S1-Example/ and -S2-Example/")


def sample_pairs(folder=None) -> list[tuple[str, Path, Path]]:
    """(name, S2 patch folder, S1 patch folder) for every pair (paired by ``geocodec.io.bigearthnet_pairs``)."""
    from geocodec.io import bigearthnet_pairs

    return bigearthnet_pairs(sample_dir(folder))
