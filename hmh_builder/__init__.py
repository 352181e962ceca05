"""hmh_builder: turn a portrait matting dataset into the HMH (matting + harmonization) dataset."""

__version__ = "0.1.0"
