"""The optional C kernels of the exact entropy decoder (``_kernels.c``), where the build made them.

They compute exactly the integers of the torch and compressai paths they replace (integer
arithmetic has no rounding to differ in), one pass each instead of many: the rescale after every
int8 product, the split into int8 digits, and rANS decoding over arrays instead of Python lists.
Where they were not built (no C compiler at install), or with ``GEOCODEC_NATIVE_KERNELS=0``,
geocodec runs the torch path: slower, the same latents (tests/test_native_kernels.py).
"""

from __future__ import annotations

import importlib
import os

try:  # by name: a compiled module imports nothing of geocodec's, so it is no edge of the import graph
    _kernels = importlib.import_module("geocodec.model._kernels")
except ImportError:  # built without a C compiler: setup.py marks the extension optional
    _kernels = None

#: Whether the kernels are used where present (tests switch it off to compare the two paths).
ENABLED = os.environ.get("GEOCODEC_NATIVE_KERNELS", "1") != "0"


def kernels():
    """The kernel module, or None where it is absent or switched off."""
    return _kernels if ENABLED else None


def status() -> str:
    """For ``geocodec info`` and benchmark records: which path the exact entropy decoder takes."""
    if _kernels is None:
        return "torch (C kernels not built)"
    return "C kernels" if ENABLED else "torch (C kernels switched off: GEOCODEC_NATIVE_KERNELS=0)"
