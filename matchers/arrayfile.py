"""Named numpy arrays in one versioned file: written once, memory-mapped read-only to load.

Layout: an 8-byte magic, the format version (u32), 4 reserved bytes, the JSON header's
length (u64) and the header itself; then each array's raw bytes at a 64-byte aligned
offset the header names; then a trailer (magic + total file length) written last, so a
file cut short anywhere is refused. Loading maps the file and wraps each array around
the mapping with `np.frombuffer`: nothing is read until a page is touched, and every
process that loads the same file shares one copy in the page cache.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where arrays are written or mapped, not for a header
    import numpy.typing as npt

    AnyArray = npt.NDArray[Any]

MAGIC = b"TRAWLIX\x00"
TRAILER = b"TRAWLEND"
_PREAMBLE = struct.Struct("<8sII Q")  # magic, format version, reserved, header length
_TRAILER = struct.Struct("<8sQ")  # trailer magic, total file length
ALIGN = 64  # array offsets: a cache line, so no array starts mid-line


class ArrayFileError(ValueError):
    """A stored index file that cannot be used: missing, cut short, or from another version.

    The message says what was wrong; callers that own the file rebuild it.
    """


def write_arrays(
    path: Path, *, version: int, meta: Mapping[str, Any], arrays: Mapping[str, AnyArray]
) -> int:
    """Write `arrays` and the JSON-able `meta` to `path` atomically; return the file size.

    The file is written beside `path` under a temporary name, flushed to disk and renamed
    over `path`, so a reader sees the old file or the new one, never a half-written one
    (a process that has the old one mapped keeps reading it).
    """
    import numpy as np
    layout: dict[str, list[Any]] = {}
    at = 0
    for name, array in arrays.items():
        if not array.flags.c_contiguous:
            raise ValueError(f"array {name!r} must be C-contiguous to be stored")
        layout[name] = [array.dtype.str, list(array.shape), at]
        at += -(-array.nbytes // ALIGN) * ALIGN
    header = json.dumps({"meta": meta, "arrays": layout}, sort_keys=True).encode()
    start = -(-(_PREAMBLE.size + len(header)) // ALIGN) * ALIGN
    total = start + at + _TRAILER.size
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(_PREAMBLE.pack(MAGIC, version, 0, len(header)))
            out.write(header)
            out.write(b"\0" * (start - _PREAMBLE.size - len(header)))
            for array in arrays.values():
                if array.nbytes:
                    out.write(array.reshape(-1).view(np.uint8).data)
                out.write(b"\0" * (-array.nbytes % ALIGN))
            out.write(_TRAILER.pack(TRAILER, total))
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return total


def read_header(path: Path, *, version: int) -> dict[str, Any]:
    """The `meta` a file was written with, after the same checks `read_arrays` makes."""
    return read_shapes(path, version=version)[0]


def read_shapes(path: Path, *, version: int) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """(meta, each array's shape) without mapping the arrays (nor importing numpy), after
    the same checks `read_arrays` makes."""
    meta, layout, _, _ = _read(path, version, map_arrays=False)
    return meta, {name: list(shape) for name, (_, shape, _) in layout.items()}


def read_arrays(path: Path, *, version: int) -> tuple[dict[str, Any], dict[str, AnyArray]]:
    """(meta, arrays) of a file written by `write_arrays`; arrays are read-only mappings.

    Raises ArrayFileError if the file is not one of ours, was written by another format
    version, or is shorter or longer than it says it is.
    """
    import numpy as np

    meta, layout, start, mapping = _read(path, version, map_arrays=True)
    assert mapping is not None
    size = len(mapping)
    arrays: dict[str, AnyArray] = {}
    for name, (dtype_text, shape, offset) in layout.items():
        dtype = np.dtype(dtype_text)
        count = int(np.prod(shape, dtype=np.int64))
        at = start + int(offset)
        if at + count * dtype.itemsize > size - _TRAILER.size:
            raise ArrayFileError(f"{path}: array {name!r} runs past the end of the index file")
        array = np.frombuffer(mapping, dtype=dtype, count=count, offset=at) if count else (
            np.empty(0, dtype=dtype)
        )
        arrays[name] = array.reshape(shape)
    return meta, arrays


def _read(
    path: Path, version: int, *, map_arrays: bool
) -> tuple[dict[str, Any], dict[str, Any], int, mmap.mmap | None]:
    """(meta, array layout, where the arrays start, the file mapped or None), checked."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; the mapping outlives it
    except OSError as exc:
        raise ArrayFileError(f"{path}: cannot open the index file ({exc.strerror})") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        preamble = handle.read(_PREAMBLE.size)
        if len(preamble) < _PREAMBLE.size or not preamble.startswith(MAGIC):
            raise ArrayFileError(f"{path}: not a Trawl index file")
        _, found, _, header_length = _PREAMBLE.unpack(preamble)
        if found != version:
            raise ArrayFileError(
                f"{path}: index file format {found}, but this version of Trawl reads "
                f"format {version}; the file must be rebuilt"
            )
        if size < _PREAMBLE.size + header_length + _TRAILER.size:
            raise ArrayFileError(f"{path}: the index file is truncated")
        handle.seek(size - _TRAILER.size)
        trailer, total = _TRAILER.unpack(handle.read(_TRAILER.size))
        if trailer != TRAILER or total != size:
            raise ArrayFileError(
                f"{path}: the index file is truncated or damaged (size {size} bytes, "
                f"trailer {'missing' if trailer != TRAILER else f'says {total}'})"
            )
        handle.seek(_PREAMBLE.size)
        try:
            header = json.loads(handle.read(header_length))
            meta, layout = header["meta"], header["arrays"]
        except (ValueError, KeyError, TypeError):
            raise ArrayFileError(f"{path}: the index file's header is damaged") from None
        start = -(-(_PREAMBLE.size + header_length) // ALIGN) * ALIGN
        if not map_arrays:
            return meta, layout, start, None
        return meta, layout, start, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
