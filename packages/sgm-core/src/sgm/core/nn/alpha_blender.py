"""Blending of spatial and temporal branches in video blocks (Blattmann et al. 2023, "Align your Latents", eq. 3)."""

import torch
import torch.nn as nn

STRATEGIES = ("fixed", "learned", "learned_with_images")

# The two reshapes the reference uses, from the [batch, frames] mask to a broadcastable alpha.
_PATTERNS = {
    "b t -> (b t) 1 1": lambda a: a.reshape(-1, 1, 1),  # tokens [(B T), S, C]
    "b t -> b 1 t 1 1": lambda a: a[:, None, :, None, None],  # video [B, C, T, H, W]
}


class AlphaBlender(nn.Module):
    """`alpha * x_spatial + (1 - alpha) * x_temporal`.

    merge_strategy: "fixed" (alpha = `alpha`, a buffer), "learned" (alpha = sigmoid of a parameter) or
    "learned_with_images" (as "learned", but 1, i.e. spatial only, on frames where `image_only_indicator` is set).
    rearrange_pattern: how the `[B, T]` alpha of "learned_with_images" is shaped to broadcast:
    "b t -> (b t) 1 1" for token tensors or "b t -> b 1 t 1 1" for 5-D video tensors.
    """

    strategies = list(STRATEGIES)

    def __init__(
        self,
        alpha: float,
        merge_strategy: str = "learned_with_images",
        rearrange_pattern: str = "b t -> (b t) 1 1",
    ):
        super().__init__()
        if merge_strategy not in STRATEGIES:
            raise ValueError(f"AlphaBlender: merge_strategy must be one of {STRATEGIES}, got {merge_strategy!r}")
        if rearrange_pattern not in _PATTERNS:
            raise ValueError(
                f"AlphaBlender: rearrange_pattern must be one of {list(_PATTERNS)}, got {rearrange_pattern!r}"
            )
        self.merge_strategy = merge_strategy
        self.rearrange_pattern = rearrange_pattern
        mix_factor = torch.tensor([float(alpha)])
        if merge_strategy == "fixed":
            self.register_buffer("mix_factor", mix_factor)
        else:
            self.mix_factor = nn.Parameter(mix_factor)

    def get_alpha(self, image_only_indicator: torch.Tensor | None) -> torch.Tensor:
        if self.merge_strategy == "fixed":
            return self.mix_factor
        alpha = torch.sigmoid(self.mix_factor)
        if self.merge_strategy == "learned":
            return alpha
        if image_only_indicator is None:
            raise ValueError("AlphaBlender: merge_strategy 'learned_with_images' needs image_only_indicator [B, T]")
        alpha = torch.where(image_only_indicator.bool(), torch.ones_like(alpha), alpha)
        return _PATTERNS[self.rearrange_pattern](alpha)

    def forward(
        self,
        x_spatial: torch.Tensor,
        x_temporal: torch.Tensor,
        image_only_indicator: torch.Tensor | None = None,
    ) -> torch.Tensor:
        alpha = self.get_alpha(image_only_indicator).to(x_spatial.dtype)
        return alpha * x_spatial + (1.0 - alpha) * x_temporal
