"""sgm.conditioners: GeneralConditioner and its embedders (import the module you need; each pulls only its deps).

- `general`: `GeneralConditioner`, `AbstractEmbModel`
- `clip_text`: `FrozenCLIPEmbedder` (transformers CLIP ViT-L/14 text)
- `open_clip_text`: `FrozenOpenCLIPEmbedder`, `FrozenOpenCLIPEmbedder2` (open_clip ViT-H / ViT-bigG text)
- `open_clip_image`: `FrozenOpenCLIPImageEmbedder`, `FrozenOpenCLIPImagePredictionEmbedder`
- `video`: `VideoPredictionEmbedderWithEncoder`
- `simple`: `ConcatTimestepEmbedderND`, `ClassEmbedder`, `IdentityEncoder`, `SpatialRescaler`
- `tokenizer`: `ClipTokenizer`, CLIP's BPE from open_clip's bundled vocabulary (offline)
- `prompt_weights`: AUTOMATIC1111's emphasis syntax, `parse_prompt_attention`
- `prompt_chunks`: long and weighted prompts in 75-token chunks, `repeat_to_same_length(cond, uncond)`
"""
