"""LPIPS, the learned perceptual image distance (Zhang et al. 2018), on VGG16 features (Simonyan & Zisserman 2015).

Pretrained weights are read from local files, never downloaded:
- the LPIPS linear layers (`lin0..lin4`): `vgg.pth` of LPIPS v0.1, from `SGM_LPIPS_WEIGHTS` or `weights_path`;
- the VGG16 ImageNet features: torchvision's `vgg16-397923af.pth`, from `SGM_VGG16_WEIGHTS`, `vgg_weights_path` or
  torch's hub cache; not needed when the LPIPS file already holds the `net.*` keys.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

LPIPS_WEIGHTS_ENV = "SGM_LPIPS_WEIGHTS"
VGG16_WEIGHTS_ENV = "SGM_VGG16_WEIGHTS"
LPIPS_WEIGHTS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"
VGG16_WEIGHTS_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"

# torchvision's VGG16 `features`: conv widths, "M" for 2x2 max-pooling
_VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# indices into `features` where the relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 slices end
_SLICE_ENDS = (4, 9, 16, 23, 30)
_CHANNELS = (64, 128, 256, 512, 512)


class VGG16Features(nn.Module):
    """VGG16's conv stack cut into five slices (`slice1..slice5`) that keep torchvision's layer indices as names."""

    def __init__(self):
        super().__init__()
        layers, in_channels = [], 3
        for spec in _VGG16_LAYERS:
            if spec == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, spec, kernel_size=3, padding=1), nn.ReLU()]
                in_channels = spec
        start = 0
        for number, end in enumerate(_SLICE_ENDS, start=1):
            stage = nn.Sequential()
            for index in range(start, end):
                stage.add_module(str(index), layers[index])
            self.add_module(f"slice{number}", stage)
            start = end

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for number in range(1, len(_SLICE_ENDS) + 1):
            x = getattr(self, f"slice{number}")(x)
            features.append(x)
        return features

    def load_torchvision_features(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load torchvision's `vgg16` weights (`features.N.weight` / `.bias`)."""
        starts = (0, *_SLICE_ENDS[:-1])
        slice_of = {i: n for n, (a, b) in enumerate(zip(starts, _SLICE_ENDS), start=1) for i in range(a, b)}
        renamed = {}
        for key, value in state_dict.items():
            if key.startswith("features."):
                _, index, name = key.split(".")
                if int(index) < _SLICE_ENDS[-1]:
                    renamed[f"slice{slice_of[int(index)]}.{index}.{name}"] = value
        self.load_state_dict(renamed, strict=True)


class ScalingLayer(nn.Module):
    """Maps [-1, 1] images to the statistics the LPIPS VGG layers were calibrated with."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)


class NetLinLayer(nn.Module):
    """A 1x1 conv to one channel (after dropout): the learned per-channel weights of one feature level."""

    def __init__(self, chn_in: int, chn_out: int = 1, use_dropout: bool = False):
        super().__init__()
        layers = [nn.Dropout()] if use_dropout else []
        layers.append(nn.Conv2d(chn_in, chn_out, 1, stride=1, padding=0, bias=False))
        self.model = nn.Sequential(*layers)


def normalize_tensor(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Unit-normalize along channels."""
    return x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + eps)


def _weights_file(explicit: str | Path | None, env_var: str) -> Path | None:
    value = explicit if explicit is not None else os.environ.get(env_var)
    return Path(value) if value else None


def _read(path: Path, what: str, url: str, env_var: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} not found at {str(path)!r}: download {url} and point {env_var} (or the path argument) at it, "
            "or build LPIPS with pretrained=False for random weights"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


class LPIPS(nn.Module):
    """d(x, y) = sum_l mean_hw || w_l * (phi_l(x) - phi_l(y)) ||^2 over unit-normalized VGG16 features phi_l.

    Inputs are images in [-1, 1]; returns `[b, 1, 1, 1]`. `pretrained=False` keeps random weights (for tests).
    All parameters are frozen.
    """

    def __init__(
        self,
        use_dropout: bool = True,
        pretrained: bool = True,
        weights_path: str | Path | None = None,
        vgg_weights_path: str | Path | None = None,
    ):
        super().__init__()
        self.scaling_layer = ScalingLayer()
        self.chns = list(_CHANNELS)
        self.net = VGG16Features()
        self.lin0, self.lin1, self.lin2, self.lin3, self.lin4 = (
            NetLinLayer(channels, use_dropout=use_dropout) for channels in _CHANNELS
        )
        if pretrained:
            self.load_pretrained(weights_path, vgg_weights_path)
        else:
            for lin in (self.lin0, self.lin1, self.lin2, self.lin3, self.lin4):
                lin.model[-1].weight.data.abs_()  # non-negative, as trained LPIPS weights are: a distance >= 0
        self.requires_grad_(False)

    def load_pretrained(
        self, weights_path: str | Path | None = None, vgg_weights_path: str | Path | None = None
    ) -> None:
        """Load the LPIPS linear layers and (unless that file has them) the VGG16 ImageNet features."""
        lpips_file = _weights_file(weights_path, LPIPS_WEIGHTS_ENV)
        if lpips_file is None:
            raise FileNotFoundError(
                f"LPIPS needs its weights file vgg.pth (LPIPS v0.1): download {LPIPS_WEIGHTS_URL} and set "
                f"{LPIPS_WEIGHTS_ENV} to its path (or pass weights_path), or use pretrained=False for random weights"
            )
        state = _read(lpips_file, "LPIPS weights (vgg.pth)", LPIPS_WEIGHTS_URL, LPIPS_WEIGHTS_ENV)
        lins = {key: value for key, value in state.items() if key.startswith("lin")}
        missing = [key for key in self.state_dict() if key.startswith("lin") and key not in lins]
        if missing:
            raise ValueError(f"{lpips_file} is not an LPIPS VGG weights file: it lacks {missing}")
        self.load_state_dict(lins, strict=False)

        net = {key[len("net.") :]: value for key, value in state.items() if key.startswith("net.")}
        if net:
            self.net.load_state_dict(net, strict=True)
            return
        vgg_file = _weights_file(vgg_weights_path, VGG16_WEIGHTS_ENV)
        if vgg_file is None:
            vgg_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG16_WEIGHTS_URL).name
        self.net.load_torchvision_features(_read(vgg_file, "VGG16 weights", VGG16_WEIGHTS_URL, VGG16_WEIGHTS_ENV))

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        features_in = self.net(self.scaling_layer(input))
        features_target = self.net(self.scaling_layer(target))
        lins: Sequence[NetLinLayer] = (self.lin0, self.lin1, self.lin2, self.lin3, self.lin4)
        total = 0.0
        for lin, a, b in zip(lins, features_in, features_target):
            diff = (normalize_tensor(a) - normalize_tensor(b)) ** 2
            total = total + lin.model(diff).mean(dim=(2, 3), keepdim=True)
        return total
