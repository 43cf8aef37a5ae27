"""Raw access to a geocodec Zarr store: open it, read/write/delete one chunk's bytes, list chunks.

The writer stores and verifies chunk frames itself (batched encoding, resume) and the xarray
engine reads them itself (per-modality decoding), both through Zarr's store API, so they work
on any Zarr store (local directory, memory, fsspec URL) and write exactly the keys Zarr reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from geocodec.errors import InvalidInputError

ARRAY = "pair"


def open_store(store, read_only: bool = False):
    """(zarr Store, reference to hand to Dask workers): a path/URL becomes a Store, a Store stays."""
    if isinstance(store, (str, Path)):
        s = str(store)
        if "://" in s and not s.startswith("file://"):
            from zarr.storage import FsspecStore

            return FsspecStore.from_url(s, read_only=read_only), s
        from zarr.storage import LocalStore

        path = Path(s.removeprefix("file://")).expanduser()
        if read_only and not path.exists():
            raise InvalidInputError(f"{path} does not exist (no Zarr store there)")
        if path.exists() and not path.is_dir():
            raise InvalidInputError(f"{path} is a file, not a Zarr store (a folder)")
        return LocalStore(path, read_only=read_only), str(path)
    if not hasattr(store, "set") or not hasattr(store, "get"):
        raise InvalidInputError(f"store must be a path, URL or zarr Store, got {type(store).__name__}")
    return store, store


def open_array(store_ref, name: str = ARRAY, mode: str = "r+"):
    import zarr

    store, _ = open_store(store_ref, read_only=mode == "r") if isinstance(store_ref, (str, Path)) else (store_ref, None)
    return zarr.open_group(store, mode=mode)[name]


def _sync(coro):
    from zarr.core.sync import sync

    return sync(coro)


def read_chunk(arr, key: str) -> bytes | None:
    from zarr.core.buffer import default_buffer_prototype

    b = _sync(arr.store.get(f"{arr.path}/{key}", prototype=default_buffer_prototype()))
    return None if b is None else b.to_bytes()


def write_chunk(arr, key: str, data: bytes) -> None:
    """One chunk's bytes → the store, atomically (Zarr's local store: temp file + rename)."""
    from zarr.core.buffer import default_buffer_prototype

    _sync(arr.store.set(f"{arr.path}/{key}", default_buffer_prototype().buffer.from_bytes(data)))


def delete_chunk(arr, key: str) -> None:
    _sync(arr.store.delete(f"{arr.path}/{key}"))


def list_chunk_keys(arr) -> set[str]:
    """Keys (relative to the array) of every object stored under the array, metadata excluded."""
    prefix = f"{arr.path}/"

    async def _keys():
        return [k async for k in arr.store.list_prefix(prefix)]

    return {k[len(prefix):] for k in _sync(_keys())} - {"zarr.json", ".zarray", ".zattrs"}


def stored_bytes(arr, keys) -> int:
    """Total size of the given chunk objects (without reading them)."""

    async def _sizes():
        return [await arr.store.getsize(f"{arr.path}/{k}") for k in keys]

    return int(sum(_sync(_sizes())))


def remove_partial_files(store) -> int:
    """Delete temp files a killed writer left in a local store (Zarr names them ``*.partial``)."""
    root = getattr(store, "root", None)
    if root is None:
        return 0
    n = 0
    for p in Path(root).rglob("*.partial"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def codec_settings(arr):
    """The ``CodecSettings`` pinned in the array's metadata (Zarr v3 serializer or v2 compressor)."""
    from geocodec.errors import CorruptStreamError
    from numcodecs_plugin.numcodecs_codec import GeocodecCodec
    from numcodecs_plugin.zarr_codec import GeocodecZarrCodec

    for c in (getattr(arr, "serializer", None), *(getattr(arr, "compressors", None) or ())):
        if isinstance(c, (GeocodecZarrCodec, GeocodecCodec)):
            return c.settings
    raise CorruptStreamError(f"array {arr.path!r} is not compressed with the geocodec codec")


def array_dims(arr) -> tuple[str, ...]:
    names = getattr(arr.metadata, "dimension_names", None)
    if names:
        return tuple(names)
    dims = arr.attrs.get("_ARRAY_DIMENSIONS")
    if dims:
        return tuple(dims)
    raise InvalidInputError(f"array {arr.path!r} has no dimension names")


def looks_like_geocodec_store(path) -> bool:
    """Cheap check (no zarr import): a local group whose attrs hold a ``geocodec`` record."""
    try:
        p = Path(str(path).removeprefix("file://"))
        for meta in (p / "zarr.json", p / ".zattrs"):
            if meta.is_file():
                d = json.loads(meta.read_text())
                return "geocodec" in d.get("attributes", d)
    except (OSError, ValueError, TypeError):
        return False
    return False
