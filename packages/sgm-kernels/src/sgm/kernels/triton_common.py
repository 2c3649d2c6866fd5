"""Facts about how the Triton kernels were built, shared by the attention and norm launchers."""

from triton.runtime.interpreter import InterpretedFunction


def interpreted(kernel) -> bool:
    """True when `kernel` runs under Triton's CPU interpreter (TRITON_INTERPRET=1 was set when it was defined)."""
    return isinstance(kernel, InterpretedFunction)


def cdiv(a: int, b: int) -> int:
    """ceil(a / b) in plain Python (triton.cdiv goes through Triton's JIT wrapper: microseconds per call)."""
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()
