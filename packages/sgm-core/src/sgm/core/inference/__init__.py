"""Inference-only speed-ups, applied once to a loaded model by `optimize_for_inference` so that the network classes
read like the math: packed fp32 CPU weights, channels-last CPU convolutions, and the text's keys and values kept
across sampling steps (`constant_context`)."""

from sgm.core.inference.kept_context import constant_context
from sgm.core.inference.optimize import optimize_for_inference

__all__ = ["constant_context", "optimize_for_inference"]
