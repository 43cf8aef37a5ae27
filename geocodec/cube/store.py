"""Where a cube lives: paths and URLs → Zarr stores, and the few store-level facts the cube needs.

Why one module: opening a store (local path, ``file://``, any fsspec URL such as ``memory://`` or
``s3://``, or a zarr Store object) happened in four places. Chunk *data* is never written here:
the writer goes through Zarr's array API, so Zarr's codec pipeline (and sharding) does it.
"""

from __future__ import annotations

import json
from pathlib import Path

from geocodec.errors import CorruptStreamError, InvalidInputError

ARRAY = "pair"


def open_store(store, read_only: bool = False, storage_options: dict | None = None):
    """(zarr Store, reference a Dask worker can reopen): a path/URL becomes a Store, a Store stays.

    Local paths and ``file://`` URLs use Zarr's ``LocalStore`` (atomic writes: temp file + rename);
    any other URL goes through fsspec (``FsspecStore``), with ``storage_options``.
    """
    if isinstance(store, (str, Path)):
        s = str(store)
        if "://" in s and not s.startswith("file://"):
            from zarr.storage import FsspecStore

            try:
                return FsspecStore.from_url(s, read_only=read_only, storage_options=storage_options), s
            except (ImportError, ValueError) as e:
                raise InvalidInputError(f"cannot open {s!r} through fsspec: {e}") from None
        from zarr.storage import LocalStore

        path = Path(s.removeprefix("file://")).expanduser()
        if path.exists() and not path.is_dir():
            raise InvalidInputError(f"{path} is a file, not a Zarr store (a directory)")
        if read_only and not path.exists():
            raise InvalidInputError(f"{path} does not exist (no Zarr store there)")
        if path.exists() and not path.is_dir():
            raise InvalidInputError(f"{path} is a file, not a Zarr store (a folder)")
        return LocalStore(path, read_only=read_only), str(path)
    if not hasattr(store, "set") or not hasattr(store, "get"):
        raise InvalidInputError(f"store must be a path, URL or zarr Store, got {type(store).__name__}")
    return store, store


def store_label(store_ref) -> str:
    """A stable string naming the store (for cache keys and messages)."""
    if isinstance(store_ref, str):
        return store_ref
    return str(getattr(store_ref, "root", None) or getattr(store_ref, "path", None) or id(store_ref))


def local_root(zstore) -> Path | None:
    """The directory of a local store, else None."""
    root = getattr(zstore, "root", None)
    return Path(root) if root is not None else None


def _sync(coro):
    from zarr.core.sync import sync

    return sync(coro)


def read_chunk(arr, key: str) -> bytes | None:
    """The bytes of one stored object of ``arr`` (a chunk, or a whole shard), or None."""
    from zarr.core.buffer import default_buffer_prototype

    b = _sync(arr.store.get(f"{arr.path}/{key}", prototype=default_buffer_prototype()))
    return None if b is None else b.to_bytes()


def write_chunk(arr, key: str, data: bytes) -> None:
    """Raw bytes → one object (tests use it to plant damaged chunks; the writer never does)."""
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
    """Total size of the given objects (without reading them)."""

    async def _sizes():
        return [await arr.store.getsize(f"{arr.path}/{k}") for k in keys]

    return int(sum(_sync(_sizes())))


def remove_partial_files(zstore) -> int:
    """Delete temp files a killed writer left in a local store (Zarr names them ``*.partial``)."""
    root = local_root(zstore)
    if root is None:
        return 0
    n = 0
    for p in root.rglob("*.partial"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def codec_settings(arr):
    """The ``CodecSettings`` pinned in the array's metadata (v3 serializer, v2 compressor, or inside shards)."""
    from geocodec.settings import CodecSettings

    candidates = [getattr(arr, "serializer", None), *(getattr(arr, "compressors", None) or ())]
    for c in list(candidates):
        inner = getattr(c, "codecs", None)  # zarr's ShardingCodec: the geocodec codec is inside it
        if inner:
            candidates.extend(inner)
    for c in candidates:
        s = getattr(c, "settings", None)
        if isinstance(s, CodecSettings):
            return s
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


def read_frames(arr, coords: list[tuple[int, ...]]) -> list[bytes | None]:
    """The stored frame of each chunk (grid coordinates of the coded chunks), None where none is stored.

    For a sharded array each shard is read once and its inner chunks are cut out through Zarr's
    shard index (``ShardingCodec``'s reader: zarr has no public call for one inner chunk's bytes).
    """
    sharding = _sharding_codec(arr)
    if sharding is None:
        return [read_chunk(arr, arr.metadata.encode_chunk_key(tuple(c))) for c in coords]
    from zarr.codecs.sharding import _ShardReader
    from zarr.core.buffer import default_buffer_prototype

    per_shard = tuple(s // c for s, c in zip(arr.shards, arr.chunks))
    readers: dict[tuple[int, ...], object] = {}
    out: list[bytes | None] = []
    for c in coords:
        shard = tuple(i // n for i, n in zip(c, per_shard))
        if shard not in readers:
            raw = _sync(arr.store.get(f"{arr.path}/{arr.metadata.encode_chunk_key(shard)}",
                                      prototype=default_buffer_prototype()))
            readers[shard] = None if raw is None else _sync(_ShardReader.from_bytes(raw, sharding, per_shard))
        reader = readers[shard]
        inner = tuple(i % n for i, n in zip(c, per_shard))
        try:
            out.append(None if reader is None else reader[inner].to_bytes())
        except KeyError:
            out.append(None)
    return out


def _sharding_codec(arr):
    from zarr.codecs import ShardingCodec

    for c in getattr(arr.metadata, "codecs", ()) or ():
        if isinstance(c, ShardingCodec):
            return c
    return None


def set_codec_complete(arr, complete: bool) -> None:
    """Set the geocodec codec's ``complete`` flag in the array's own metadata document (v3 or v2).

    The codec configuration is the only thing a plain Zarr reader sees, so this is how it learns that
    a write is running. Consolidated metadata is refreshed by the caller (``zarr.consolidate_metadata``).
    """
    set_codec_config(arr, complete=complete)


def set_codec_config(arr, **values) -> None:
    """Set keys of the geocodec codec's configuration in the array's metadata document; a value of
    None or 0 for ``refine_steps`` removes that key (the config then reads as before it existed)."""
    import json as _json

    def update(conf: dict) -> None:
        for k, v in values.items():
            if k == "refine_steps" and not v:
                conf.pop(k, None)
            else:
                conf[k] = v

    for name in ("zarr.json", ".zarray"):
        raw = read_chunk(arr, name)
        if raw is None:
            continue
        meta = _json.loads(raw)
        found = False
        stack = [meta]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if node.get("name") == "geocodec" and isinstance(node.get("configuration"), dict):
                    update(node["configuration"])
                    found = True
                elif node.get("id") == "geocodec":
                    update(node)
                    found = True
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        if found:
            write_chunk(arr, name, _json.dumps(meta, indent=2).encode())
        return
