"""Network blocks shared by the sgm models, and the image UNet.

timestep (sinusoidal embeddings), norm (GroupNorm / LayerNorm via sgm.kernels), attention (CrossAttention),
transformer (SpatialTransformer), resblock (ResBlock, TimestepEmbedSequential), sampling (Upsample, Downsample),
unet (UNetModel); for video: alpha_blender, video_resblock, video_transformer.
"""
