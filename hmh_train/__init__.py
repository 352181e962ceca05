"""hmh_train: joint matting + harmonization GAN training, evaluation and inference on HMH shards."""

from hmh_builder import __version__

__all__ = ["__version__"]
