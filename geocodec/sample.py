"""A small real sample for the demo: the six BigEarthNet Sentinel-1/Sentinel-2 example pairs.

They are found, in order, in ``$GEOCODEC_SAMPLE_DIR``, in ``../shared/data/bigearthnet-example-geotiff``
(beside the working directory or the repository), or in the PyPI package
``bigearthnet-common==2.8.0`` (installed by ``scripts/install.sh`` with ``--no-deps``), whose
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


def sample_dir() -> Path:
    """Folder holding ``BigEarthNet-S1-Example/`` and ``BigEarthNet-S2-Example/``."""
    candidates = []
    if os.environ.get("GEOCODEC_SAMPLE_DIR"):
        candidates.append(Path(os.environ["GEOCODEC_SAMPLE_DIR"]))
    repo = Path(__file__).resolve().parents[1]
    candidates += [Path.cwd().parent / "shared" / "data" / _FOLDER, repo.parent / "shared" / "data" / _FOLDER]
    for c in candidates:
        if (c / "BigEarthNet-S1-Example").is_dir() and (c / "BigEarthNet-S2-Example").is_dir():
            return c
    found = _from_package()
    if found is not None:
        return found
    raise GeocodecError("no sample data: install it with `pip install --no-deps bigearthnet-common==2.8.0` "
                        "or set GEOCODEC_SAMPLE_DIR to a folder with BigEarthNet-S1-Example/ and -S2-Example/")


def sample_pairs() -> list[tuple[str, Path, Path]]:
    """(name, S2 patch folder, S1 patch folder) for every pair, matched by trailing ``_row_col``."""
    root = sample_dir()
    def key(d: Path) -> str:
        return "_".join(d.name.rsplit("_", 2)[-2:])

    s2 = {key(d): d for d in sorted((root / "BigEarthNet-S2-Example").iterdir()) if d.is_dir()}
    return [(key(d), s2[key(d)], d) for d in sorted((root / "BigEarthNet-S1-Example").iterdir())
            if d.is_dir() and key(d) in s2]
