"""Tar-shard datasets (webdataset) configured the way the reference's `sgm.data.dataset` configs are:

    datapipeline: {urls, pipeline_config: {shardshuffle, sample_shuffle, resample, ...}, decoders, postprocessors}
    loader: {batch_size, num_workers}

`urls` are local paths (files, folders of .tar, brace patterns like `shard-{000..009}.tar`) or http(s) URLs;
`pipe:` commands run a shell, so they are refused unless the caller opts in with `pipe_urls_allowed()` (the
training command's `--allow-pipe`; a config alone cannot). Members are decoded by `member_decoders` (never
unpickled). Shards are split across nodes and workers; with `resample` each worker draws shards with replacement
forever (use the trainer's max_steps). A stream that yields no batch is an error naming its URLs.
"""

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import lightning.pytorch as pl
import torch
import webdataset as wds
from PIL import Image

from sgm.core.config import ConfigError, instantiate
from sgm.core.errors import SgmError
from sgm.train.data.datamodule import check_loader_args
from sgm.train.data.member_decoders import sample_decoder

logger = logging.getLogger(__name__)

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")
PIPELINE_KEYS = {"shardshuffle", "sample_shuffle", "resample", "handler", "seed", "epoch_length"}
DATAPIPELINE_KEYS = {"urls", "pipeline_config", "decoders", "postprocessors"}
LOADER_KEYS = {"batch_size", "num_workers", "partial", "prefetch_factor"}

_pipe_urls_allowed: ContextVar[bool] = ContextVar("sgm_train_pipe_urls_allowed", default=False)


@contextlib.contextmanager
def pipe_urls_allowed(allowed: bool = True) -> Iterator[None]:
    """Within this block, `pipe:` shard URLs (shell commands) may be opened; outside it they are refused."""
    token = _pipe_urls_allowed.set(allowed)
    try:
        yield
    finally:
        _pipe_urls_allowed.reset(token)


def check_pipe_urls(urls: Sequence[str]) -> None:
    """Refuse `pipe:` URLs unless `pipe_urls_allowed()`: webdataset runs them through a shell."""
    if _pipe_urls_allowed.get():
        return
    for url in urls:
        if urlparse(str(url)).scheme == "pipe":
            raise SgmError(
                f"datapipeline.urls: {url!r} is a shell command, which a config may not run; if you trust it, "
                "add --allow-pipe to the training command"
            )


def _describe(exn: Exception) -> str:
    """webdataset's DecodingError has no message of its own: name the shard, sample, member and cause."""
    if isinstance(exn, wds.autodecode.DecodingError):
        return f"{exn.url}: sample {exn.key!r}, member {exn.k!r}: {exn.__cause__}"
    return f"{type(exn).__name__}: {exn}"


def _skip_sample(exn: Exception) -> bool:
    logger.warning("skipped a sample: %s", _describe(exn))
    return True


def _stop_on_sample(exn: Exception) -> bool:
    raise SgmError(f"unreadable sample: {_describe(exn)}") from exn


def _ignore_sample(exn: Exception) -> bool:
    return True


HANDLERS = {"warn": _skip_sample, "raise": _stop_on_sample, "ignore": _ignore_sample}


def _is_local(item: str) -> bool:
    return "://" not in item and urlparse(item).scheme != "pipe"


def expand_urls(urls: str | Sequence[str]) -> list[str]:
    """Shard URLs: brace patterns expanded, folders replaced by their `.tar` files (sorted, absolute, so that no
    file name reads as a URL scheme); `pipe:` URLs only inside `pipe_urls_allowed()`."""
    if isinstance(urls, str):
        urls = [urls]
    expanded: list[str] = []
    for url in urls:
        for item in wds.shardlists.expand_urls(str(url)):
            path = Path(item)
            if _is_local(item) and path.is_dir():
                shards = sorted(str(p.absolute()) for p in path.glob("*.tar"))
                if not shards:
                    raise FileNotFoundError(f"no .tar shards in folder {path}")
                expanded.extend(shards)
            elif _is_local(item) and not path.is_file():
                raise FileNotFoundError(f"shard not found: {item} (datapipeline.urls)")
            else:
                expanded.append(item)
    if not expanded:
        raise ValueError("datapipeline.urls is empty: give at least one shard path or URL")
    check_pipe_urls(expanded)
    return expanded


def image_as_jpg(sample: dict) -> dict:
    """Samples store their image under its file extension; the models read `jpg`."""
    if "jpg" not in sample:
        for key in IMAGE_KEYS[1:]:
            if key in sample:
                sample["jpg"] = sample.pop(key)
                break
    return sample


def collate_samples(samples: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A batch dict: tensors stacked, numbers as tensors, everything else (captions, metadata) as lists."""
    batch: dict[str, Any] = {}
    for key in samples[0]:
        values = [sample[key] for sample in samples]
        if isinstance(values[0], Image.Image):
            raise TypeError(
                f"batch entry {key!r} is still a PIL image: add a sdata.mappers.TorchVisionImageTransforms with "
                "torchvision.transforms.ToTensor (and a sdata.mappers.Rescaler) to datapipeline.postprocessors"
            )
        if isinstance(values[0], torch.Tensor):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)) and not isinstance(values[0], bool):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch


def _urls_text(urls: str | Sequence[str]) -> str:
    urls = [urls] if isinstance(urls, str) else list(urls)
    return urls[0] if len(urls) == 1 else f"{urls[0]} and {len(urls) - 1} more"


def _check_keys(config: Mapping, known: set[str], key_path: str) -> None:
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"{key_path}: unknown key(s) {unknown}; known: {sorted(known)}")


def _first_sample(shards: list[str], handler: Any, processing: list[Any]) -> dict | None:
    """One pass over the shards, in order, up to the first sample that survives decoding and postprocessing."""
    probe = wds.DataPipeline(wds.SimpleShardList(shards), wds.tarfile_to_samples(handler=handler), *processing)
    return next(iter(probe), None)


def create_dataset(
    urls: str | Sequence[str],
    pipeline_config: Mapping | None = None,
    decoders: Sequence[str] | str = ("pil",),
    postprocessors: Sequence[Mapping] | None = None,
    dummy: bool = False,
) -> wds.DataPipeline:
    """The sample stream: shards -> samples -> shuffle -> decode -> `jpg` key -> postprocessors (in order).

    A resampled stream never ends, so before it is used one pass checks that some sample gets through: otherwise
    training would wait forever for a first batch."""
    config = dict(pipeline_config or {})
    _check_keys(config, PIPELINE_KEYS, "pipeline_config")
    handler_name = config.get("handler", "warn")
    if handler_name not in HANDLERS:
        raise ValueError(f"pipeline_config.handler must be one of {sorted(HANDLERS)}, got {handler_name!r}")
    handler = HANDLERS[handler_name]
    seed = config.get("seed", 0)
    shards = expand_urls(urls)
    decoders = [decoders] if isinstance(decoders, str) else list(decoders)
    processing = [wds.map(sample_decoder(decoders), handler=handler), wds.map(image_as_jpg)]
    for i, block in enumerate(postprocessors or []):
        processing.append(wds.map(instantiate(block, key_path=f"datapipeline.postprocessors[{i}]"), handler=handler))
    if config.get("resample", False):
        if _first_sample(shards, handler, processing) is None:
            raise SgmError(
                f"datapipeline.urls: no sample of {_urls_text(urls)} could be read, decoded and postprocessed "
                "(see the warnings above): check the shards and the decoders"
            )
        stages: list[Any] = [wds.ResampledShards(shards)]
    else:
        stages = [wds.SimpleShardList(shards)]
        if config.get("shardshuffle"):
            stages.append(wds.detshuffle(int(config["shardshuffle"]), seed=seed))
        stages += [wds.split_by_node, wds.split_by_worker]
    stages.append(wds.tarfile_to_samples(handler=handler))
    if config.get("sample_shuffle"):
        stages.append(wds.shuffle(int(config["sample_shuffle"])))
    stages += processing
    if dummy:
        stages.append(_repeat_first)
    pipeline = wds.DataPipeline(*stages)
    if config.get("epoch_length"):
        pipeline = pipeline.with_epoch(int(config["epoch_length"]))
    return pipeline


def _repeat_first(samples: Iterable[dict]) -> Iterator[dict]:
    """Debugging aid: the first sample, forever (data loading then costs nothing); nothing if there is none."""
    for first in samples:
        while True:
            yield dict(first)


class BatchCheckedLoader(wds.WebLoader):
    """A WebLoader whose every pass must yield a batch: Lightning would otherwise run empty epochs forever.

    source: what the error names (the config key and the URLs)."""

    def __init__(self, *args: Any, source: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.source = source

    def __iter__(self) -> Iterator[Any]:
        empty = True
        for batch in super().__iter__():
            empty = False
            yield batch
        if empty:
            raise SgmError(
                f"{self.source} yielded no batch: its shards hold no sample, none decoded (see the warnings above), "
                "or there are fewer samples than batch_size (loader.partial: true keeps a short batch)"
            )


def create_loader(
    datapipeline: wds.DataPipeline,
    batch_size: int,
    num_workers: int = 0,
    partial: bool = False,
    prefetch_factor: int = 2,
    *,
    source: str = "the data stream",
) -> BatchCheckedLoader:
    """Batches are built in the workers (`partial`: keep a last short batch) and passed through whole."""
    check_loader_args(batch_size, num_workers)
    batched = datapipeline.compose(wds.batched(batch_size, collation_fn=collate_samples, partial=partial))
    return BatchCheckedLoader(
        batched,
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
        source=source,
    )


def _check_split(config: Mapping | None, name: str) -> None:
    if config is None:
        return
    if not ("datapipeline" in config and "loader" in config):
        raise ValueError(f"data.params.{name} needs the fields `datapipeline` and `loader`")
    _check_keys(config["datapipeline"], DATAPIPELINE_KEYS, f"data.params.{name}.datapipeline")
    _check_keys(config["loader"], LOADER_KEYS, f"data.params.{name}.loader")
    urls = config["datapipeline"].get("urls") or []
    check_pipe_urls([urls] if isinstance(urls, str) else urls)


class StableDataModuleFromConfig(pl.LightningDataModule):
    """Train / validation / test shard pipelines; validation reuses the training one unless given or skipped."""

    def __init__(
        self,
        train: Mapping,
        validation: Mapping | None = None,
        test: Mapping | None = None,
        skip_val_loader: bool = False,
        dummy: bool = False,
    ):
        super().__init__()
        _check_split(train, "train")
        _check_split(validation, "validation")
        _check_split(test, "test")
        self.train_config = train
        self.val_config = None if skip_val_loader else (validation if validation is not None else train)
        self.test_config = test
        self.dummy = dummy
        if dummy:
            logger.warning("dummy data: every batch repeats the first sample")

    def _pipeline(self, config: Mapping | None) -> wds.DataPipeline | None:
        return None if config is None else create_dataset(**dict(config["datapipeline"]), dummy=self.dummy)

    def _loader(self, pipeline: wds.DataPipeline | None, config: Mapping, split: str) -> BatchCheckedLoader | list:
        if pipeline is None:
            return []
        source = f"data.params.{split} ({_urls_text(config['datapipeline']['urls'])})"
        return create_loader(pipeline, **dict(config["loader"]), source=source)

    def setup(self, stage: str | None = None) -> None:
        self.train_datapipeline = self._pipeline(self.train_config)
        self.val_datapipeline = self._pipeline(self.val_config)
        self.test_datapipeline = self._pipeline(self.test_config)

    def train_dataloader(self) -> BatchCheckedLoader:
        return self._loader(self.train_datapipeline, self.train_config, "train")

    def val_dataloader(self) -> BatchCheckedLoader | list:
        return self._loader(self.val_datapipeline, self.val_config, "validation")

    def test_dataloader(self) -> BatchCheckedLoader | list:
        return self._loader(self.test_datapipeline, self.test_config, "test")
