"""Loading data files that are pickles by format (CIFAR-10's python batches) without letting them run code.

A pickle runs code by naming a global (`os.system`, any class's `__reduce__` target) and calling it. This
unpickler resolves only the globals that plain data needs: dicts, lists, numbers, str and bytes need none, NumPy
arrays need their constructor, `numpy.dtype` and `ndarray`, and Python 3 pickles of bytes made with protocol <= 2 need
`_codecs.encode(text, "latin1")`. Anything else is refused before it is called.
"""

import codecs
import io
import pickle
from typing import Any

import numpy as np

_EMPTY = np.zeros(0, dtype=np.uint8)
_RECONSTRUCT = _EMPTY.__reduce__()[0]  # NumPy's array constructor for pickles, wherever this NumPy keeps it
_FROMBUFFER = _EMPTY.__reduce_ex__(5)[0]  # the same for protocol 5 pickles


def _latin1_encode(text: str, encoding: str) -> bytes:
    """Protocol <= 2 pickles store bytes as `_codecs.encode(text, "latin1")`; no other codec is accepted."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"refused: _codecs.encode with encoding {encoding!r} (only latin1 is data)")
    return codecs.encode(text, encoding)


# NumPy 1.x names its modules numpy.core.*, NumPy 2.x numpy._core.*; a file may come from either.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _FROMBUFFER for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class DataUnpickler(pickle.Unpickler):
    """An unpickler for plain data: containers, numbers, strings, bytes and NumPy arrays; no other globals."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused: the pickle names {module}.{name}, which is not plain data"
            ) from None


def load_data_pickle(data: bytes, encoding: str = "ASCII") -> Any:
    """The plain data in a pickle (`encoding="latin1"` for Python 2 pickles such as CIFAR-10's batches); a pickle
    that names anything else raises `pickle.UnpicklingError` without running it."""
    return DataUnpickler(io.BytesIO(data), encoding=encoding).load()
