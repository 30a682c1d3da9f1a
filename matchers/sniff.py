"""Tell what a body is from its first bytes, never from Content-Type or the URL's extension."""

from __future__ import annotations

# Raster formats Trawl decodes and hashes perceptually: our name -> Pillow plugin name.
# Pillow is only ever allowed the one plugin the magic bytes named (Image.open(formats=[...])),
# so a body cannot steer decoding into a plugin we did not choose.
RASTER_FORMATS: dict[str, str] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
    "bmp": "BMP",
    "tiff": "TIFF",
    "avif": "AVIF",
}

# How error sentences name each kind of body ("The body is an SVG drawing, ...").
KIND_PHRASES: dict[str, str] = {
    "jpeg": "a JPEG image",
    "png": "a PNG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "bmp": "a BMP image",
    "tiff": "a TIFF image",
    "avif": "an AVIF image",
    "svg": "an SVG drawing (vector markup)",
    "html": "an HTML page",
    "xml": "an XML document",
    "json": "a JSON document",
    "pdf": "a PDF document",
    "heic": "a HEIC/HEIF image",
    "ico": "an ICO icon",
    "jxl": "a JPEG XL image",
    "jp2": "a JPEG 2000 image",
    "psd": "a Photoshop document",
    "mp4": "an MP4/QuickTime video",
    "text": "plain text",
}

SUPPORTED_LIST = "JPEG, PNG, GIF, WebP, BMP, TIFF and AVIF"

# BITMAPINFOHEADER sizes real BMP files carry at offset 14: "BM" alone is too weak a sign.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_VIDEO_BRANDS = frozenset({b"isom", b"iso2", b"mp41", b"mp42", b"M4V ", b"qt  ", b"3gp4", b"dash"})
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title", b"<script")


def _ftyp_brands(head: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO-BMFF `ftyp` box at the start of `head`."""
    if head[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(head[0:4], "big")
    end = min(len(head), size) if size >= 16 else 16
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def sniff_format(data: bytes) -> str | None:
    """The raster format Trawl hashes that `data` starts with, or None.

    One of RASTER_FORMATS' keys: jpeg png gif webp bmp tiff avif.
    """
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if _ftyp_brands(head) & _AVIF_BRANDS:
        return "avif"
    return None


def sniff_kind(data: bytes) -> str | None:
    """Like sniff_format, but also names common bodies that are not hashable rasters.

    Extra kinds: svg html xml json pdf heic ico jxl jp2 psd mp4 text. None when nothing
    matched (an empty body included).
    """
    fmt = sniff_format(data)
    if fmt is not None:
        return fmt
    head = data[:1024]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x00\x00\x01\x00") and len(head) > 6 and head[4] != 0:
        return "ico"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "jxl"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "jp2"
    if head.startswith(b"8BPS"):
        return "psd"
    brands = _ftyp_brands(head)
    if brands & _HEIF_BRANDS:
        return "heic"
    if brands & _VIDEO_BRANDS:
        return "mp4"
    return _sniff_text(head)


def _sniff_text(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
    if not text:
        return None
    if b"<svg" in text and text.startswith((b"<svg", b"<?xml", b"<!doctype svg", b"<!--")):
        return "svg"
    if text.startswith(_HTML_STARTS) or (text.startswith(b"<!--") and b"<html" in text):
        return "html"
    if text.startswith(b"<"):
        return "xml"
    if text[:1] in (b"{", b"["):
        return "json"
    sample = text[:512]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    return "text" if printable >= 0.95 * len(sample) else None


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) as the header of a sniffed raster claims it, read without Pillow.

    Why: the pixel limit must be checked before any decoder sees the file, and a bomb's
    record should still say what it claimed. None when the header is too short to tell;
    Pillow's own checks then apply.
    """
    try:
        if fmt == "png" and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if fmt == "gif" and len(data) >= 10:
            return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        if fmt == "bmp" and len(data) >= 26:
            if int.from_bytes(data[14:18], "little") == 12:  # OS/2 BITMAPCOREHEADER
                return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
            width = int.from_bytes(data[18:22], "little", signed=True)
            height = int.from_bytes(data[22:26], "little", signed=True)
            return abs(width), abs(height)
        if fmt == "webp":
            return _webp_size(data)
        if fmt == "jpeg":
            return _jpeg_size(data)
    except IndexError:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)  # fmt: skip
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments to the first start-of-frame (bounded by the data's length)."""
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # scan data or end of image before any frame header
            return None
        if marker in _JPEG_SOF:
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            return int.from_bytes(data[pos + 7 : pos + 9], "big"), height
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


def describe_kind(kind: str | None) -> str:
    """How an error sentence names a sniffed kind: "an SVG drawing (vector markup)"."""
    if kind is None:
        return "data in no format Trawl recognises"
    return KIND_PHRASES.get(kind, kind)
