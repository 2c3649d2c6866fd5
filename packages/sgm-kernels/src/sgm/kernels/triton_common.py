"""Facts about how the Triton kernels were built, shared by the attention and norm launchers."""

from triton.runtime.interpreter import InterpretedFunction


def interpreted(kernel) -> bool:
    """True when `kernel` runs under Triton's CPU interpreter (TRITON_INTERPRET=1 was set when it was defined)."""
    return isinstance(kernel, InterpretedFunction)
