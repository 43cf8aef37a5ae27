"""Old import path of ``to_zarr``; the writer lives in ``geocodec.cube.writer`` now."""

from geocodec.cube.writer import DEFAULT_BATCH_CHUNKS, WriteResult, to_zarr  # noqa: F401
