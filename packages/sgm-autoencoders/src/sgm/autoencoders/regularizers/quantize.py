"""Vector-quantized latents: nearest-code VQ (van den Oord et al. 2017), its EMA codebook variant, and Gumbel-softmax
quantization (Jang et al. 2017). Gradients pass the quantizer straight through (Bengio et al. 2013)."""

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from sgm.autoencoders.regularizers.base import AbstractRegularizer, measure_perplexity


class AbstractQuantizer(AbstractRegularizer):
    """Codebook index bookkeeping shared by the quantizers, including the optional remap to a subset of used codes
    (`remap`: a .npy file of used code indices; `unknown_index`: "random", "extra" or an int for unused codes)."""

    def _init_remap(self, remap: str | None, unknown_index: str | int, num_codes: int) -> None:
        self.remap = remap
        if remap is not None:
            self.register_buffer("used", torch.tensor(np.load(remap)))
            self.re_embed = self.used.shape[0]
        else:
            self.used = None
            self.re_embed = num_codes
        if unknown_index == "extra":
            self.unknown_index = self.re_embed
            self.re_embed += 1
        elif unknown_index == "random" or isinstance(unknown_index, int):
            self.unknown_index = unknown_index
        else:
            raise ValueError(f"unknown_index must be 'random', 'extra' or an int, got {unknown_index!r}")

    def remap_to_used(self, indices: torch.Tensor) -> torch.Tensor:
        """Full-codebook indices `[b, ...]` -> positions in `used`; codes not in `used` get `unknown_index`."""
        shape = indices.shape
        flat = indices.reshape(shape[0], -1)
        match = (flat[:, :, None] == self.used.to(flat)[None, None, :]).long()
        new = match.argmax(-1)
        unknown = match.sum(2) < 1
        if self.unknown_index == "random":
            new[unknown] = torch.randint(0, self.re_embed, size=new[unknown].shape).to(device=new.device)
        else:
            new[unknown] = self.unknown_index
        return new.reshape(shape)

    def unmap_to_all(self, indices: torch.Tensor) -> torch.Tensor:
        """Positions in `used` `[b, ...]` -> full-codebook indices (the extra token maps to code 0)."""
        shape = indices.shape
        flat = indices.reshape(shape[0], -1).clone()
        used = self.used.to(flat)
        if self.re_embed > used.shape[0]:
            flat[flat >= used.shape[0]] = 0
        return used[flat].reshape(shape)

    def get_trainable_parameters(self):
        yield from self.parameters()


class VectorQuantizer(AbstractQuantizer):
    """Nearest-neighbour codebook lookup with the VQ-VAE loss beta * ||z - sg[e]||^2 + ||sg[z] - e||^2.

    `z` is `[b, e_dim, h, w]` (or `[..., e_dim]` with fewer than 4 dims). The log holds the loss under
    `loss_key` and `min_encoding_indices`: flat `[b*h*w]`, or `[b, h, w]` (`[b, s]`) with `sane_index_shape`.
    """

    def __init__(
        self,
        n_e: int,
        e_dim: int,
        beta: float = 0.25,
        remap: str | None = None,
        unknown_index: str | int = "random",
        sane_index_shape: bool = False,
        log_perplexity: bool = False,
        embedding_weight_norm: bool = False,
        loss_key: str = "loss/vq",
    ):
        super().__init__()
        self.n_e, self.e_dim, self.beta, self.loss_key = n_e, e_dim, beta, loss_key
        if embedding_weight_norm:
            # the old weight_norm keeps the checkpoint names `embedding.weight_g` / `embedding.weight_v`
            self.embedding = torch.nn.utils.weight_norm(nn.Embedding(n_e, e_dim), dim=1)
        else:
            self.embedding = nn.Embedding(n_e, e_dim)
            self.embedding.weight.data.uniform_(-1.0 / n_e, 1.0 / n_e)
        self._init_remap(remap, unknown_index, n_e)
        self.sane_index_shape = sane_index_shape
        self.log_perplexity = log_perplexity

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        is_image = z.ndim == 4
        if z.ndim > 4:
            raise ValueError(f"VectorQuantizer takes [b, c, h, w] or lower-rank inputs, got shape {tuple(z.shape)}")
        z = rearrange(z, "b c h w -> b h w c").contiguous() if is_image else z.contiguous()
        z_flat = z.view(-1, self.e_dim)
        codebook = self.embedding.weight
        # ||z - e||^2 = ||z||^2 + ||e||^2 - 2 z.e
        distances = z_flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1) - 2 * z_flat @ codebook.t()
        indices = torch.argmin(distances, dim=1)
        z_q = self.embedding(indices).view(z.shape)

        log = {}
        if self.log_perplexity:
            perplexity, cluster_usage = measure_perplexity(indices.detach(), self.n_e)
            log.update({"perplexity": perplexity, "cluster_usage": cluster_usage})
        log[self.loss_key] = self.beta * torch.mean((z_q.detach() - z) ** 2) + torch.mean((z_q - z.detach()) ** 2)

        z_q = z + (z_q - z).detach()  # straight-through estimator
        if is_image:
            z_q = rearrange(z_q, "b h w c -> b c h w").contiguous()

        if self.remap is not None:
            indices = self.remap_to_used(indices.reshape(z.shape[0], -1)).reshape(-1)
        if self.sane_index_shape:
            indices = (
                indices.reshape(z_q.shape[0], z_q.shape[2], z_q.shape[3])
                if is_image
                else indices.reshape(z.shape[0], -1)
            )
        log["min_encoding_indices"] = indices
        return z_q, log

    def get_codebook_entry(self, indices: torch.Tensor, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """Code vectors for `indices`; with `shape = (b, h, w, c)` returned as `[b, c, h, w]`."""
        if self.remap is not None:
            if shape is None:
                raise ValueError("get_codebook_entry needs `shape` (b, h, w, c) when the codebook is remapped")
            indices = self.unmap_to_all(indices.reshape(shape[0], -1)).reshape(-1)
        z_q = self.embedding(indices)
        if shape is not None:
            z_q = z_q.view(shape).permute(0, 3, 1, 2).contiguous()
        return z_q


class EmbeddingEMA(nn.Module):
    """A codebook updated by moving averages of its assigned vectors (van den Oord et al. 2017, appendix A.1)."""

    def __init__(self, num_tokens: int, codebook_dim: int, decay: float = 0.99, eps: float = 1e-5):
        super().__init__()
        self.decay, self.eps = decay, eps
        weight = torch.randn(num_tokens, codebook_dim)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.cluster_size = nn.Parameter(torch.zeros(num_tokens), requires_grad=False)
        self.embed_avg = nn.Parameter(weight.clone(), requires_grad=False)
        self.update = True

    def forward(self, embed_id: torch.Tensor) -> torch.Tensor:
        return F.embedding(embed_id, self.weight)

    @torch.no_grad()
    def ema_update(self, counts: torch.Tensor, sums: torch.Tensor) -> None:
        """N_i <- d N_i + (1 - d) n_i,  m_i <- d m_i + (1 - d) sum_i,  e_i <- m_i / N_i (Laplace-smoothed N_i)."""
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.weight.shape[0] * self.eps) * n
        self.weight.copy_(self.embed_avg / smoothed.unsqueeze(1))


class EMAVectorQuantizer(AbstractQuantizer):
    """VQ with an EMA-updated codebook (updated in training mode); the loss is only the commitment term."""

    def __init__(
        self,
        n_embed: int,
        embedding_dim: int,
        beta: float,
        decay: float = 0.99,
        eps: float = 1e-5,
        remap: str | None = None,
        unknown_index: str | int = "random",
        loss_key: str = "loss/vq",
    ):
        super().__init__()
        self.codebook_dim, self.num_tokens, self.beta, self.loss_key = embedding_dim, n_embed, beta, loss_key
        self.embedding = EmbeddingEMA(n_embed, embedding_dim, decay, eps)
        self._init_remap(remap, unknown_index, n_embed)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        z = rearrange(z, "b c h w -> b h w c")
        z_flat = z.reshape(-1, self.codebook_dim)
        codebook = self.embedding.weight
        distances = z_flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1) - 2 * z_flat @ codebook.t()
        indices = torch.argmin(distances, dim=1)
        z_q = self.embedding(indices).view(z.shape)
        encodings = F.one_hot(indices, self.num_tokens).type(z.dtype)
        probs = encodings.mean(0)
        perplexity = torch.exp(-torch.sum(probs * torch.log(probs + 1e-10)))
        if self.training and self.embedding.update:
            self.embedding.ema_update(encodings.sum(0), encodings.t() @ z_flat.detach())

        loss = self.beta * F.mse_loss(z_q.detach(), z)
        z_q = rearrange(z + (z_q - z).detach(), "b h w c -> b c h w")  # straight-through estimator
        log = {self.loss_key: loss, "encodings": encodings, "encoding_indices": indices, "perplexity": perplexity}
        return z_q, log


class GumbelQuantizer(AbstractQuantizer):
    """Codes chosen by a (hard in eval) Gumbel-softmax over `proj(z)` logits, plus a KL-to-uniform loss."""

    def __init__(
        self,
        num_hiddens: int,
        embedding_dim: int,
        n_embed: int,
        straight_through: bool = True,
        kl_weight: float = 5e-4,
        temp_init: float = 1.0,
        remap: str | None = None,
        unknown_index: str | int = "random",
        loss_key: str = "loss/vq",
    ):
        super().__init__()
        self.loss_key, self.embedding_dim, self.n_embed = loss_key, embedding_dim, n_embed
        self.straight_through, self.temperature, self.kl_weight = straight_through, temp_init, kl_weight
        self.proj = nn.Conv2d(num_hiddens, n_embed, 1)
        self.embed = nn.Embedding(n_embed, embedding_dim)
        self._init_remap(remap, unknown_index, n_embed)

    def forward(
        self, z: torch.Tensor, temp: float | None = None, return_logits: bool = False
    ) -> tuple[torch.Tensor, dict]:
        hard = self.straight_through if self.training else True  # evaluation always quantizes
        temp = self.temperature if temp is None else temp
        logits = self.proj(z)
        if self.remap is not None:
            full = torch.zeros_like(logits)
            logits = logits[:, self.used, ...]
        one_hot = F.gumbel_softmax(logits, tau=temp, dim=1, hard=hard)
        if self.remap is not None:
            full[:, self.used, ...] = one_hot
            one_hot = full
        z_q = torch.einsum("bnhw,nd->bdhw", one_hot, self.embed.weight)

        # KL(q(y|x) || uniform) = sum q log(q * n)
        qy = F.softmax(logits, dim=1)
        log = {self.loss_key: self.kl_weight * torch.sum(qy * torch.log(qy * self.n_embed + 1e-10), dim=1).mean()}
        indices = one_hot.argmax(dim=1)
        log["indices"] = indices
        if return_logits:
            log["logits"] = logits
        return z_q, log

    def get_codebook_entry(self, indices: torch.Tensor, shape: tuple[int, int, int, int]) -> torch.Tensor:
        """Flat indices `[b*h*w]` and `shape = (b, h, w, c)` -> code vectors `[b, c, h, w]`."""
        b, h, w, _ = shape
        if b * h * w != indices.shape[0]:
            raise ValueError(f"{indices.shape[0]} indices do not fill shape {tuple(shape)}")
        indices = indices.reshape(b, h, w)
        if self.remap is not None:
            indices = self.unmap_to_all(indices)
        one_hot = F.one_hot(indices, num_classes=self.n_embed).permute(0, 3, 1, 2).to(self.embed.weight.dtype)
        return torch.einsum("bnhw,nd->bdhw", one_hot, self.embed.weight)
