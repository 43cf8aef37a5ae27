"""Training: data sources and crops, the rate–distortion loss, staged recipes, the loop.

Research-side code: the product (codec, cube, STAC) never imports it.
"""

from geocodec.training.data import PairSet, load_training_data
from geocodec.training.loop import TrainConfig, train
from geocodec.training.loss import DISTORTION_SCALE, rd_loss
from geocodec.training.presets import preset

__all__ = ["DISTORTION_SCALE", "PairSet", "TrainConfig", "load_training_data", "preset", "rd_loss", "train"]
