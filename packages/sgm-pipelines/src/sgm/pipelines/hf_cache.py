"""Checkpoints users already have in the Hugging Face cache (`hf download`, diffusers, ComfyUI's HF loaders): an
official repo's file found offline through `huggingface_hub.try_to_load_from_cache`, which reads the cache's folders
only and never asks the Hub. The repo is the one each model's registration names as its `source`."""

import os
from pathlib import Path

HUB = "https://huggingface.co/"
CACHE_ENV = "HF_HUB_CACHE"


def repo_id(source: str) -> str | None:
    """`owner/name` of a Hugging Face model page URL (`https://huggingface.co/stabilityai/sdxl-turbo`), else None."""
    if not source.startswith(HUB):
        return None
    parts = source[len(HUB) :].strip("/").split("/")
    return "/".join(parts[:2]) if len(parts) >= 2 and all(parts[:2]) else None


def cache_folder() -> str | None:
    """`$HF_HUB_CACHE` as set now (huggingface_hub reads it once, on import), else None for the library's default
    (`$HF_HOME/hub`, `~/.cache/huggingface/hub`)."""
    return os.environ.get(CACHE_ENV) or None


def cached_file(source: str, files: tuple[str, ...]) -> Path | None:
    """The first of `files` in the cached `main` snapshot of the repo `source` names, or None (also for a source
    that is not a Hub repo)."""
    from huggingface_hub import try_to_load_from_cache

    repo = repo_id(source)
    if repo is None:
        return None
    for file in files:
        found = try_to_load_from_cache(repo, file, cache_dir=cache_folder())
        if isinstance(found, str):  # else None (not cached) or the marker of a file known to be absent
            return Path(found)
    return None


def describe_cache() -> str:
    """Where the cache is looked up, for messages."""
    from huggingface_hub import constants

    return cache_folder() or constants.HF_HUB_CACHE
