"""Tell a JPEG whose compressed data ends before its picture does from a whole one.

Why: libjpeg does not fail when a marker (EOI, say) comes before the last block of a scan;
it warns, which Pillow does not pass on, and leaves every remaining block empty: uniform
mid-grey, exactly 128. A truncated download that still ends in EOI, or a header claiming
7071 x 7071 pixels over 512 x 512 pixels of data, then decodes "fine" as a mostly grey
picture, and its hashes would be recorded as if they were the image's.

The test has two steps. The cheap one runs on every JPEG: is the bottom-right corner of the
decoded picture exactly 128? It is for every such file, and for few whole ones. Only then
the file is decoded again with a few filler bytes inserted at the end of each scan's data:
a whole scan never reads past its last block, so a whole file decodes to the same pixels,
while a scan that ended early reads the filler as data and its grey tail changes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

GREY = 128  # what libjpeg decodes an empty block to
# Bytes inserted after each scan: any bytes but 0xFF (which would start a marker); mixed, so
# that no Huffman table decodes them to empty blocks.
FILLER = b"\x00\x5a\xa5\x0f" * 32
_RST = range(0xD0, 0xD8)


def grey_tail(luma: npt.NDArray[np.uint8], scale: int) -> bool:
    """Whether the last MCU (16 x 16 pixels of the full image, at 1/scale) is all GREY."""
    side = max(2, 16 // scale)
    corner = luma[-side:, -side:]
    if not corner.size or corner[-1, -1] != GREY:  # a whole picture's last pixel, mostly
        return False
    return bool(np.all(corner == GREY))


def pad_scans(data: bytes) -> bytes | None:
    """`data` with FILLER after the compressed data of each scan of its first image, or None
    when its marker structure cannot be followed (Pillow's own errors then stand)."""
    n = len(data)
    pos = 2  # after SOI
    pieces: list[bytes] = []
    start = 0
    while pos + 1 < n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # EOI: the first image ends here
            pieces.append(data[start:])
            return b"".join(pieces) if len(pieces) > 1 else None
        if marker == 0xD8 or marker in _RST or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > n:
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker != 0xDA:  # not a scan: its segment is skipped whole
            continue
        pos = _scan_end(data, pos)
        if pos < 0:
            return None
        pieces += [data[start:pos], FILLER]
        start = pos
    return None


def ends_early(
    data: bytes,
    luma: npt.NDArray[np.uint8],
    scale: int,
    redecode: Callable[[bytes], npt.NDArray[np.uint8]],
) -> bool:
    """Whether this JPEG's picture (`luma`, decoded at 1/scale) ran out of data before its
    last block. `redecode` must decode bytes exactly as `luma` was decoded."""
    if not grey_tail(luma, scale):
        return False
    padded = pad_scans(data)
    if padded is None:
        return False
    try:
        again = redecode(padded)
    except Exception:  # the filler broke it: a whole file ignores filler, so it is not whole
        return True
    return again.shape != luma.shape or not np.array_equal(again, luma)


def _scan_end(data: bytes, pos: int) -> int:
    """Offset of the first marker after the entropy-coded data starting at `pos` (-1: none).
    0xFF00 is a stuffed data byte and RSTn markers belong to the scan."""
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            return -1
        run = pos  # a marker may be preceded by any number of 0xFF fill bytes
        while pos + 1 < n and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 1 >= n:
            return -1
        following = data[pos + 1]
        if following == 0x00 or following in _RST:
            pos += 2
        else:
            return run
