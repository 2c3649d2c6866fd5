"""Autoencoders as the reference's configs build them: encoder -> regularizer -> latent -> decoder.

These are plain `nn.Module`s; sgm-train's Lightning module trains them through `loss`, `get_autoencoder_params`,
`get_discriminator_params`, `get_last_layer` and `build_optimizers`.
"""

import logging
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from sgm.autoencoders.checkpoint import load_checkpoint_into
from sgm.autoencoders.tiling import apply_in_chunks, tiled_decode
from sgm.core.config import instantiate, resolve

logger = logging.getLogger(__name__)


class AbstractAutoencoder(nn.Module):
    """What every first stage has: `encode`, `decode`, the batch key of its input (`input_key`) and, for training,
    the EMA decay (`ema_decay`, kept by the trainer) and the metric to monitor."""

    def __init__(self, ema_decay: float | None = None, monitor: str | None = None, input_key: str = "jpg"):
        super().__init__()
        self.input_key = input_key
        self.ema_decay = ema_decay
        self.use_ema = ema_decay is not None
        self.monitor = monitor

    def apply_ckpt(self, ckpt: str | Mapping | None) -> None:
        """Load weights from a checkpoint path, or run a `{target, params}` checkpoint engine on this model."""
        if ckpt is None:
            return
        if isinstance(ckpt, str):
            load_checkpoint_into(self, ckpt)
        else:
            instantiate(ckpt, key_path="ckpt_engine")(self)

    def get_input(self, batch: Mapping) -> Any:
        return batch[self.input_key]

    def encode(self, *args, **kwargs) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement encode")

    def decode(self, *args, **kwargs) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement decode")


class AutoencodingEngine(AbstractAutoencoder):
    """Image autoencoders (KL, VQ, ...) with the regularization split out into `regularizer_config`."""

    def __init__(
        self,
        *,
        encoder_config: Mapping,
        decoder_config: Mapping,
        loss_config: Mapping | None,
        regularizer_config: Mapping,
        optimizer_config: Mapping | None = None,
        lr_g_factor: float = 1.0,
        trainable_ae_params: list[list[str]] | None = None,
        ae_optimizer_args: list[dict] | None = None,
        trainable_disc_params: list[list[str]] | None = None,
        disc_optimizer_args: list[dict] | None = None,
        disc_start_iter: int = 0,
        diff_boost_factor: float = 3.0,
        ckpt_engine: str | Mapping | None = None,
        ckpt_path: str | None = None,
        additional_decode_keys: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder: nn.Module = instantiate(encoder_config, key_path="encoder_config")
        self.decoder: nn.Module = instantiate(decoder_config, key_path="decoder_config")
        self.loss: nn.Module = instantiate(loss_config, key_path="loss_config") or nn.Identity()
        self.regularization: nn.Module = instantiate(regularizer_config, key_path="regularizer_config")
        self.optimizer_config = dict(optimizer_config or {"target": "torch.optim.Adam"})
        self.lr_g_factor = lr_g_factor
        self.diff_boost_factor = diff_boost_factor
        self.disc_start_iter = disc_start_iter
        self.trainable_ae_params = trainable_ae_params
        self.ae_optimizer_args = self._optimizer_args(trainable_ae_params, ae_optimizer_args, "ae")
        self.trainable_disc_params = trainable_disc_params
        self.disc_optimizer_args = self._optimizer_args(trainable_disc_params, disc_optimizer_args, "disc")
        if ckpt_path is not None and ckpt_engine is not None:
            raise ValueError("give either ckpt_path or ckpt_engine, not both")
        self.apply_ckpt(ckpt_path if ckpt_path is not None else ckpt_engine)
        self.additional_decode_keys = set(additional_decode_keys or [])

    @staticmethod
    def _optimizer_args(patterns: list | None, args: list[dict] | None, name: str) -> list[dict]:
        if patterns is None:
            return [{}]
        args = [{} for _ in patterns] if args is None else list(args)
        if len(args) != len(patterns):
            raise ValueError(
                f"{name}_optimizer_args has {len(args)} entries but trainable_{name}_params has {len(patterns)}"
            )
        return args

    @property
    def decoder_takes_timesteps(self) -> bool:
        """Whether `decode` needs `timesteps=` (frames per video) as the temporal decoder does."""
        return getattr(self.decoder, "takes_timesteps", False)

    def get_autoencoder_params(self) -> list[nn.Parameter]:
        params = []
        if hasattr(self.loss, "get_trainable_autoencoder_parameters"):
            params += list(self.loss.get_trainable_autoencoder_parameters())
        if hasattr(self.regularization, "get_trainable_parameters"):
            params += list(self.regularization.get_trainable_parameters())
        return params + list(self.encoder.parameters()) + list(self.decoder.parameters())

    def get_discriminator_params(self) -> list[nn.Parameter]:
        if hasattr(self.loss, "get_trainable_parameters"):
            return list(self.loss.get_trainable_parameters())
        return []

    def get_last_layer(self) -> torch.Tensor:
        return self.decoder.get_last_layer()

    def get_param_groups(
        self, parameter_names: list[list[str]], optimizer_args: list[dict]
    ) -> tuple[list[dict[str, Any]], int]:
        """Optimizer parameter groups from lists of regexes matched against parameter names, and their size."""
        groups, num_params = [], 0
        for patterns, args in zip(parameter_names, optimizer_args):
            params = []
            for pattern in patterns:
                matched = [p for name, p in self.named_parameters() if re.match(pattern, name)]
                if not matched:
                    logger.warning("no parameters match pattern %r", pattern)
                num_params += sum(p.numel() for p in matched)
                params.extend(matched)
            groups.append({"params": params, **args})
        return groups, num_params

    def build_optimizers(self, learning_rate: float) -> list[torch.optim.Optimizer]:
        """The autoencoder optimizer (lr * lr_g_factor) and, when the loss has a discriminator, its optimizer."""
        if self.trainable_ae_params is None:
            ae_params = self.get_autoencoder_params()
        else:
            ae_params, _ = self.get_param_groups(self.trainable_ae_params, self.ae_optimizer_args)
        if self.trainable_disc_params is None:
            disc_params = self.get_discriminator_params()
        else:
            disc_params, _ = self.get_param_groups(self.trainable_disc_params, self.disc_optimizer_args)
        optimizer_cls = resolve(self.optimizer_config["target"], key_path="optimizer_config.target")
        optimizer_args = dict(self.optimizer_config.get("params") or {})
        optimizers = [optimizer_cls(ae_params, lr=self.lr_g_factor * learning_rate, **optimizer_args)]
        if len(disc_params) > 0:
            optimizers.append(optimizer_cls(disc_params, lr=learning_rate, **optimizer_args))
        return optimizers

    def encode(
        self, x: torch.Tensor, return_reg_log: bool = False, unregularized: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """Image -> latent (and the regularizer's log with `return_reg_log`); `unregularized` skips the regularizer."""
        z = self.encoder(x)
        if unregularized:
            return z, {}
        z, reg_log = self.regularization(z)
        return (z, reg_log) if return_reg_log else z

    def decode(self, z: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.decoder(z, **kwargs)

    def decode_tiled(
        self,
        z: torch.Tensor,
        tile_size: int = 64,
        overlap: int | None = None,
        max_batch_size: int | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """`decode` in bounded memory: `max_batch_size` latents at a time, each in overlapping latent tiles blended
        linearly (overlap defaults to tile_size // 4; see `sgm.autoencoders.tiling`). A video decoder's chunks
        must hold whole videos (`timesteps=` frames each)."""
        return apply_in_chunks(
            lambda chunk: tiled_decode(lambda tile: self.decode(tile, **kwargs), chunk, tile_size, overlap),
            z,
            max_batch_size,
        )

    def forward(self, x: torch.Tensor, **additional_decode_kwargs) -> tuple[torch.Tensor, torch.Tensor, dict]:
        z, reg_log = self.encode(x, return_reg_log=True)
        return z, self.decode(z, **additional_decode_kwargs), reg_log

    @torch.no_grad()
    def log_images(self, batch: Mapping, **additional_decode_kwargs) -> dict[str, torch.Tensor]:
        """Inputs, reconstructions and their difference images in [-1, 1] (`diff_boost` brightens small errors)."""
        x = self.get_input(batch)
        decode_kwargs = {key: batch[key] for key in self.additional_decode_keys.intersection(batch)}
        decode_kwargs.update(additional_decode_kwargs)
        _, xrec, _ = self(x, **decode_kwargs)
        diff = (0.5 * torch.abs(torch.clamp(xrec, -1.0, 1.0) - x)).clamp(0.0, 1.0)
        log = {
            "inputs": x,
            "reconstructions": xrec,
            "diff": 2.0 * diff - 1.0,
            "diff_boost": 2.0 * torch.clamp(self.diff_boost_factor * diff, 0.0, 1.0) - 1.0,
        }
        if hasattr(self.loss, "log_images"):
            log.update(self.loss.log_images(x, xrec))
        return log


class AutoencodingEngineLegacy(AutoencodingEngine):
    """The LDM-style autoencoder from one `ddconfig`, with 1x1 `quant_conv` / `post_quant_conv` around the latent
    and optional batch chunking (`max_batch_size`)."""

    def __init__(self, embed_dim: int, **kwargs):
        self.max_batch_size = kwargs.pop("max_batch_size", None)
        ddconfig = kwargs.pop("ddconfig")
        ckpt_path = kwargs.pop("ckpt_path", None)
        ckpt_engine = kwargs.pop("ckpt_engine", None)
        super().__init__(
            encoder_config={"target": "sgm.autoencoders.model.Encoder", "params": ddconfig},
            decoder_config={"target": "sgm.autoencoders.model.Decoder", "params": ddconfig},
            **kwargs,
        )
        moments = 1 + int(ddconfig.get("double_z", True))
        self.quant_conv = nn.Conv2d(moments * ddconfig["z_channels"], moments * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)
        self.embed_dim = embed_dim
        if ckpt_path is not None and ckpt_engine is not None:
            raise ValueError("give either ckpt_path or ckpt_engine, not both")
        self.apply_ckpt(ckpt_path if ckpt_path is not None else ckpt_engine)

    def encode(
        self, x: torch.Tensor, return_reg_log: bool = False, unregularized: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict]:
        z = apply_in_chunks(lambda chunk: self.quant_conv(self.encoder(chunk)), x, self.max_batch_size)
        if unregularized:
            return z, {}
        z, reg_log = self.regularization(z)
        return (z, reg_log) if return_reg_log else z

    def decode(self, z: torch.Tensor, **decoder_kwargs) -> torch.Tensor:
        return apply_in_chunks(
            lambda chunk: self.decoder(self.post_quant_conv(chunk), **decoder_kwargs), z, self.max_batch_size
        )


def _rename_lossconfig(kwargs: dict) -> dict:
    if "lossconfig" in kwargs:
        kwargs["loss_config"] = kwargs.pop("lossconfig")
    kwargs.setdefault("loss_config", None)
    return kwargs


class AutoencoderKL(AutoencodingEngineLegacy):
    """The KL-regularized autoencoder of SD 2.1 / SDXL; encoding samples the posterior."""

    def __init__(self, **kwargs):
        super().__init__(
            regularizer_config={"target": "sgm.autoencoders.regularizers.gaussian.DiagonalGaussianRegularizer"},
            **_rename_lossconfig(kwargs),
        )


class AutoencoderKLModeOnly(AutoencodingEngineLegacy):
    """The KL autoencoder that encodes to the posterior mean (SVD's conditioning encoder)."""

    def __init__(self, **kwargs):
        super().__init__(
            regularizer_config={
                "target": "sgm.autoencoders.regularizers.gaussian.DiagonalGaussianRegularizer",
                "params": {"sample": False},
            },
            **_rename_lossconfig(kwargs),
        )


class AutoencoderLegacyVQ(AutoencodingEngineLegacy):
    """The LDM VQ autoencoder: a `VectorQuantizer` with `n_embed` codes of size `embed_dim`."""

    def __init__(self, embed_dim: int, n_embed: int, sane_index_shape: bool = False, **kwargs):
        super().__init__(
            embed_dim=embed_dim,
            regularizer_config={
                "target": "sgm.autoencoders.regularizers.quantize.VectorQuantizer",
                "params": {"n_e": n_embed, "e_dim": embed_dim, "sane_index_shape": sane_index_shape},
            },
            **_rename_lossconfig(kwargs),
        )


class IdentityFirstStage(AbstractAutoencoder):
    """No first stage: the diffusion model works on the data itself."""

    def get_input(self, x: Any) -> Any:
        return x

    def encode(self, x: Any, *args, **kwargs) -> Any:
        return x

    def decode(self, x: Any, *args, **kwargs) -> Any:
        return x
