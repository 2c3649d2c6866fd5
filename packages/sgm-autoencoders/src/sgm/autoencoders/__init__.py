"""sgm.autoencoders: the first stages of the sgm models (KL / VQ autoencoders, the temporal video decoder) and
their training losses. Import the submodules: `engine`, `model`, `temporal`, `regularizers`, `losses`, `tiling`."""
