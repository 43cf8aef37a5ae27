"""Shared fixtures. Tests that need the real data in ../shared/data skip cleanly without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

#: ``GEOCODEC_TEST_ASSUME_BF16=1 pytest`` runs the suite as on a CPU with bf16 units from a host
#: without them (``tests/assume_bf16/sitecustomize.py``): the defaults are ``"auto"``, so this is how
#: a host without AVX512-BF16/AMX checks what the bf16 defaults do. Fresh interpreters the tests
#: start inherit it through ``PYTHONPATH``.
ASSUME_BF16_DIR = Path(__file__).resolve().parent / "assume_bf16"

SHARED = Path(os.environ.get("GEOCODEC_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def _assume_bf16_units():
    if not os.environ.get("GEOCODEC_TEST_ASSUME_BF16"):
        yield
        return
    import importlib.util

    from geocodec import precision

    real = precision.cpu_bf16_units
    spec = importlib.util.spec_from_file_location("assume_bf16", ASSUME_BF16_DIR / "sitecustomize.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # applies the pretence here too
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ASSUME_BF16_DIR), *([old] if old else [])])
    yield
    precision.cpu_bf16_units = real
    if old is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "README.md").exists():
        pytest.skip(f"real data not available at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def model():
    import geocodec

    return geocodec.load_model("default", device="cpu")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def registered_name(sha256: str) -> str:
    """The registry name of the model with this sha256: fixtures pin the model that wrote them, and
    every shipped model stays registered (``default@<version>`` once replaced), so a release never
    turns them into skips."""
    from geocodec.registry import registry

    for name, e in registry().items():
        if e["sha256"] == sha256:
            return name
    pytest.fail(f"no registered model has sha256 {sha256[:12]}…: a release dropped a model these fixtures need")


def xfail_known_miss(request, model, misses: dict[str, str]) -> None:
    """A strict xfail of the running test when ``misses`` (sha256 → reason) names the model: a shipped
    model's documented shortfall stays asserted, and a model that starts to pass makes the test
    XPASS, which fails the run until its entry is removed."""
    reason = misses.get(model.sha256)
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def smooth_pair(rng, h=64, w=64, dtype=np.uint16):
    """Honest synthetic pair: spatially correlated fields in realistic ranges (not white noise)."""
    from scipy.ndimage import gaussian_filter

    base = gaussian_filter(rng.standard_normal((h, w)), 4)
    base = (base - base.min()) / (np.ptp(base) + 1e-9)
    opt = np.stack([500 + 3000 * base + 200 * k + 50 * gaussian_filter(rng.standard_normal((h, w)), 1)
                    for k in range(4)])
    sar = np.stack([-15 + 8 * base + rng.normal(0, 1.0, (h, w)), -22 + 6 * base + rng.normal(0, 1.0, (h, w))])
    return opt.astype(dtype), sar.astype(np.float32)
