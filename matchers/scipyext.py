"""scipy's DCT and CSR product without importing scipy.fft or scipy.sparse.

The hashes need two compiled loops from scipy: pocketfft's DCT-II (scipy.fftpack.dct, whose
rounding imagehash's pHash bits come from) and sparsetools' CSR-times-dense product; the index
(matchers.mih) a third, sparsetools' CSR row gather. Importing
them the public way runs scipy.fft's and scipy.sparse's package imports, which pull in
scipy.special, scipy's array-API layer, numpy.testing and numpy.f2py: ~0.6 s of CPU for each
hash worker process. The two extension modules themselves load in ~1 ms and need nothing
from their packages, so this module loads them straight from scipy's install directory and
calls them with the arguments scipy's wrappers pass (scipy.fft._pocketfft.realtransforms._r2r
and scipy.sparse._compressed._matmul_multivector): the same compiled code on the same
arrays, hence the same bits (tests/test_scipyext.py compares them with the public API).

If scipy's layout ever moves these files, the public modules are imported instead.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt


def _load_extension(name: str) -> ModuleType | None:
    """The compiled module `name` (scipy.x.y), loaded from its file without its packages."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    relative = Path(*name.split(".")[1:])
    for root in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = str(Path(root) / relative.with_name(relative.name + suffix))
            if not Path(path).is_file():
                continue
            loader = importlib.machinery.ExtensionFileLoader(name, path)
            found = importlib.util.spec_from_file_location(name, path, loader=loader)
            if found is None:
                return None
            module = importlib.util.module_from_spec(found)
            loader.exec_module(module)
            return module
    return None


def _try_load(name: str, attribute: str) -> Any:
    try:
        module = _load_extension(name)
    except (ImportError, OSError):
        return None
    return getattr(module, attribute, None) if module is not None else None


_pocketfft_dct = _try_load("scipy.fft._pocketfft.pypocketfft", "dct")
if _pocketfft_dct is not None:
    try:  # the call below passes _r2r's arguments; a scipy that changed them falls back
        _pocketfft_dct(np.ones(4), 2, (0,), 0, None, 1, None)
    except (TypeError, ValueError):
        _pocketfft_dct = None
_csr_matvecs = _try_load("scipy.sparse._sparsetools", "csr_matvecs")
# The CSR row gather matchers.mih copies bucket entries with (None: import scipy.sparse).
csr_row_index: Any = _try_load("scipy.sparse._sparsetools", "csr_row_index")


def dct2(x: npt.NDArray[Any], axis: int) -> npt.NDArray[np.float64]:
    """scipy.fftpack.dct(x, axis=axis) (type 2, unnormalised) of a real array."""
    if _pocketfft_dct is None:
        import scipy.fftpack

        result: npt.NDArray[np.float64] = scipy.fftpack.dct(x, axis=axis)
        return result
    # _r2r: _asfarray (float64 for integer input, native order, aligned), a new array since
    # overwrite_x is False, norm None -> 0, one worker, orthogonalize None.
    tmp = np.asarray(x)
    if tmp.dtype.kind not in "fc" or tmp.dtype == np.float16:
        tmp = np.asarray(tmp, np.float32 if tmp.dtype == np.float16 else np.float64)
    else:
        tmp = np.array(tmp, dtype=tmp.dtype.newbyteorder("="), copy=not tmp.flags["ALIGNED"])
    out: npt.NDArray[np.float64] = _pocketfft_dct(tmp, 2, (axis,), 0, None, 1, None)
    return out


class CsrRows:
    """A dense 2-D float array held as CSR: `rows @ x` is scipy.sparse.csr_matrix(dense) @ x."""

    __slots__ = ("_scipy", "data", "indices", "indptr", "shape")

    def __init__(self, dense: npt.NDArray[Any]) -> None:
        self.shape = dense.shape
        self._scipy: Any = None
        if _csr_matvecs is None:
            import scipy.sparse

            self._scipy = scipy.sparse.csr_matrix(dense)
        # csr_matrix(dense): the non-zeros in row-major order, int32 indices.
        rows, cols = np.nonzero(dense)
        self.data = np.ascontiguousarray(dense[rows, cols])
        self.indices = cols.astype(np.int32)
        counts = np.bincount(rows, minlength=dense.shape[0])
        self.indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)

    def __matmul__(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self._scipy is not None:
            return np.asarray(self._scipy @ x)
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] != self.shape[1]:
            raise ValueError(f"shapes {self.shape} and {x.shape} do not align")
        dtype = np.result_type(self.data.dtype, x.dtype)
        if dtype.kind != "f":
            raise TypeError(f"CsrRows handles real floats only, not {dtype}")
        result = np.zeros((self.shape[0], x.shape[1]), dtype=dtype)
        _csr_matvecs(
            self.shape[0],
            self.shape[1],
            x.shape[1],
            self.indptr,
            self.indices,
            self.data.astype(dtype, copy=False),
            np.ascontiguousarray(x, dtype=dtype).ravel(),
            result.ravel(),
        )
        return result
