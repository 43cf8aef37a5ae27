"""Band descriptions for the eo and raster extensions: which bands are what.

Sentinel-2 MSI bands get their eo common name, centre wavelength and FWHM (µm); SAR bands
are described by polarisation. The joint array's band axis is optical bands then SAR bands,
and both lists follow that order.
"""

from __future__ import annotations

import math

#: Sentinel-2 MSI band: (eo common_name, center_wavelength µm, full_width_half_max µm).
SENTINEL2_BANDS = {
    "B01": ("coastal", 0.443, 0.027),
    "B02": ("blue", 0.490, 0.098),
    "B03": ("green", 0.560, 0.045),
    "B04": ("red", 0.665, 0.038),
    "B05": ("rededge", 0.704, 0.019),
    "B06": ("rededge", 0.740, 0.018),
    "B07": ("rededge", 0.783, 0.028),
    "B08": ("nir", 0.842, 0.145),
    "B8A": ("nir08", 0.865, 0.033),
    "B09": ("nir09", 0.945, 0.026),
    "B10": ("cirrus", 1.375, 0.075),
    "B11": ("swir16", 1.610, 0.143),
    "B12": ("swir22", 2.190, 0.242),
}

POLARIZATIONS = ("HH", "VV", "HV", "VH")

#: Defaults of the sar extension for Sentinel-1 IW GRD, the data the shipped model is made for.
SENTINEL1_IW_GRD = {
    "sar:instrument_mode": "IW",
    "sar:frequency_band": "C",
    "sar:center_frequency": 5.405,
    "sar:product_type": "GRD",
}


def eo_bands(optical: list[str], sar: list[str], sar_scale: str) -> list[dict]:
    out = []
    for name in optical:
        b = {"name": name}
        if name in SENTINEL2_BANDS:
            common, center, fwhm = SENTINEL2_BANDS[name]
            b.update(common_name=common, center_wavelength=center, full_width_half_max=fwhm)
        b["description"] = f"optical band {name}"
        out.append(b)
    for name in sar:
        out.append({"name": name, "description": f"SAR backscatter sigma0, polarisation {name} "
                                                 f"({'dB' if sar_scale == 'db' else 'linear power'})"})
    return out


def _nodata(v):
    if v is None:
        return None
    v = float(v)
    return "nan" if math.isnan(v) else v


def raster_bands(attrs: dict, dtype: str, pixel_size: float | None) -> list[dict]:
    """``raster:bands`` of the joint array: storage dtype, nodata, unit, resolution."""
    out = []
    for which in ("optical", "sar"):
        nodata = _nodata(attrs.get(f"{which}_nodata"))
        for _ in attrs[f"{which}_bands"]:
            b: dict = {"data_type": dtype}
            if nodata is not None:
                b["nodata"] = nodata
            if which == "sar":
                b["unit"] = "dB" if attrs.get("sar_scale", "db") == "db" else "linear power"
            if pixel_size:
                b["spatial_resolution"] = pixel_size
            out.append(b)
    return out


def sar_polarizations(sar: list[str]) -> list[str]:
    """The SAR band names as sar:polarizations (they must be HH/VV/HV/VH)."""
    from geocodec.errors import InvalidInputError

    bad = [b for b in sar if b.upper() not in POLARIZATIONS]
    if bad:
        raise InvalidInputError(f"SAR bands {bad} are not polarisations ({', '.join(POLARIZATIONS)}); "
                                "pass sar={'sar:polarizations': [...]} to create_item")
    return [b.upper() for b in sar]
