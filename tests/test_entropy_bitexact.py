"""Bit-exactness of the coding path against chunks written before the entropy speed-ups.

``tests/data/prechange/`` holds chunks encoded by the unmodified v0.1 coding path (commit in its
manifest) with the shipped default model. Any change to entropy coding (CDF handling, scale→index,
threading, backends) must entropy-decode them to the same symbols (pinned by sha256: exact on every
machine) and re-encode their inputs to identical chunks. Their pixels are held to a reference
decode within the cross-machine tolerance (decode contract, docs/reliability.md): the convolution
kernels a CPU gets change the last bits of the synthesis, so pixel hashes hold on one host only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import registered_name, smooth_pair
from decode_contract import CROSS_HOST_MIN_PSNR, assert_agrees

FIXTURES = Path(__file__).parent / "data" / "prechange"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
CASES = sorted(MANIFEST["chunks"])


def _inputs(case: dict):
    opt, sar = smooth_pair(np.random.default_rng(case["seed"]), *case["shape"])
    if case["sar_nan_box"]:
        sar[:, 5:9, 10:20] = np.nan
    assert hashlib.sha256(opt.tobytes() + sar.tobytes()).hexdigest() == case["sha256_input"], \
        "synthetic input generator changed: the fixture inputs cannot be reproduced"
    return opt, sar


@pytest.fixture(scope="module")
def model():
    import geocodec

    # the model that wrote the fixtures
    return geocodec.load_model(registered_name(MANIFEST["model"]["sha256"]), device="cpu")


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURES / MANIFEST["reference_decode"]["file"]) as f:
        return dict(f)


@pytest.mark.parametrize("name", CASES)
def test_prechange_chunk_decodes_to_the_same_symbols(model, name, reference):
    from geocodec.codec import entropy_decode, synthesize

    case = MANIFEST["chunks"][name]
    data = (FIXTURES / f"{name}.geoc").read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["sha256_chunk"]
    latent = entropy_decode([data], device="cpu", keep_symbols=True)[0]
    assert latent.symbols.size == case["n_symbols"] and latent.symbols_sha256() == case["sha256_symbols"]
    opt, sar = synthesize([latent], backend="torch")[0]  # the fp32 reference across hosts
    assert (str(opt.dtype), str(sar.dtype)) == (case["optical_dtype"], case["sar_dtype"])
    assert_agrees(reference[f"{name}/optical"], opt, CROSS_HOST_MIN_PSNR, f"{name} optical")
    assert_agrees(reference[f"{name}/sar"], sar, CROSS_HOST_MIN_PSNR, f"{name} sar")


def _coded(data: bytes):
    """What the entropy coder wrote: both rANS substreams and the per-stage checks. Bitstream format 2
    (after these fixtures) changed the header and appended a payload check, not the coding."""
    from geocodec import bitstream

    c = bitstream.unpack(data)
    return c.z, c.y, list(c.checks[:8])


@pytest.fixture
def legacy_writer(monkeypatch):
    """Write bitstream format 2: these fixtures pin the float64 coder of formats 1–2, which
    format 3's integer entropy parameters replaced (format 3 is pinned in test_integer_entropy)."""
    monkeypatch.setattr("geocodec.coding.encode.WRITE_FORMAT", 2)


@pytest.mark.parametrize("name", CASES)
def test_prechange_input_reencodes_identically(model, name, legacy_writer):
    import geocodec

    case = MANIFEST["chunks"][name]
    opt, sar = _inputs(case)
    data = geocodec.compress(opt, sar, lmbda=case["lmbda"], gamma=case["gamma"], device="cpu", backend="torch",
                             model=model)
    assert _coded(data) == _coded((FIXTURES / f"{name}.geoc").read_bytes())


def test_prechange_batch_reencodes_identically(model, legacy_writer):
    """Items coded together in device batches (two sizes, two items each) give their reference chunks."""
    import geocodec

    names = [n for n in CASES if MANIFEST["chunks"][n]["lmbda"] == 0.01] * 2
    assert len({tuple(MANIFEST["chunks"][n]["shape"]) for n in names}) == 2
    cases = [MANIFEST["chunks"][n] for n in names]
    out = geocodec.compress_batch([_inputs(c) for c in cases], lmbda=0.01, gamma=[c["gamma"] for c in cases],
                                  device="cpu", backend="torch", model=model)
    for n, data in zip(names, out):
        assert _coded(data) == _coded((FIXTURES / f"{n}.geoc").read_bytes()), n
