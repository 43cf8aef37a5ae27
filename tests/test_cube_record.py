"""CubeRecord: the typed group record, v0.1 (format 1) records still read, clear errors."""

from __future__ import annotations

import math

import pytest

from geocodec.cube import Acquisition, CubeRecord, ModelRef
from geocodec.errors import InvalidInputError

V1 = {"format_version": 1, "model": {"name": "default", "version": "1.0.0", "sha256": "ab" * 32},
      "lmbda": 0.01, "target_bpp": None, "gamma": 0.5, "optical_bands": ["B02", "B03", "B04", "B08"],
      "sar_bands": ["VV", "VH"], "optical_dtype": "uint16", "sar_dtype": "float32", "sar_scale": "db",
      "optical_nodata": None, "sar_nodata": None, "array": "pair", "chunks": {"band": 6, "y": 64, "x": 64},
      "complete": True, "quality": {"bpp": 0.3, "psnr_optical": 30.0}, "software": {"geocodec": "0.1.0"}}


def test_format_1_record_reads_and_writes_back_unchanged():
    r = CubeRecord.from_attrs(V1)
    assert r.model == ModelRef("default", "1.0.0", "ab" * 32) and r.cube_id is None and r.n_optical == 4
    assert r.to_attrs() == V1  # a v0.1 record round-trips key for key


def test_format_2_round_trip_with_acquisitions_and_fingerprints():
    r = CubeRecord.from_attrs({**V1, "format_version": 2})
    r.cube_id, r.append_dim = "0" * 32, "time"
    r.acquisitions.append(Acquisition("2021-06-01", 0.01, None, 0.5, r.model, {"psnr_sar": math.inf}, True))
    r.fingerprints["c/0/0/0/0"] = "ff" * 16
    a = r.to_attrs()
    assert a["acquisitions"][0]["quality"] == {"psnr_sar": None}  # JSON has no inf
    back = CubeRecord.from_attrs(a)
    assert back.acquisitions[0].model == r.model and back.fingerprints == r.fingerprints
    assert back.to_attrs() == a


@pytest.mark.parametrize("attrs, match", [
    (None, "not a geocodec store"),
    ({k: v for k, v in V1.items() if k != "model"}, "lacks model"),
    ({**V1, "format_version": 9}, "record format 9"),
    ({**V1, "model": "default"}, "malformed"),
])
def test_bad_records_are_named(attrs, match):
    with pytest.raises(InvalidInputError, match=match):
        CubeRecord.from_attrs(attrs)
