"""The full-size SVD through the real loading path: a sparse file with the official layout (zeros, a few KB on
disk) loaded into the meta-built model, then sampled at 64x64, 2 frames, 1 step. Zero weights make the output
meaningless; this checks that the official layout loads strictly and every stage runs at full width."""

import pytest
import torch
from PIL import Image

from sgm.pipelines.catalog import expected_layout
from sgm.core.checkpoint import write_sparse_safetensors
from sgm.pipelines import load_pipeline


@pytest.mark.slow
def test_full_size_svd_loads_the_official_layout_and_samples(tmp_path):
    # bf16 on disk and for the network: the network's tensors are the file's (memory-mapped, no copy), ~9 GB peak
    path = write_sparse_safetensors(tmp_path / "svd.safetensors", expected_layout("svd"), "bfloat16")
    svd = load_pipeline("svd", ckpt=path, device="cpu", dtype="bf16")
    unet = svd.engine.model.diffusion_model
    assert unet.model_channels == 320 and next(unet.parameters()).dtype == torch.bfloat16
    parameters = sum(p.numel() for p in svd.engine.parameters())
    assert not any(p.is_meta for p in svd.engine.parameters()) and parameters > 2_000_000_000
    frames = svd.image_to_video(Image.new("RGB", (64, 64), "white"), num_frames=2, steps=1, height=64, width=64,
                                decoding_t=2)  # fmt: skip
    # a zero decoder decodes every latent to 0, the middle of [-1, 1]: mid-grey (255 * 0.5 truncated, as the
    # reference's script writes frames), so nothing was NaN or infinite
    assert len(frames) == 2 and all(frame.size == (64, 64) for frame in frames)
    assert all(frame.getextrema() == ((127, 127),) * 3 for frame in frames)
