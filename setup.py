"""geocodec's optional C kernels: the integer loops of the exact entropy decoder (geocodec/model/_kernels.c).

Everything else about the package is in pyproject.toml. Without a C compiler the build skips the
kernels (``optional``) and geocodec runs the same integer arithmetic in torch, slower: the decoded
latents are identical either way (tests/test_native_kernels.py).
"""

import sys

from setuptools import Extension, setup

flags = [] if sys.platform == "win32" else ["-O3"]
setup(ext_modules=[Extension("geocodec.model._kernels", ["geocodec/model/_kernels.c"], optional=True,
                             extra_compile_args=flags)])
