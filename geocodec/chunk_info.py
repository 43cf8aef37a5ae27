"""``geocodec.inspect``: a chunk's header fields, read without torch (metadata must stay cheap).

This module must stay importable without torch: it needs only ``geocodec.bitstream``.
"""

from __future__ import annotations

from geocodec import bitstream


def inspect(data: bytes) -> dict:
    """Header fields of a chunk (verifies its CRC; decodes nothing, imports no torch).

    Parameters
    ----------
    data : bytes
        One geocodec chunk, as ``compress`` returns it.

    Returns
    -------
    dict
        Format version, model (name, version, sha256), λ, γ, target bpp, shape, dtypes, SAR scale,
        nodata values, masked sample counts, per-band scaling, byte counts and joint bpp.

    Raises
    ------
    CorruptStreamError
        When ``data`` is not a valid chunk (bad magic, truncated, CRC mismatch).
    """
    c = bitstream.unpack(data)
    total = len(data)
    return {
        "format_version": c.format_version,
        "model": {"name": c.model_name, "version": c.model_version, "sha256": c.model_sha256},
        "lmbda": c.lmbda,
        "gamma": c.gamma,
        "target_bpp": c.target_bpp,
        "height": c.height,
        "width": c.width,
        "optical_shape": (c.n_optical, c.height, c.width),
        "sar_shape": (c.n_sar, c.height, c.width),
        "optical_dtype": c.optical_dtype,
        "sar_dtype": c.sar_dtype,
        "sar_scale": "linear" if c.sar_linear else "db",
        "optical_nodata": c.optical_nodata,
        "sar_nodata": c.sar_nodata,
        "masked_samples": {k: int(v.sum()) for k, v in c.masks.items()},
        "scaling": {"lo": c.scaling[:, 0].tolist(), "hi": c.scaling[:, 1].tolist(),
                    "min": c.scaling[:, 2].tolist(), "max": c.scaling[:, 3].tolist()},
        "bytes": {"total": total, "z": len(c.z), "y": len(c.y), "header": total - len(c.z) - len(c.y)},
        "bpp": 8 * total / (2 * c.height * c.width),
    }
