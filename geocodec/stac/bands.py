"""Band descriptions for STAC: which bands are what, as pystac's eo / raster / sar objects.

Sentinel-2 MSI bands get their eo common name, centre wavelength and FWHM (µm) in ``eo:bands``
(optical only); every band, optical then SAR as on the joint array's band axis, is in the STAC
1.1 core ``bands`` and in ``raster:bands``; SAR bands are described by polarisation.
"""

from __future__ import annotations

import math

from pystac.extensions.eo import Band
from pystac.extensions.raster import DataType, RasterBand
from pystac.extensions.sar import FrequencyBand, Polarization

from geocodec.cube.optical_scale import DEFAULT as DEFAULT_SCALE, STAC_UNITS

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

#: Defaults of the sar extension for Sentinel-1 IW GRD, the data the shipped model is made for
#: (keyword arguments of pystac's ``SarExtension.apply``).
SENTINEL1_IW_GRD = {
    "instrument_mode": "IW",
    "frequency_band": FrequencyBand.C,
    "center_frequency": 5.405,
    "product_type": "GRD",
}


def _nodata(v):
    if v is None:
        return None
    v = float(v)
    return "nan" if math.isnan(v) else v


def eo_bands(optical: list[str]) -> list[Band]:
    """``eo:bands`` of the optical bands only: SAR bands have no wavelength and are not eo bands."""
    out = []
    for name in optical:
        common, center, fwhm = SENTINEL2_BANDS.get(name, (None, None, None))
        out.append(Band.create(name=name, common_name=common, center_wavelength=center, full_width_half_max=fwhm,
                               description=f"Sentinel-2 band {name}"))
    return out


def _units(record: dict, which: str) -> str:
    if which == "sar":
        return "dB" if record.get("sar_scale", "db") == "db" else "linear power"
    return STAC_UNITS[record.get("optical_scale") or DEFAULT_SCALE]


def raster_bands(record: dict, pixel_size: float | None) -> list[RasterBand]:
    """``raster:bands``, one per band of the joint array, with the data type the geocodec engine
    returns for it (the record's ``optical_dtype`` / ``sar_dtype``), nodata, unit and resolution."""
    out = []
    for which in ("optical", "sar"):
        for _ in record[f"{which}_bands"]:
            out.append(RasterBand.create(data_type=DataType(record[f"{which}_dtype"]),
                                         nodata=_nodata(record.get(f"{which}_nodata")), unit=_units(record, which),
                                         spatial_resolution=pixel_size))
    return out


def common_bands(record: dict) -> list[dict]:
    """STAC 1.1 core ``bands`` of the asset: every band of the joint array, optical then SAR."""
    out = []
    for which in ("optical", "sar"):
        for name in record[f"{which}_bands"]:
            b = {"name": str(name), "data_type": str(record[f"{which}_dtype"]), "unit": _units(record, which),
                 "description": (f"Sentinel-2 band {name}" if which == "optical"
                                 else f"Sentinel-1 backscatter sigma0, polarisation {name}")}
            nodata = _nodata(record.get(f"{which}_nodata"))
            if nodata is not None:
                b["nodata"] = nodata
            out.append(b)
    return out


def sar_polarizations(sar: list[str]) -> list[Polarization]:
    """The SAR band names as sar:polarizations (they must be HH/VV/HV/VH)."""
    from geocodec.errors import InvalidInputError

    bad = [b for b in sar if b.upper() not in POLARIZATIONS]
    if bad:
        raise InvalidInputError(f"SAR bands {bad} are not polarisations ({', '.join(POLARIZATIONS)}); "
                                "pass sar={'polarizations': [...]} to create_item")
    return [Polarization(b.upper()) for b in sar]
