"""Training data. Every dataset yields dicts: `jpg` is a `[C, H, W]` float image in [-1, 1], plus conditioning
such as `txt` (a caption) or `cls` (an int label), and for SDXL-style models `original_size_as_tuple`,
`crop_coords_top_left` and `target_size_as_tuple`. Data modules are Lightning `LightningDataModule`s."""

from sgm.train.data.datamodule import DictDataModule

__all__ = ["DictDataModule"]
