"""Checkpoints: reading files safely, loading them into models without a second copy, layouts and matching."""

from sgm.core.checkpoint.empty import empty_parameters
from sgm.core.checkpoint.layouts import LayoutDiff, compare_layouts, layout_of, summarize_keys
from sgm.core.checkpoint.loading import LoadReport, load_checkpoint_into, parse_dtype
from sgm.core.checkpoint.matching import ModelMatch, match_models, rank_models
from sgm.core.checkpoint.reading import iter_tensors, load_state_dict, read_layout, read_safetensors_header
from sgm.core.checkpoint.sparse import write_sparse_safetensors

__all__ = [
    "LayoutDiff",
    "LoadReport",
    "ModelMatch",
    "compare_layouts",
    "empty_parameters",
    "iter_tensors",
    "layout_of",
    "load_checkpoint_into",
    "load_state_dict",
    "match_models",
    "parse_dtype",
    "rank_models",
    "read_layout",
    "read_safetensors_header",
    "summarize_keys",
    "write_sparse_safetensors",
]
