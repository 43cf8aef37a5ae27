"""Run Python as on a CPU with bf16 units, from a host without them (``GEOCODEC_TEST_ASSUME_BF16=1``).

``tests/conftest.py`` applies ``pretend`` to the test process and puts this folder on
``PYTHONPATH``, so fresh interpreters the tests start (subprocesses, Dask process workers) do the
same at start-up: every ``backend="auto"`` / ``precision="auto"`` then resolves to bf16 (emulated by
oneDNN: slower, numerically bf16). ``ONEDNN_MAX_CPU_ISA`` is honoured as on a real bf16 CPU.
"""

import os

ENV = "GEOCODEC_TEST_ASSUME_BF16"


def pretend() -> None:
    from geocodec import precision

    def cpu_bf16_units() -> str | None:  # as on a Zen 4 (AVX512-BF16, no AMX)
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
        return None if cap and cap not in precision._BF16_ISAS else "avx512_bf16"

    precision.cpu_bf16_units = cpu_bf16_units


if os.environ.get(ENV):
    try:
        pretend()
    except ImportError:  # an interpreter without geocodec on its path
        pass
