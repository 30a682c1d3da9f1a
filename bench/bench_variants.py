"""Edited copies: recall on framed, letterboxed, captioned and cropped copies, false hits on
unrelated real images, and what the variants cost hash_image.

    python3 bench/bench_variants.py            # full run (~10 min on one core), Markdown
    python3 bench/bench_variants.py --quick    # smaller sets, for a smoke test

Originals: generated photos and generated line art (charts, diagrams, screenshots, text cards,
line drawings; crawler/sitegen/images), hashed as a hotline makes its list (`trawl hash`,
full decode), with and without the crop variants (`--variants crops`). Edited copies, each
re-encoded as JPEG (q80, some resized to 75% first): frames of 3-20% in solid and noisy
colours, letterbox and pillarbox bars, caption bars of 8-25% with text along the top or the
bottom, crops of 3-15% per side (centre and off-centre, and each side cut by its own 0-10%).
The crop list stores PDQ and pHash of every crop (as `trawl hash --variants crops` does;
--crop-types to change). Recall per edit kind, for:

  before        query without variants, list without crops (the matcher as it was)
  variants      query-side variants (trim, uncaption-*), list without crops
  variants+crops  query-side variants, crop-augmented list

A copy is found when its best match names its own item; high = in the high tier.

False hits: unrelated real images (bench/realimages.py: skimage photos, matplotlib line art,
Meta's PDQ test images), as served and wrapped in the same frames and caption bars (so the
variants run on them), plus generated photos and graphics not in the list under the same
edits; every match of one of them is a false item. Per 1,000 decoys, by tier, per setup.

Cost: process CPU per image of hash_image with variants on and off, alternated round by
round (min / median / max over rounds): on real photo JPEGs and PNGs (no border: the 15%
budget) and on the edited copies (where the variants are hashed).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import realimages  # noqa: E402
from crawler.sitegen import images as gen  # noqa: E402
from crawler.sitegen.images.base import words  # noqa: E402
from matchers.decision import Match, Matcher  # noqa: E402
from matchers.digests import Digests  # noqa: E402
from matchers.hashing import hash_image  # noqa: E402
from matchers.reftable import KnownRef  # noqa: E402

Edit = Callable[[Image.Image, np.random.Generator], Image.Image]
GRAPHIC_KINDS = ("chart", "diagram", "screenshot", "text_card", "line_art")
COLOURS = ((255, 255, 255), (0, 0, 0), (245, 240, 230), (40, 90, 160), (128, 128, 128))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return COLOURS[int(rng.integers(len(COLOURS)))]


def _frame(share: float, noisy: bool = False) -> Edit:
    def edit(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return gen.frame(img, share, _colour(rng), noise=8.0 if noisy else 0.0,
                         seed=int(rng.integers(1 << 30)))
    return edit


def _caption(share: float) -> Edit:
    def edit(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        dark = bool(rng.integers(2))
        fill, ink = ((20, 20, 20), (250, 250, 250)) if dark else ((255, 255, 255), (0, 0, 0))
        side = ("top", "bottom")[int(rng.integers(2))]
        text = f"example.test {words(rng, 3)}"
        return gen.caption(img, share, side, text=text, fill=fill, ink=ink)
    return edit


def _crop(share: float, even: bool) -> Edit:
    def edit(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        left, top = (0.5, 0.5) if even else (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
        return gen.crop_sides(img, share, left, top)
    return edit


def _crop_each_side(most: float) -> Edit:
    """Each of the four sides cut by its own share, drawn uniformly from 0 to `most`."""
    def edit(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        left, top, right, bottom = (float(v) for v in rng.uniform(0, most, 4))
        return img.crop((round(left * img.width), round(top * img.height),
                         img.width - round(right * img.width),
                         img.height - round(bottom * img.height)))
    return edit


# Edit kinds as reported: name -> edits drawn for it.
EDIT_KINDS: dict[str, list[Edit]] = {
    "frame 3-8% solid": [_frame(0.03), _frame(0.05), _frame(0.08)],
    "frame 10-20% solid": [_frame(0.1), _frame(0.15), _frame(0.2)],
    "frame 5-15% noisy": [_frame(0.05, True), _frame(0.1, True), _frame(0.15, True)],
    "letterbox / pillarbox": [lambda i, r: gen.letterbox(i, 16 / 9, _colour(r)),
                              lambda i, r: gen.letterbox(i, 0.6, _colour(r))],
    "caption 8-12%": [_caption(0.08), _caption(0.12)],
    "caption 15%": [_caption(0.15)],
    "caption 20-25%": [_caption(0.2), _caption(0.25)],
    "crop 3% centre": [_crop(0.03, True)],
    "crop 5% centre": [_crop(0.05, True)],
    "crop 5% off-centre": [_crop(0.05, False)],
    "crop 10% centre": [_crop(0.10, True)],
    "crop 10% off-centre": [_crop(0.10, False)],
    "crop 0-10% each side": [_crop_each_side(0.10), _crop_each_side(0.10)],
    "crop 15% centre": [_crop(0.15, True)],
}
# Unrelated images are wrapped in these (so the query-side variants run on decoys too).
DECOY_WRAPS: dict[str, Edit] = {
    "as served": lambda i, r: i,
    "framed": _frame(0.1),
    "captioned": _caption(0.15),
    "letterboxed": lambda i, r: gen.letterbox(i, 16 / 9, (0, 0, 0)),
}


def served(img: Image.Image, rng: np.random.Generator) -> bytes:
    """As a re-post arrives: JPEG q80, a third of them resized to 75% first."""
    if rng.uniform() < 1 / 3:
        img = img.resize((round(img.width * 0.75), round(img.height * 0.75)),
                         Image.Resampling.LANCZOS)
    return gen.encode(img.convert("RGB"), "jpeg", quality=80)


@dataclass
class Original:
    label: str
    content: str  # photo | graphic
    image: Image.Image


def originals(quick: bool, seed: int = 0) -> list[Original]:
    """The list's originals; `seed` 0 is the set every reported run used, others draw new
    photos and graphics (seed s: generator seeds moved by 1,000 x s)."""
    sizes = ((1024, 768), (800, 600), (1280, 960), (640, 480), (900, 1200))
    n_photos, n_graphics = (8, 5) if quick else (24, 15)
    shift = 1000 * seed
    out = [Original(f"photo-{k}", "photo", gen.photo(100 + shift + k, sizes[k % len(sizes)])
                    .convert("RGB")) for k in range(n_photos)]
    for k in range(n_graphics):
        kind = GRAPHIC_KINDS[k % len(GRAPHIC_KINDS)]
        out.append(Original(f"{kind}-{k}", "graphic",
                            gen.sample(kind, 200 + shift + k, k).convert("RGB")))
    return out


def list_refs(items: list[Original], crops: bool,
              crop_types: tuple[str, ...] = ("pdq",)) -> list[KnownRef]:
    """The hotline's list: md5, sha256 and PDQ of each original (as `trawl hash` writes), plus
    the `crop_types` hashes of each crop variant when `crops`."""
    refs: list[KnownRef] = []
    for item in items:
        data = gen.encode(item.image, "png")
        d = hash_image(data, fast=False, variants=False, crops=crops)
        rows: list[tuple[str, str | None, str | None]] = [
            ("md5", d.md5, None), ("sha256", d.sha256, None), ("pdq", d.pdq, None)]
        for v in d.variants:
            rows += [(t, v.perceptual()[t], v.name) for t in crop_types
                     if t in v.perceptual() and (t != "pdq" or v.pdq_quality >= 50)]
        for hash_type, value, variant in rows:
            refs.append(KnownRef(len(refs) + 1, "bench", hash_type, str(value), item.label,
                                 variant=variant))
    return refs


SETUPS = ("before", "variants", "variants+crops")


def matches_for(setup: str, matchers: dict[bool, Matcher], d: Digests) -> list[Match]:
    if setup == "before":
        return matchers[False].match(d, variants=())
    return matchers[setup == "variants+crops"].match(d)


def recall(items: list[Original], matchers: dict[bool, Matcher], quick: bool,
           only: str = "", seed: int = 0) -> list[str]:
    """Recall per edit kind (only the kinds whose name contains `only`, when given); `seed`
    moves the edits' random draws (colours, sides, offsets, resizes)."""
    rng = np.random.default_rng(14 + 1000 * seed)
    counts: dict[tuple[str, str, str], list[int]] = {}  # (kind, content, setup) -> [high, any, n]
    wrong: dict[str, list[int]] = {s: [0, 0] for s in SETUPS}  # matched another item
    kinds = [kind for kind in EDIT_KINDS if only in kind]
    for kind, edits in ((k, EDIT_KINDS[k]) for k in kinds):
        for item in items:
            for edit in edits[:: 2 if quick else 1]:
                d = hash_image(served(edit(item.image, rng), rng))
                for setup in SETUPS:
                    found = matches_for(setup, matchers, d)
                    own = [m for m in found if m.label == item.label]
                    c = counts.setdefault((kind, item.content, setup), [0, 0, 0])
                    c[0] += any(m.tier == "high" for m in own)
                    c[1] += bool(own)
                    c[2] += 1
                    for tier_index, tier in enumerate(("high", "low")):
                        wrong[setup][tier_index] += len({m.label for m in found if
                                                         m.label != item.label and m.tier == tier})
    lines = [
        "| edit | content | n | " + " | ".join(f"{s}: high / any %" for s in SETUPS) + " |",
        "|---|---|---:|" + "---|" * len(SETUPS),
    ]
    for kind in kinds:
        for content in ("photo", "graphic"):
            cells = []
            n = 0
            for setup in SETUPS:
                high, anyt, n = counts[(kind, content, setup)]
                cells.append(f"{100 * high / n:.0f} / {100 * anyt / n:.0f}")
            lines.append(f"| {kind} | {content} | {n} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Copies matched to another item (high / low): " + "; ".join(
        f"{s} {w[0]} / {w[1]}" for s, w in wrong.items()))
    return lines


def decoys(quick: bool) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(99)
    out: list[tuple[str, bytes]] = []
    for image in realimages.real_images(quick):
        out.append((f"real {image.kind}", image.data))
        if image.kind == "small":
            continue
        with Image.open(io.BytesIO(image.data)) as opened:
            img = opened.convert("RGB")
        for wrap_name, wrap in list(DECOY_WRAPS.items())[1:]:
            out.append((f"real {image.content}, {wrap_name}", served(wrap(img, rng), rng)))
    for k in range(10 if quick else 40):  # generated, not in the list, edited like the copies
        img = (gen.photo(5000 + k) if k % 2 == 0 else
               gen.sample(GRAPHIC_KINDS[k % len(GRAPHIC_KINDS)], 6000 + k, k)).convert("RGB")
        for edits in EDIT_KINDS.values():
            out.append(("generated, edited", served(edits[0](img, rng), rng)))
    return out


def false_hits(matchers: dict[bool, Matcher], quick: bool) -> list[str]:
    sets = decoys(quick)
    per: dict[str, dict[str, list[int]]] = {}
    for group, data in sets:
        d = hash_image(data)
        for setup in SETUPS:
            found = matches_for(setup, matchers, d)
            for name in (group, "all decoys"):
                c = per.setdefault(name, {}).setdefault(setup, [0, 0, 0])
                c[0] += len({m.label for m in found if m.tier == "high"})
                c[1] += len({m.label for m in found if m.tier == "low"})
                c[2] += 1
    lines = [
        "| decoys | n | " + " | ".join(f"{s}: high / low per 1,000" for s in SETUPS) + " |",
        "|---|---:|" + "---|" * len(SETUPS),
    ]
    for name in sorted(per, key=lambda k: (k == "all decoys", k)):
        cells = []
        for setup in SETUPS:
            high, low, n = per[name][setup]
            cells.append(f"{1000 * high / n:.1f} / {1000 * low / n:.1f}")
        lines.append(f"| {name} | {per[name][SETUPS[0]][2]} | " + " | ".join(cells) + " |")
    return lines


def cost(items: list[Original], rounds: int, quick: bool) -> list[str]:
    rng = np.random.default_rng(5)
    photos = [i for i in realimages.photo_images(quick) if i.kind in ("photo JPEG", "photo PNG")]
    groups = {
        "real photo JPEG (no border)": [i.data for i in photos if i.kind == "photo JPEG"],
        "real photo PNG (no border)": [i.data for i in photos if i.kind == "photo PNG"],
        "generated photo JPEG (no border)": [served(i.image, rng) for i in items
                                             if i.content == "photo"],
        "edited copies (frames, bars, captions)": [
            served(edits[0](i.image, rng), rng) for i in items
            for kind, edits in EDIT_KINDS.items() if not kind.startswith("crop")],
    }
    for data in (d for g in groups.values() for d in g):  # warm-up
        hash_image(data)
        hash_image(data, variants=False)
    times = {name: np.zeros((rounds, 2)) for name in groups}
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        order = [(True, 0), (False, 1)]
        for on, column in order if r % 2 == 0 else order[::-1]:
            for name, datas in groups.items():
                c0 = time.process_time()
                for data in datas:
                    hash_image(data, variants=on)
                times[name][r, column] = (time.process_time() - c0) / len(datas)
        loads.append(os.getloadavg()[0])
    lines = [
        "| images | n | variants off ms/img min / median / max | variants on ms/img "
        "min / median / max | extra ms/img median | rate on / off, median (min-max) |",
        "|---|---:|---|---|---:|---|",
    ]
    for name, datas in groups.items():
        on, off = times[name][:, 0] * 1000, times[name][:, 1] * 1000
        ratio = off / on
        lines.append(
            f"| {name} | {len(datas)} | {off.min():.2f} / {np.median(off):.2f} / "
            f"{off.max():.2f} | {on.min():.2f} / {np.median(on):.2f} / {on.max():.2f} | "
            f"{np.median(on - off):+.2f} | {100 * np.median(ratio):.0f}% "
            f"({100 * ratio.min():.0f}-{100 * ratio.max():.0f}%) |")
    lines.append("")
    lines.append(f"{rounds} rounds, alternated; process CPU time; 1-minute load average "
                 + " -> ".join(f"{v:.1f}" for v in loads))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets, for a smoke test")
    parser.add_argument("--rounds", type=int, default=0, help="cost rounds (default 5, quick 3)")
    parser.add_argument("--crop-types", default="pdq,phash",
                        help="hash types stored for each crop (comma-separated; default: what `trawl hash "
                        "--variants crops` writes by default)")
    parser.add_argument("--kinds", default="",
                        help="recall: only the edit kinds whose name contains this (e.g. crop)")
    parser.add_argument("--seed", type=int, default=0,
                        help="recall: another set of originals and edits (0: the reported set)")
    parser.add_argument("--sections", default="recall,false,cost",
                        help="comma-separated: recall, false, cost")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    started = time.monotonic()
    print(f"Load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"{'quick' if args.quick else 'full'} run, seed {args.seed}\n")
    items = originals(args.quick, args.seed)
    matchers = {crops: Matcher.build(
        list_refs(items, crops, tuple(args.crop_types.split(",")))) for crops in (False, True)}
    print(f"{len(items)} originals ({sum(i.content == 'photo' for i in items)} photos); list "
          f"without crops {len(matchers[False])} hashes, with crops {len(matchers[True])}\n")
    if "recall" in sections:
        print("### Recall on edited copies\n")
        print("\n".join(recall(items, matchers, args.quick, args.kinds, args.seed)) + "\n", flush=True)
    if "false" in sections:
        print("### False hits on unrelated images\n")
        print("\n".join(false_hits(matchers, args.quick)) + "\n", flush=True)
    if "cost" in sections:
        print("### What the variants cost hash_image\n")
        print("\n".join(cost(items, args.rounds or (3 if args.quick else 5), args.quick)) + "\n")
    print(f"Took {time.monotonic() - started:.0f} s; load average at end: "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
