"""Network blocks shared by the sgm models (attention, norms, ResBlocks, transformers) and the image UNet."""
