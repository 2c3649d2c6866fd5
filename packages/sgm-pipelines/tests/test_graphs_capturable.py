"""What a CUDA graph cannot capture, checked on the CPU: a denoiser call (`engine.denoise`, what `GraphedDenoiser`
records) must neither wait for the device (a tensor's value read on the host, an output sized by values) nor copy
host data to it. Each tiny model runs one guided sampling step of its pipeline on the meta device (the memory
plan's stage probe), where a host tensor brought into the computation shows up as such."""

import functools

import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from sgm.pipelines import build_pipeline
from sgm.pipelines.planning import probe_activations
from sgm.pipelines.stage_probes import ProbeShape
from sgm.pipelines.testing import tiny_image_config
from sgm.video.testing import make_tiny_config

# Operations that read a value back to the host or size their output by the values.
SYNCING = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "repeat_interleave"}
MODELS = {
    "sdxl-base": (tiny_image_config, ProbeShape(64, 64)),
    "sd-2.1": (tiny_image_config, ProbeShape(64, 64)),
    "svd-xt": (make_tiny_config, ProbeShape(32, 16, frames=2, decoding_t=2)),
    "sv3d-p": (make_tiny_config, ProbeShape(16, 16, frames=2, decoding_t=2)),
    "sv4d2": (make_tiny_config, ProbeShape(16, 16, frames=3, encoding_t=2, decoding_t=2)),
}


class HostTraffic(TorchDispatchMode):
    """Records each operation that would wait for the device, or bring a host tensor onto the meta device."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.operations = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.operations += 1
        name = func.overloadpacket.__name__
        if name in SYNCING:
            self.found.append(f"{name} (waits for the device)")
        result = func(*args, **kwargs)
        inputs = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in pytree.tree_leaves(result) if isinstance(t, torch.Tensor)]
        if any(t.device.type == "cpu" and t.dim() > 0 for t in inputs) and any(t.is_meta for t in outputs):
            self.found.append(f"{name} (a host tensor onto the device)")
        return result


def _recorded(denoise, traffic: HostTraffic):
    @functools.wraps(denoise)
    def call(*args, **kwargs):
        with traffic:
            return denoise(*args, **kwargs)

    return call


@pytest.mark.parametrize("name", MODELS)
def test_a_denoiser_call_neither_syncs_nor_copies_from_the_host(name):
    make, shape = MODELS[name]
    pipeline = build_pipeline(make(name), name=name, device="meta")
    traffic = HostTraffic()
    engine = pipeline.engine
    engine.denoise = _recorded(engine.denoise, traffic)  # the probe's sampling step calls it as sampling does
    stages = probe_activations(pipeline, shape, target="cuda")
    assert "sampling step" in stages and traffic.operations > 100  # the whole network ran under the check
    assert traffic.found == []


def test_the_check_sees_a_host_copy_and_a_sync():
    traffic = HostTraffic()
    x = torch.ones(3, device="meta")
    with traffic:
        x + torch.arange(3.0).to("meta")
        with pytest.raises(RuntimeError):  # a meta tensor has no value to read; the check sees the attempt first
            x.sum().item()
    assert traffic.found == ["_to_copy (a host tensor onto the device)", "_local_scalar_dense (waits for the device)"]
