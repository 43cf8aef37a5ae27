"""The "geocodec" engine behaves like xarray's zarr engine: standard open_dataset options, CF
attributes, netCDF-safe attrs, per-band names rioxarray writes as GeoTIFF band descriptions."""

from __future__ import annotations

import json

import numpy as np
import pytest

import geocodec
from zarr_data import dataset


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    """A 2-time 64×64 cube with optical nodata 0 in one corner (one chunk per time)."""
    times = np.array(["2022-01-01", "2022-01-13"], dtype="datetime64[ns]")
    ds = dataset(64, 64, times=times, sar_nan=True, seed=3)
    ds["optical"][:, :, :6, :6] = 0
    store = tmp_path_factory.mktemp("conv") / "cube.zarr"
    geocodec.to_zarr(ds, str(store), lmbda=0.01, chunks=64, device="cpu", progress=False, optical_nodata=0)
    return store, ds


def _open(store, **kw):
    import xarray as xr

    return xr.open_dataset(store, engine="geocodec", **kw)


def test_cf_attributes_and_defaults(cube):
    store, _ = cube
    ds = _open(store)
    opt, sar = ds.optical, ds.sar
    assert opt.dtype == np.uint16  # mask_and_scale=False by default: original dtypes, nodata kept
    assert opt.attrs["long_name"] == ("B02", "B03", "B04", "B08") and sar.attrs["long_name"] == ("VV", "VH")
    assert opt.attrs["units"] == "1e-4" and sar.attrs["units"] == "dB"
    assert "standard_name" not in sar.attrs  # CF's sigma0 name has units "1": not for dB values
    assert opt.attrs["_FillValue"] == 0 and np.isnan(sar.attrs["_FillValue"])
    # decode_coords="all" (default): spatial_ref is a coordinate, grid_mapping sits in encoding as CF decoding puts it
    assert "spatial_ref" in ds.coords and "grid_mapping" not in opt.attrs
    assert opt.encoding["grid_mapping"] == "spatial_ref"
    assert ds.attrs["Conventions"] == "CF-1.8"
    record = json.loads(ds.attrs["geocodec"])
    assert record["optical_bands"] == ["B02", "B03", "B04", "B08"] and record["optical_nodata"] == 0


def test_standard_open_dataset_arguments_are_honoured(cube):
    store, src = cube
    masked = _open(store, mask_and_scale=True)
    assert masked.optical.dtype == np.float32 and "_FillValue" not in masked.optical.attrs
    assert masked.optical.encoding["_FillValue"] == 0
    plain = _open(store).optical.values
    np.testing.assert_array_equal(np.isnan(masked.optical.values), plain == 0)

    raw_time = _open(store, decode_times=False).time
    assert np.issubdtype(raw_time.dtype, np.integer) and "since" in raw_time.attrs["units"]
    assert np.issubdtype(_open(store).time.dtype, np.datetime64)

    no_coords = _open(store, decode_coords=False)
    assert "spatial_ref" in no_coords.data_vars and no_coords.optical.attrs["grid_mapping"] == "spatial_ref"

    only_sar = _open(store, drop_variables=["optical", "spatial_ref"])
    assert set(only_sar.data_vars) == {"sar"} and "spatial_ref" not in only_sar.variables
    assert "optical_band" not in only_sar.coords
    assert set(_open(store, drop_variables="sar").data_vars) == {"optical"}

    for consolidated in (False, None):
        assert _open(store, consolidated=consolidated).sizes["time"] == 2
    assert _open(store, zarr_format=3).sizes["y"] == 64
    with pytest.raises(geocodec.GeocodecError, match="Zarr v3 store, not v2"):
        _open(store, zarr_format=2)


def test_to_netcdf_of_an_opened_cube(cube, tmp_path):
    import xarray as xr

    store, _ = cube
    ds = _open(store, chunks={})
    path = tmp_path / "cube.nc"
    ds.to_netcdf(path)
    back = xr.open_dataset(path, decode_coords="all", mask_and_scale=False)
    np.testing.assert_array_equal(back.optical.values, ds.optical.values)
    np.testing.assert_array_equal(back.sar.values, ds.sar.values)
    assert json.loads(back.attrs["geocodec"]) == json.loads(ds.attrs["geocodec"])
    assert list(back.optical.attrs["long_name"]) == ["B02", "B03", "B04", "B08"]
    assert back.sar.attrs["units"] == "dB" and "spatial_ref" in back.coords
    assert back.rio.crs == ds.rio.crs


def test_rio_to_raster_writes_one_description_per_band(cube, tmp_path):
    import rasterio
    import rioxarray  # noqa: F401

    store, _ = cube
    ds = _open(store, chunks={})
    for which, names in (("sar", ("VV", "VH")), ("optical", ("B02", "B03", "B04", "B08"))):
        path = tmp_path / f"{which}.tif"
        ds[which].isel(time=0).rio.to_raster(path)
        with rasterio.open(path) as src:
            assert src.descriptions == names
            assert src.count == len(names) and src.crs == ds.rio.crs
            np.testing.assert_array_equal(src.read(), ds[which].isel(time=0).values)


def test_fsspec_urls_with_storage_options(cube):
    """A cube behind an fsspec URL opens like the zarr engine opens one (storage_options honoured)."""
    store, src = cube
    url = "memory://engine-conventions/cube.zarr"
    geocodec.to_zarr(src, url, lmbda=0.01, chunks=64, device="cpu", progress=False, optical_nodata=0)
    remote = _open(url, storage_options={"skip_instance_cache": False})
    local = _open(store)
    assert remote.sizes == local.sizes and remote.optical.attrs["long_name"] == local.optical.attrs["long_name"]
    np.testing.assert_allclose(remote.sar.values, local.sar.values, atol=1e-3)
    with pytest.raises(geocodec.GeocodecError):
        _open("memory://engine-conventions/nothing-here.zarr")
