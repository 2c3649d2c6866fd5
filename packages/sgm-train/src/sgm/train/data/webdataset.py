"""Tar-shard datasets (webdataset) configured the way the reference's `sgm.data.dataset` configs are:

    datapipeline: {urls, pipeline_config: {shardshuffle, sample_shuffle, resample, ...}, decoders, postprocessors}
    loader: {batch_size, num_workers}

`urls` are local paths (files, folders of .tar, brace patterns like `shard-{000..009}.tar`), http(s) URLs or
`pipe:` commands. Shards are split across nodes and workers; with `resample` each worker draws shards with
replacement forever (use the trainer's max_steps).
"""

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import webdataset as wds
from PIL import Image

from sgm.core.config import instantiate
from sgm.train.data.datamodule import check_loader_args

logger = logging.getLogger(__name__)

IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")
PIPELINE_KEYS = {"shardshuffle", "sample_shuffle", "resample", "handler", "seed", "epoch_length"}
HANDLERS = {"warn": wds.warn_and_continue, "raise": wds.reraise_exception, "ignore": wds.ignore_and_continue}


def expand_urls(urls: str | Sequence[str]) -> list[str]:
    """Shard URLs: brace patterns expanded, folders replaced by their `.tar` files (sorted)."""
    if isinstance(urls, str):
        urls = [urls]
    expanded: list[str] = []
    for url in urls:
        for item in wds.shardlists.expand_urls(str(url)):
            path = Path(item)
            if "://" not in item and not item.startswith("pipe:") and path.is_dir():
                shards = sorted(str(p) for p in path.glob("*.tar"))
                if not shards:
                    raise FileNotFoundError(f"no .tar shards in folder {path}")
                expanded.extend(shards)
            elif "://" not in item and not item.startswith("pipe:") and not path.is_file():
                raise FileNotFoundError(f"shard not found: {item} (datapipeline.urls)")
            else:
                expanded.append(item)
    if not expanded:
        raise ValueError("datapipeline.urls is empty: give at least one shard path or URL")
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


def create_dataset(
    urls: str | Sequence[str],
    pipeline_config: Mapping | None = None,
    decoders: Sequence[str] | str = ("pil",),
    postprocessors: Sequence[Mapping] | None = None,
    dummy: bool = False,
) -> wds.DataPipeline:
    """The sample stream: shards -> samples -> shuffle -> decode -> `jpg` key -> postprocessors (in order)."""
    config = dict(pipeline_config or {})
    unknown = set(config) - PIPELINE_KEYS
    if unknown:
        raise ValueError(f"pipeline_config: unknown key(s) {sorted(unknown)}; known: {sorted(PIPELINE_KEYS)}")
    handler_name = config.get("handler", "warn")
    if handler_name not in HANDLERS:
        raise ValueError(f"pipeline_config.handler must be one of {sorted(HANDLERS)}, got {handler_name!r}")
    handler = HANDLERS[handler_name]
    seed = config.get("seed", 0)
    shards = expand_urls(urls)
    if config.get("resample", False):
        stages: list[Any] = [wds.ResampledShards(shards)]
    else:
        stages = [wds.SimpleShardList(shards)]
        if config.get("shardshuffle"):
            stages.append(wds.detshuffle(int(config["shardshuffle"]), seed=seed))
        stages += [wds.split_by_node, wds.split_by_worker]
    stages.append(wds.tarfile_to_samples(handler=handler))
    if config.get("sample_shuffle"):
        stages.append(wds.shuffle(int(config["sample_shuffle"])))
    decoders = [decoders] if isinstance(decoders, str) else list(decoders)
    stages += [wds.decode(*decoders, handler=handler), wds.map(image_as_jpg)]
    for i, block in enumerate(postprocessors or []):
        stages.append(wds.map(instantiate(block, key_path=f"datapipeline.postprocessors[{i}]"), handler=handler))
    if dummy:
        stages.append(_repeat_first)
    pipeline = wds.DataPipeline(*stages)
    if config.get("epoch_length"):
        pipeline = pipeline.with_epoch(int(config["epoch_length"]))
    return pipeline


def _repeat_first(samples: Iterable[dict]) -> Iterator[dict]:
    """Debugging aid: the first sample, forever (data loading then costs nothing)."""
    first = next(iter(samples))
    while True:
        yield dict(first)


def create_loader(
    datapipeline: wds.DataPipeline,
    batch_size: int,
    num_workers: int = 0,
    partial: bool = False,
    prefetch_factor: int = 2,
) -> wds.WebLoader:
    """Batches are built in the workers (`partial`: keep a last short batch) and passed through whole."""
    check_loader_args(batch_size, num_workers)
    batched = datapipeline.compose(wds.batched(batch_size, collation_fn=collate_samples, partial=partial))
    return wds.WebLoader(
        batched,
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
    )


def _check_split(config: Mapping | None, name: str) -> None:
    if config is not None and not ("datapipeline" in config and "loader" in config):
        raise ValueError(f"data.params.{name} needs the fields `datapipeline` and `loader`")


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

    def _pipeline(self, config: Mapping) -> wds.DataPipeline:
        return create_dataset(**dict(config["datapipeline"]), dummy=self.dummy)

    def setup(self, stage: str | None = None) -> None:
        self.train_datapipeline = self._pipeline(self.train_config)
        self.val_datapipeline = self._pipeline(self.val_config) if self.val_config is not None else None
        self.test_datapipeline = self._pipeline(self.test_config) if self.test_config is not None else None

    def train_dataloader(self) -> wds.WebLoader:
        return create_loader(self.train_datapipeline, **dict(self.train_config["loader"]))

    def val_dataloader(self) -> wds.WebLoader | list:
        if self.val_datapipeline is None:
            return []
        return create_loader(self.val_datapipeline, **dict(self.val_config["loader"]))

    def test_dataloader(self) -> wds.WebLoader | list:
        if self.test_datapipeline is None:
            return []
        return create_loader(self.test_datapipeline, **dict(self.test_config["loader"]))
