"""Small georeferenced optical + SAR Datasets for the Zarr / xarray / GeoTIFF tests."""

from __future__ import annotations

import numpy as np

from conftest import smooth_pair

EPSG = 32618
X0, Y0, RES = 435730.0, 4179460.0, 10.0


def dataset(h=96, w=80, seed=0, times=None, sar_nan=False):
    """``optical`` (…, optical_band, y, x) uint16 and ``sar`` (…, sar_band, y, x) float32 dB, UTM grid."""
    import rioxarray  # noqa: F401 - registers .rio
    import xarray as xr

    rng = np.random.default_rng(seed)
    y = Y0 - RES * np.arange(h) - RES / 2
    x = X0 + RES * np.arange(w) + RES / 2
    n = 1 if times is None else len(times)
    pairs = [smooth_pair(rng, h, w) for _ in range(n)]
    opt, sar = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    if sar_nan:
        sar[:, :, 5:9, 7:20] = np.nan  # a swath gap in both polarisations
    coords = {"optical_band": ["B02", "B03", "B04", "B08"], "sar_band": ["VV", "VH"], "y": y, "x": x}
    if times is None:
        ds = xr.Dataset({"optical": (("optical_band", "y", "x"), opt[0]), "sar": (("sar_band", "y", "x"), sar[0])},
                        coords=coords)
    else:
        ds = xr.Dataset({"optical": (("time", "optical_band", "y", "x"), opt),
                         "sar": (("time", "sar_band", "y", "x"), sar)}, coords={**coords, "time": times})
    return ds.rio.write_crs(f"EPSG:{EPSG}")


def joint(ds) -> np.ndarray:
    """The joint float32 array the writer stores (optical bands then SAR bands)."""
    return np.concatenate([ds.optical.values.astype(np.float32), ds.sar.values.astype(np.float32)], axis=-3)


def chunk_files(store) -> dict[str, bytes]:
    """Every chunk object of the joint array, by its path relative to the array."""
    from pathlib import Path

    root = Path(store) / "pair"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs")}


def payload(files: dict[str, bytes]) -> dict:
    """Chunk frames without their cube id: what two writes of the same data must agree on."""
    from geocodec.cube.chunks import unpack

    out = {}
    for k, v in files.items():
        if k.startswith(".geocodec-"):
            continue
        f = unpack(v)
        out[k] = (f.shape, f.index, f.fingerprint, f.items)
    return out


def assert_same_decode(a, b, n_optical=4):
    """Two decodes of the same chunks: equal up to float-kernel noise between device batch sizes.

    CPU convolutions are not bit-identical across batch compositions, so the same chunk decoded
    alone or in a batch may differ by one integer step in a few optical samples and ~1e-5 dB
    in SAR; NaN positions are always identical.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    d = np.abs(np.nan_to_num(a) - np.nan_to_num(b))
    opt, sar = d[..., :n_optical, :, :], d[..., n_optical:, :, :]
    assert opt.max(initial=0) <= 1 and (opt > 0).mean() < 0.01
    assert sar.max(initial=0) <= 1e-3


def assert_in_place(decoded, source, shift=8):
    """Each band of a lossy decode matches its source band far better than the source shifted by
    ``shift`` px: catches misplaced chunks, swapped axes and mixed-up modalities without
    assuming anything about the model's quality."""
    decoded, source = np.asarray(decoded, np.float64), np.asarray(source, np.float64)
    assert decoded.shape == source.shape
    for b in range(decoded.shape[-3]):
        d, s = decoded[..., b, :, :], source[..., b, :, :]
        moved = np.roll(s, shift, axis=-1)
        ok = np.isfinite(d) & np.isfinite(s) & np.isfinite(moved)
        aligned = np.corrcoef(d[ok], s[ok])[0, 1]
        shifted = np.corrcoef(d[ok], moved[ok])[0, 1]
        assert aligned > shifted + 0.1, f"band {b}: correlation {aligned:.3f} vs {shifted:.3f} when shifted"


def crash_after_first_chunk(monkeypatch):
    """Make the writer store one chunk, then fail as a killed writer would; returns the real store_chunk."""
    import geocodec.cube.writer as writer

    real = writer.store_chunk
    calls = []

    def crash(arr, index, *args):
        if calls:
            raise RuntimeError("simulated crash")
        calls.append(index)
        real(arr, index, *args)

    monkeypatch.setattr(writer, "store_chunk", crash)
    return real
