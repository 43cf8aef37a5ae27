"""What makes a geocodec Zarr cube: the group record, chunk coding, the writer, the store, the
xarray engine (``engine``) and the latent cache (``cache``)."""
