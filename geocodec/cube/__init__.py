"""What makes a geocodec cube: its record, its chunks, its store, its lock, the writer, the
xarray engine (``engine``) and the latent cache the engine shares between modalities (``cache``).

``record`` (``CubeRecord``, ``open_cube``) and ``store`` are metadata-only and import no torch;
``chunks`` imports torch only when a chunk is actually encoded or decoded.
"""

from geocodec.cube.record import Acquisition, Cube, CubeRecord, ModelRef, open_cube

__all__ = ["Acquisition", "Cube", "CubeRecord", "ModelRef", "open_cube", "to_zarr"]


def __getattr__(name):  # the writer pulls in xarray and dask: load it only when asked for
    if name == "to_zarr":
        from geocodec.cube.writer import to_zarr

        return to_zarr
    raise AttributeError(f"module 'geocodec.cube' has no attribute {name!r}")
