"""Diagnostic for the query-side variants on edited copies: every missed case, what
find_regions cut and where the picture really is.

    python3 bench/diag_variants.py [--seed S] [--content graphic] [--kinds frame] [--all]
    python3 bench/diag_variants.py --bench --kinds caption [--seed S]   # the bench's own copies

For each original of bench_variants (same seeds) and each edit drawn systematically (frames
of every share and colour, letterbox and pillarbox in every colour, captions of every share
on both sides, light and dark), served as bench_variants serves copies (JPEG q80, every
third case resized to 75% first), it prints the cases not found in the high tier with the
crop list (`--all`: every case): the ground truth (the pasted picture's box P, and the list
`trim` of the original mapped into the copy T), each region find_regions returned with its
box and PDQ distance to the original's PDQ and to its stored trim, and a verdict:

  no-region     find_regions returned nothing
  wrong-cut     no region within 1.5% of P or T on every side
  pdq-drift     a region is cut right but its PDQ is over the variant threshold (28)
  other         a region is cut right and within 28, yet no high match (grading)

Ends with a count of verdicts per edit family. `--bench`: bench_variants' recall copies
instead (its seeded draws; --kinds matched against its edit kinds, e.g. "caption 15%"), so
the misses are exactly the bench's; a caption's picture box is known, other kinds' not.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_variants import (  # noqa: E402
    COLOURS,
    EDIT_KINDS,
    Original,
    list_refs,
    originals,
    served,
)
from crawler.sitegen import images as gen  # noqa: E402
from matchers.decision import Matcher  # noqa: E402
from matchers.decode import open_and_decode  # noqa: E402
from matchers.digests import is_canonical  # noqa: E402
from matchers.hashing import hash_image  # noqa: E402
from matchers.sniff import sniff_format  # noqa: E402
from matchers.variants import find_regions  # noqa: E402

Box = tuple[int, int, int, int]


def edits() -> list[tuple[str, str, object]]:
    """(family, description, edit(img) -> (image, picture box))."""
    out: list[tuple[str, str, object]] = []

    def frame(share: float, colour: tuple[int, int, int], noise: float) -> object:
        def edit(img: Image.Image) -> tuple[Image.Image, Box]:
            dx, dy = round(img.width * share), round(img.height * share)
            return (gen.frame(img, share, colour, noise=noise, seed=7),
                    (dx, dy, dx + img.width, dy + img.height))
        return edit

    def letterbox(aspect: float, colour: tuple[int, int, int]) -> object:
        def edit(img: Image.Image) -> tuple[Image.Image, Box]:
            out = gen.letterbox(img, aspect, colour)
            dx, dy = (out.width - img.width) // 2, (out.height - img.height) // 2
            return out, (dx, dy, dx + img.width, dy + img.height)
        return edit

    def caption(share: float, side: str, dark: bool) -> object:
        def edit(img: Image.Image) -> tuple[Image.Image, Box]:
            fill, ink = ((20, 20, 20), (250, 250, 250)) if dark else ((255, 255, 255), (0, 0, 0))
            out = gen.caption(img, share, side, text="example.test some words here",
                              fill=fill, ink=ink)
            band = out.height - img.height
            dy = band if side == "top" else 0
            return out, (0, dy, img.width, dy + img.height)
        return edit

    for share in (0.03, 0.05, 0.08, 0.1, 0.15, 0.2):
        for colour in COLOURS:
            out.append(("frame solid", f"frame {share:.2f} {colour}", frame(share, colour, 0)))
    for share in (0.05, 0.1, 0.15):
        for colour in COLOURS:
            out.append(("frame noisy", f"noisy {share:.2f} {colour}", frame(share, colour, 8)))
    for aspect in (16 / 9, 0.6):
        for colour in COLOURS:
            out.append(("letterbox", f"letterbox {aspect:.2f} {colour}", letterbox(aspect, colour)))
    for share in (0.08, 0.12, 0.15, 0.2, 0.25):
        for side in ("top", "bottom"):
            for dark in (False, True):
                out.append(("caption", f"caption {share:.2f} {side} {'dark' if dark else 'light'}",
                            caption(share, side, dark)))
    return out


# A case: (original, family, description, picture box in the copy as edited, scale of the
# served copy, served bytes, size as edited).
Case = tuple[Original, str, str, Box, float, bytes, tuple[int, int]]


def systematic_cases(items: list[Original], kinds: str) -> Iterator[Case]:
    """Every systematic edit (`edits`) of every original, every third case resized to 75%."""
    case = 0
    for item in items:
        for family, name, edit in edits():
            if kinds not in name:
                continue
            case += 1
            edited, pbox = edit(item.image)  # type: ignore[operator]
            size = edited.size
            scale = 1.0
            if case % 3 == 0:
                edited = edited.resize((round(edited.width * 0.75), round(edited.height * 0.75)),
                                       Image.Resampling.LANCZOS)
                scale = 0.75
            data = gen.encode(edited.convert("RGB"), "jpeg", quality=80)
            yield item, family, name, pbox, scale, data, size


def bench_cases(seed: int, content: str, kinds: str) -> Iterator[Case]:
    """The very copies bench_variants.recall draws (`--bench`), in its order and from its
    random stream, of the edit kinds whose name contains `kinds`. Only a caption's picture
    box is known (the others': the whole copy)."""
    rng = np.random.default_rng(14 + 1000 * seed)
    for kind, kind_edits in EDIT_KINDS.items():
        for item in originals(False, seed):
            for edit in kind_edits:
                before = rng.bit_generator.state
                edited = edit(item.image, rng)
                if kinds not in kind or item.content != content:
                    served(edited, rng)
                    continue
                peek = np.random.default_rng()  # served's resize draw, read ahead
                peek.bit_generator.state = rng.bit_generator.state
                scale = 0.75 if peek.uniform() < 1 / 3 else 1.0
                data = served(edited, rng)
                w, h = edited.size
                pbox: Box = (0, 0, w, h)
                desc = kind
                if kind.startswith("caption"):
                    replay = np.random.default_rng()
                    replay.bit_generator.state = before
                    dark = bool(replay.integers(2))
                    side = ("top", "bottom")[int(replay.integers(2))]
                    dy = h - item.image.height if side == "top" else 0
                    pbox = (0, dy, w, dy + item.image.height)
                    desc = f"{kind} {side} {'dark' if dark else 'light'}"
                yield item, kind.split(" ")[0], desc, pbox, scale, data, (w, h)


def dist(a: str | None, b: str | None) -> int:
    if a is None or b is None:
        return 256
    return (int(a, 16) ^ int(b, 16)).bit_count()


def near(box: Box, want: Box, w: int, h: int, share: float = 0.015) -> bool:
    slack = (share * w, share * h, share * w, share * h)
    return all(abs(a - b) <= s for a, b, s in zip(box, want, slack, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--content", default="graphic")
    parser.add_argument("--kinds", default="")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="counts only")
    parser.add_argument("--bench", action="store_true",
                        help="bench_variants.py's own copies (its seeded draws, --kinds matched "
                        "against its edit kinds) instead of the systematic edits")
    args = parser.parse_args()
    items = [i for i in originals(False, args.seed) if i.content == args.content]
    matcher = Matcher.build(list_refs(items, True, ("pdq", "phash")))
    plain = Matcher.build(list_refs(items, False))
    verdicts: Counter[tuple[str, str]] = Counter()
    found_counts: Counter[tuple[str, str]] = Counter()
    refs = {}
    for item in items:
        ref = hash_image(gen.encode(item.image, "png"), fast=False, variants=False, crops=True)
        trim = next((v for v in ref.variants if v.name == "trim"), None)
        trim_box = next((r.box for r in find_regions(item.image.convert("L"))
                         if r.name == "trim"), None)
        refs[item.label] = (ref, trim, trim_box)
    cases = (bench_cases(args.seed, args.content, args.kinds) if args.bench
             else systematic_cases(items, args.kinds))
    for item, family, name, pbox, scale, data, size in cases:
        ref, trim, trim_box = refs[item.label]
        d = hash_image(data)
        high = any(m.label == item.label and m.tier == "high" for m in matcher.match(d))
        high_plain = any(m.label == item.label and m.tier == "high" for m in plain.match(d))
        found_counts[(family, "n")] += 1
        found_counts[(family, "crops")] += high
        found_counts[(family, "plain")] += high_plain
        if high and not args.all:
            continue
        w, h = (round(size[0] * scale), round(size[1] * scale)) if scale != 1.0 else size
        p = tuple(round(v * scale) for v in pbox)
        t = None
        if trim_box is not None:
            t = tuple(round((pbox[i % 2] + trim_box[i]) * scale) for i in range(4))
        fmt = sniff_format(data)
        assert fmt is not None
        luma = open_and_decode(data, fmt, max_pixels=50_000_000, fast=True, full=True,
                               grey=True).luma
        regions = find_regions(luma) if luma.size == (w, h) else []
        # The regions' own hashes, in find_regions' order (a graphic's canonical
        # hashes, `canon` and `<region>+canon`, are left out of the pairing).
        own = [v for v in d.variants if not is_canonical(v.name)]
        right = []
        for r, v in zip(regions, own, strict=False):
            ok = near(r.box, p, w, h) or (t is not None and near(r.box, t, w, h))  # type: ignore[arg-type]
            right.append((ok, min(dist(v.pdq, ref.pdq), dist(v.pdq, trim.pdq if trim else None))))
        if not own:
            verdict = "no-region"
        elif not any(ok for ok, _ in right):
            verdict = "wrong-cut"
        elif not any(ok and dd <= 28 for ok, dd in right):
            verdict = "pdq-drift"
        else:
            verdict = "other"
        verdicts[(family, verdict)] += 1
        if args.quiet:
            continue
        print(f"{'HIT ' if high else 'MISS'} {item.label} {w}x{h} {name} scale {scale} "
              f"-> {verdict}; P={p} T={t}")
        for (ok, dd), v, r in zip(right, own, regions, strict=False):
            print(f"     {v.name:22s} {r.box} {'RIGHT' if ok else 'wrong'} pdq-dist {dd} "
                  f"q {v.pdq_quality} flat {v.flatness:.2f}")
        # The nearest (query canonical form, stored canonical form) pair, when the
        # copy has canonical forms (a graphic): how far past CANON_THRESHOLD it lies.
        pairs = [(dist(q.pdq, s.pdq), q.name, s.name, q.pdq_quality, s.pdq_quality)
                 for q in d.variants if is_canonical(q.name)
                 for s in ref.variants if is_canonical(s.name)]
        if pairs:
            dd, qname, sname, qq, sq = min(pairs)
            print(f"     nearest canonical: {qname} -> {sname} pdq-dist {dd} "
                  f"(q {qq} / {sq})")
        # What the best own matches were, tier and through what (why not high).
        for m in sorted((m for m in matcher.match(d) if m.label == item.label),
                        key=lambda m: -m.confidence)[:3]:
            print(f"     own match: {m.tier} {m.hash_type} dist {m.distance}/{m.threshold} "
                  f"via {m.transform} -> {m.known_variant} class {m.image_class}")
    print()
    for family in dict.fromkeys(f for f, _ in found_counts):
        n = found_counts[(family, "n")]
        print(f"{family}: n {n}, high with crops {100 * found_counts[(family, 'crops')] / n:.0f}%, "
              f"without {100 * found_counts[(family, 'plain')] / n:.0f}%; misses: "
              + ", ".join(f"{v} {c}" for (f, v), c in sorted(verdicts.items()) if f == family))


if __name__ == "__main__":
    main()
