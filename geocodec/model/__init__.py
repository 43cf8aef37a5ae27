"""The learned joint SAR–optical model: tensors in, tensors out (no bytes, no files)."""

from geocodec.model.config import ModelConfig
from geocodec.model.joint import JointCodecModel

__all__ = ["ModelConfig", "JointCodecModel"]
