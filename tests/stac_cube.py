"""Small georeferenced geocodec cubes for the STAC tests, written by the real writer."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from conftest import smooth_pair

EPSG = 32633
X0, Y0, RES = 500000.0, 5300000.0, 10.0


def dataset(h=64, w=128, seed=0, times=None):
    import rioxarray  # noqa: F401 - registers .rio
    import xarray as xr

    rng = np.random.default_rng(seed)
    y = Y0 - RES * np.arange(h) - RES / 2
    x = X0 + RES * np.arange(w) + RES / 2
    if times is None:
        opt, sar = smooth_pair(rng, h, w)
        dims_o, dims_s, coords = ("band_o", "y", "x"), ("band_s", "y", "x"), {}
    else:
        pairs = [smooth_pair(rng, h, w) for _ in times]
        opt, sar = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        dims_o, dims_s, coords = ("time", "band_o", "y", "x"), ("time", "band_s", "y", "x"), {"time": times}
    ds = xr.Dataset({"optical": (dims_o, opt), "sar": (dims_s, sar)},
                    coords={**coords, "band_o": ["B02", "B03", "B04", "B08"], "band_s": ["VV", "VH"], "y": y, "x": x})
    return ds.rio.write_crs(f"EPSG:{EPSG}")


def write_cube(path, ds=None, *, lmbda=0.01, gamma=0.6, model="default", chunks=64):
    import geocodec

    ds = dataset() if ds is None else ds
    geocodec.to_zarr(ds, str(path), lmbda=lmbda, gamma=gamma, model=model, chunks=chunks, device="cpu",
                     progress=False)
    return ds


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test: validation must be offline."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted during offline STAC validation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert attempts == [], f"validation tried the network: {attempts}"
