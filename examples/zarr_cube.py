"""Write a compressed Zarr cube from GeoTIFFs with Dask, then read it lazily per modality.

    .venv/bin/python examples/zarr_cube.py OUT.zarr
"""

import sys

import xarray as xr

import geocodec
from geocodec.sample import sample_pairs

store = sys.argv[1] if len(sys.argv) > 1 else "example-cube.zarr"
name, s2_dir, s1_dir = sample_pairs()[0]
ds = geocodec.open_pair(s2_dir, s1_dir)  # lazy, georeferenced
geocodec.to_zarr(ds, store, lmbda=0.02, gamma=0.5, chunks=64, overwrite=True)

cube = xr.open_dataset(store, engine="geocodec", chunks={})
print(cube)
print("mean VV backscatter (dB):", float(cube.sar.sel(sar_band="VV").mean().compute()))
print("CRS:", cube.rio.crs)
