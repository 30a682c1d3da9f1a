"""Digests: every hash Trawl keeps of one image (never the image itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

# ok: decoded and hashed; unsupported: not a raster format we hash (SVG, HTML, ...);
# undecodable: claimed a format but is truncated/broken; too_large: over the pixel limit.
# timeout: hashing ran past its CPU time limit (crawler.engine.hashpool); crypto digests only
DigestStatus = Literal["ok", "unsupported", "undecodable", "too_large", "timeout"]


@dataclass(frozen=True, slots=True)
class VariantHashes:
    """The perceptual hashes of one query-side variant of an image: the picture inside its
    frame or letterbox, or without its caption band (matchers.variants finds them)."""

    name: str  # the match's transform: trim, uncaption-top, trim+uncaption-left, ...
    pdq: str
    pdq_quality: int
    phash: str
    dhash: str
    flatness: float  # of the variant itself (a frame makes the whole image look flat)
    width: int  # of the variant, in the full image's pixels
    height: int

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def perceptual(self) -> dict[str, str]:
        """The hashes to look up or store, by type: a canonical form's PDQ only
        (matchers.variants.canonical_variant), all three otherwise."""
        if is_canonical(self.name):
            return {"pdq": self.pdq}
        return {"phash": self.phash, "dhash": self.dhash, "pdq": self.pdq}


# Canonical forms of graphics (matchers.variants.canonical_variant) are named `canon`,
# `canon-trim`, `canon-crop-...` in a list, `canon`, `trim+canon`, ... on a query.
CANON = "canon"


def is_canonical(name: str | None) -> bool:
    """Whether a variant name (a list's stored variant or a query's) is a canonical form's."""
    return name is not None and (name.startswith(CANON) or name.endswith("+" + CANON))


@dataclass(frozen=True, slots=True)
class Digests:
    """Cryptographic digests always; perceptual ones only when the image decoded (status ok)."""

    md5: str
    sha1: str
    sha256: str
    size: int
    status: DigestStatus = "ok"
    error: str | None = None  # a sentence for status != ok; never contains image bytes
    format: str | None = None  # sniffed from magic bytes: jpeg png gif webp bmp tiff ...
    width: int | None = None
    height: int | None = None
    frames: int = 1  # counted up to matchers.decode.MAX_COUNTED_FRAMES
    phash: str | None = None  # 16 hex chars, same bits as str(imagehash.phash(img))
    dhash: str | None = None  # 16 hex chars, same bits as str(imagehash.dhash(img))
    pdq: str | None = None  # 64 hex chars, Meta's reference hex format
    pdq_quality: int | None = None  # 0..100
    # Share of a 64x64 grey thumbnail in its 4 most common tones (matchers.confidence): high
    # for flat graphics, where pHash/dHash collide; the match decision's structure gate.
    flatness: float | None = None
    # PDQ of the seven other orientations (pdqhash.compute_dihedral order), for matching
    # rotated and mirrored re-uploads. Stored with the media row (format_dihedral), so a
    # rematch or a 304 re-fetch finds rotated copies without the image.
    pdq_dihedral: tuple[str, ...] = ()
    frames_capped: bool = False  # counting stopped at `frames`; the animation has more
    # Hashes of the picture inside a frame, letterbox or caption band (matchers.variants),
    # matched like the orientations; () for most images, which have none.
    variants: tuple[VariantHashes, ...] = ()

    def as_dict(self, *, dihedral: bool = False) -> dict[str, object]:
        """The fields as JSON-ready values; the seven orientation hashes and the variants'
        hashes only if asked for (`dihedral`: everything the matcher reads)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        if dihedral:
            out["pdq_dihedral"] = list(self.pdq_dihedral)
            out["variants"] = [variant.as_dict() for variant in self.variants]
        else:
            del out["pdq_dihedral"], out["variants"]
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Digests:
        """Inverse of as_dict (unknown keys are an error, so a version skew is loud)."""
        given = dict(values)
        given["pdq_dihedral"] = tuple(given.get("pdq_dihedral", ()))
        given["variants"] = tuple(VariantHashes(**v) for v in given.get("variants", ()))
        return cls(**given)

    def perceptual(self) -> dict[str, str]:
        """The perceptual hashes present, by hash-type name."""
        found = {"phash": self.phash, "dhash": self.dhash, "pdq": self.pdq}
        return {name: value for name, value in found.items() if value is not None}

    def exact(self) -> dict[str, str]:
        return {"md5": self.md5, "sha1": self.sha1, "sha256": self.sha256}


def format_variants(variants: tuple[VariantHashes, ...]) -> str | None:
    """The variants' hashes as one string for a media row ("name,pdq,quality,phash,dhash,
    flatness,width,height" per variant, ";" between them); None when there are none."""
    if not variants:
        return None
    return ";".join(
        f"{v.name},{v.pdq},{v.pdq_quality},{v.phash},{v.dhash},{v.flatness:.4f},{v.width},"
        f"{v.height}"
        for v in variants
    )


def parse_variants(text: str | None) -> tuple[VariantHashes, ...]:
    """Inverse of format_variants; a damaged entry is left out (a rematch then matches the
    image without it, as before variants existed)."""
    if not text:
        return ()
    out = []
    for entry in text.split(";"):
        parts = entry.split(",")
        if len(parts) != 8 or len(parts[1]) != 64 or len(parts[3]) != 16 or len(parts[4]) != 16:
            continue
        try:
            for value in (parts[1], parts[3], parts[4]):
                int(value, 16)
            out.append(VariantHashes(parts[0], parts[1], int(parts[2]), parts[3], parts[4],
                                     float(parts[5]), int(parts[6]), int(parts[7])))
        except ValueError:
            continue
    return tuple(out)


def format_dihedral(values: tuple[str, ...]) -> str | None:
    """The seven orientation hashes as one space-separated string (None when absent)."""
    return " ".join(values) if values else None


def parse_dihedral(text: str | None) -> tuple[str, ...]:
    """Inverse of format_dihedral; anything but seven 64-hex-digit hashes gives ()."""
    if not text:
        return ()
    values = tuple(text.split())
    if len(values) != 7 or any(len(v) != 64 for v in values):
        return ()
    try:
        for v in values:
            int(v, 16)
    except ValueError:
        return ()
    return values
