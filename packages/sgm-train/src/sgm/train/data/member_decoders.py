"""What each tar member of a shard becomes, decided by its extension, with nothing that can run code.

webdataset's default decoders unpickle `.pyd` / `.pkl` / `.pickle` members and `torch.load` `.pth` members with
`weights_only` off, so a downloaded shard could run code on the training machine. Here images go through PIL,
text and JSON are parsed, NumPy `.npy` loads with `allow_pickle=False`, `.pth` loads with `weights_only=True`,
pickles are refused (the sample is then skipped or the run stopped, as `pipeline_config.handler` says), and any other
member stays as bytes for the postprocessors.
"""

import functools
import io
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import webdataset as wds

from sgm.core.errors import SgmError

logger = logging.getLogger(__name__)

IMAGE_DECODERS = tuple(sorted(wds.autodecode.imagespecs))  # "pil", "rgb", "torchrgb", ... (webdataset's names)
PICKLE_EXTENSIONS = frozenset({"pkl", "pickle", "pyd"})


def _text(data: bytes) -> str:
    return data.decode("utf-8")


def _npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def _pth(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


MEMBER_DECODERS: dict[str, Callable[[bytes], Any]] = {
    **dict.fromkeys(("txt", "text", "transcript"), _text),
    **dict.fromkeys(("cls", "cls2", "index", "inx", "id"), int),
    **dict.fromkeys(("json", "jsn"), json.loads),
    "npy": _npy,
    "pth": _pth,
}


@functools.cache
def _note_kept_as_bytes(extension: str) -> None:
    logger.warning("shard members of type .%s have no decoder here: they stay bytes", extension)


def decode_member(key: str, data: bytes) -> Any:
    """A webdataset handler for everything but images: `key` is the member's name from its first dot (`.txt`)."""
    extension = key.rsplit(".", 1)[-1].lower()
    if extension in PICKLE_EXTENSIONS:
        raise SgmError(
            f"shard member {key!r} is a pickle, which can run code when loaded: it is not decoded; "
            "store arrays as .npy, tensors as .pth (loaded with weights_only) or data as .json"
        )
    decoder = MEMBER_DECODERS.get(extension)
    if decoder is None:
        _note_kept_as_bytes(extension)
        return data
    return decoder(data)


def sample_decoder(image_decoders: Sequence[str]) -> wds.autodecode.Decoder:
    """A decoder for whole samples: `image_decoders` (webdataset's image specs, e.g. `pil`) for the image members,
    gzip members unpacked first, then `decode_member` for the rest; no webdataset default handlers."""
    unknown = [name for name in image_decoders if name not in IMAGE_DECODERS]
    if unknown:
        raise SgmError(
            f"datapipeline.decoders: unknown image decoder {unknown[0]!r}; one of {', '.join(IMAGE_DECODERS)}"
        )
    handlers = [wds.autodecode.imagehandler(name) for name in image_decoders] + [decode_member]
    return wds.autodecode.Decoder(handlers, pre=[wds.autodecode.gzfilter], post=[])
