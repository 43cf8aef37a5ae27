"""The learned joint SAR–optical model: tensors in, tensors out (no bytes, no files)."""

import warnings

with warnings.catch_warnings():  # compressai imports torch_geometric, whose import-time torch.jit.script
    # warns in every process (each Dask worker): not the user's code, so only this import is quiet
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    import compressai  # noqa: F401

from geocodec.model.config import ModelConfig
from geocodec.model.joint import JointCodecModel

__all__ = ["ModelConfig", "JointCodecModel"]
