"""matchers.scipyext calls scipy's compiled DCT and CSR loops directly: same bits as the API."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.fftpack
import scipy.sparse

from matchers import scipyext
from matchers.perceptual import operator


def test_the_compiled_loops_were_loaded_directly() -> None:
    # Without them the module falls back to the public imports, losing the point.
    assert scipyext._pocketfft_dct is not None
    assert scipyext._csr_matvecs is not None


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8, np.int64])
def test_dct2_bit_identical_to_fftpack_on_random_inputs(dtype: type) -> None:
    rng = np.random.default_rng(20261202)
    for trial in range(300):
        shape = (32, 32) if trial % 3 else tuple(rng.integers(1, 70, size=2))
        if np.issubdtype(dtype, np.integer):
            x = rng.integers(0, 256, size=shape).astype(dtype)
        else:
            x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4)).astype(dtype)
        if trial % 5 == 0:
            x = np.asfortranarray(x)
        for axis in (0, 1, -1):
            ours = scipyext.dct2(x, axis=axis)
            theirs = scipy.fftpack.dct(x, axis=axis)
            assert ours.dtype == theirs.dtype
            assert ours.tobytes() == theirs.tobytes()
        twice = scipyext.dct2(scipyext.dct2(x, axis=0), axis=1)
        reference = scipy.fftpack.dct(scipy.fftpack.dct(x, axis=0), axis=1)
        assert twice.tobytes() == reference.tobytes()


def test_dct2_bit_identical_on_flat_and_nearly_flat_thumbnails() -> None:
    # Flat images leave pHash's bits to rounding noise: exactly where bits could differ.
    for value in (0.0, 1.0, 127.0, 255.0):
        x = np.full((32, 32), value)
        assert scipyext.dct2(x, axis=0).tobytes() == scipy.fftpack.dct(x, axis=0).tobytes()
        x[3, 7] += 1.0
        assert scipyext.dct2(x, axis=1).tobytes() == scipy.fftpack.dct(x, axis=1).tobytes()


def test_csr_rows_product_bit_identical_to_scipy_sparse() -> None:
    rng = np.random.default_rng(7)
    for n_full, scale in [(100, 1), (640, 2), (1000, 4), (4032, 8), (37, 1), (3000, 8)]:
        dense = operator("pdq", n_full, scale)
        n_small = dense.shape[1]
        for cols in (1, 5, 64, 300):
            x = (rng.random((n_small, cols)) * 255.0).astype(np.float32)
            ours = scipyext.CsrRows(dense) @ x
            theirs = np.asarray(scipy.sparse.csr_matrix(dense) @ x)
            assert ours.dtype == theirs.dtype == np.float32
            assert ours.tobytes() == theirs.tobytes()
    random_dense = np.where(rng.random((20, 30)) < 0.3, rng.standard_normal((20, 30)), 0.0)
    x = rng.standard_normal((30, 4))
    ours = scipyext.CsrRows(random_dense) @ x
    theirs = np.asarray(scipy.sparse.csr_matrix(random_dense) @ x)
    assert ours.tobytes() == theirs.tobytes()
    with pytest.raises(ValueError, match="do not align"):
        scipyext.CsrRows(random_dense) @ np.zeros((29, 4))


def test_hash_worker_imports_neither_scipy_package_nor_numpy_testing() -> None:
    code = (
        "import sys, crawler.engine.hashworker, matchers.hashing\n"
        "import matchers.perceptual as p, numpy as np\n"
        "p.phash_from_thumbnail(np.arange(1024.0).reshape(32, 32))\n"
        "heavy = [m for m in ('scipy.fft', 'scipy.fftpack', 'scipy.sparse', 'scipy.special',"
        " 'numpy.testing', 'numpy.f2py') if m in sys.modules]\n"
        "print(heavy)\n"
        "import scipy.sparse\n"  # the public package still works after the direct load
        "print(float((scipy.sparse.csr_matrix(np.eye(3)) @ np.ones((3, 1))).sum()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "3.0"]


def test_index_copier_loads_without_the_scipy_sparse_package() -> None:
    """A hash worker's first two-hit search must not import scipy.sparse (0.1-0.2 s of CPU
    per crawl): the row gather comes from the compiled module alone, and is scipy's own."""
    code = (
        "import sys\n"
        "from matchers import mih\n"
        "copier = mih._bucket_copier()\n"
        "print(copier is not None, 'scipy.sparse' in sys.modules)\n"
        "from scipy.sparse import _sparsetools\n"
        "print(copier is _sparsetools.csr_row_index)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "True"]
