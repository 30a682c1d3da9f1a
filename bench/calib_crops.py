"""How far a crawled graphic lies from the stored crops of a crop-augmented list: its own item's
(the copy is a crop of up to 10% per side) against other graphics' (unrelated), per hash type;
what any rule over those distances would find, and what it would let through.

    python3 bench/calib_crops.py [--per-kind 60] [--seed 12000] [--out pairs.npz]
    python3 bench/calib_crops.py --bound     # PDQ against a stored crop whose edges are off by 0-2%
    python3 bench/calib_crops.py --align     # a query-side alignment search, own vs unrelated

List: the bench's 30 graphics (bench_variants, seeds 0 and 1) and `--per-kind` generated
graphics of each flat kind but icons (line art, diagram, chart, pie chart, text card, banner,
screenshot), hashed as `trawl hash --variants crops` hashes them: PDQ, pHash and dHash of
each of LIST_CROPS, the canonical PDQ of each crop (`canon-crop-...`) and the image's own PDQ.
Queries: every list graphic cropped as bench_variants crops copies (0-10% per side twice, 5%
off-centre, 3/5/10% centred) and served as it serves them (JPEG q80, a third resized to 75%
first), hashed as the crawl hashes them: the image and its query-side variants (trim, ...).
Pairs: every (graphic query form, stored crop); the query's own item's are true, every other
item's unrelated. A rule is a condition on one pair (the same stored crop); a query counts
as found when a pair of its own item passes, or when a photo-class form of it meets an own
crop by pHash (photos are matched as today); an unrelated (query, item) pair counts once.

--bound: for each of 60 graphics, 4 crops of 0-10% per side served as above, against the
original's crop at the same box and at boxes whose four edges are each moved by 0.5-2% of
the side (away or inwards at random): the share within each hash's threshold. What a
denser grid of stored crops could reach at best.

--align: what aligning the copy on the query side would find (a feasibility study, not what
the matcher does). For each of 60 graphics (plus 20 each of pie charts, screenshots and
banners, the kinds that collided above), 2 crops of 0-10% per side served as above; for
each, its own item's stored crops within pHash 8 and other items' within pHash 10 (up to
`--candidates` each, nearest first) are candidates, and the copy's own sub-crops (each side
cut by 0 to `--budget` of the copy) are searched by coordinate descent on the PDQ distance
to the candidate's stored PDQ (steps 2, 1, 0.5, 0.25%). Prints the best distance reached:
own (best candidate per copy) against unrelated (every candidate).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_variants import EDIT_KINDS, GRAPHIC_KINDS, originals, served  # noqa: E402
from crawler.sitegen import images as gen  # noqa: E402
from matchers.confidence import CANON_THRESHOLD, VARIANT_THRESHOLDS, classify  # noqa: E402
from matchers.digests import is_canonical  # noqa: E402
from matchers.hashing import hash_image  # noqa: E402
from matchers.hashtypes import PDQ_QUALITY_THRESHOLD  # noqa: E402
from matchers.perceptual import reference_hashes  # noqa: E402
from matchers.variants import LIST_CROPS, canonical_variant  # noqa: E402

KINDS = ("line_art", "diagram", "chart", "pie_chart", "text_card", "banner", "screenshot")
QUERY_KINDS = ("crop 0-10% each side", "crop 5% off-centre", "crop 3% centre",
               "crop 5% centre", "crop 10% centre")
TARGET_KINDS = ("crop 0-10% each side", "crop 5% off-centre")
NO_PDQ = 256  # the distance of a pair where either side has no usable PDQ
U64 = npt.NDArray[np.uint64]
I16 = npt.NDArray[np.int16]


def _u64(hexes: list[str]) -> U64:
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def _pdq(hexes: list[str | None]) -> U64:
    out = np.zeros((len(hexes), 4), dtype=np.uint64)
    for i, h in enumerate(hexes):
        if h is not None:
            out[i] = [int(h[k:k + 16], 16) for k in range(0, 64, 16)]
    return out


def _dist64(a: U64, b: U64) -> I16:
    return np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.int16)


def _dist256(a: list[str | None], b: list[str | None]) -> I16:
    pa, pb = _pdq(a), _pdq(b)
    out = np.zeros((len(a), len(b)), dtype=np.int16)
    for k in range(4):
        out += np.bitwise_count(pa[:, None, k] ^ pb[None, :, k]).astype(np.int16)
    missing = np.array([h is None for h in a])[:, None] | np.array([h is None for h in b])[None, :]
    out[missing] = NO_PDQ
    return out


def _usable(pdq: str | None, quality: int | None) -> str | None:
    return pdq if (quality or 0) >= PDQ_QUALITY_THRESHOLD else None


def list_graphics(per_kind: int, seed: int) -> list[tuple[str, Image.Image]]:
    items = [(f"bench-{s}-{o.label}", o.image) for s in (0, 1)
             for o in originals(False, s) if o.content == "graphic"]
    for kind in KINDS:
        items += [(f"{kind}-{k}", gen.sample(kind, seed, k).convert("RGB"))
                  for k in range(per_kind)]
    return items


def calibrate(per_kind: int, seed: int, out: str) -> None:
    started = time.monotonic()
    items = list_graphics(per_kind, seed)
    kind_of = np.array([label.split("-")[0] for label, _ in items])
    # Stored crops, one per (item, crop): what the list holds.
    c_item, c_pdq, c_phash, c_dhash, c_canon, i_pdq = [], [], [], [], [], []
    for number, (_, image) in enumerate(items):
        d = hash_image(gen.encode(image, "png"), fast=False, variants=False, crops=True)
        i_pdq.append(_usable(d.pdq, d.pdq_quality))
        canon = {v.name: v.pdq for v in d.variants if is_canonical(v.name)}
        for v in d.variants:
            if v.name in LIST_CROPS:
                c_item.append(number)
                c_pdq.append(_usable(v.pdq, v.pdq_quality))
                c_phash.append(v.phash)
                c_dhash.append(v.dhash)
                c_canon.append(canon.get(f"canon-{v.name}"))
    s_item = np.array(c_item)
    print(f"{len(items)} list graphics, {len(c_item)} stored crops "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    # Queries and their graphic forms (the image, its non-canonical variants).
    rng = np.random.default_rng(seed)
    q_item, q_kind, as_photo = [], [], set()
    f_query, f_variant, f_pdq, f_phash, f_dhash, f_canon = [], [], [], [], [], []
    for number, (_, image) in enumerate(items):
        mine = _u64([c_phash[k] for k in np.nonzero(s_item == number)[0]])
        for kind in QUERY_KINDS:
            for edit in EDIT_KINDS[kind]:
                d = hash_image(served(edit(image, rng), rng))
                query = len(q_item)
                q_item.append(number)
                q_kind.append(kind)
                canon = next((v.pdq for v in d.variants if v.name == "canon"), None)
                forms = [(False, _usable(d.pdq, d.pdq_quality), d.phash, d.dhash,
                          classify(d.width, d.height, d.flatness))]
                forms += [(True, _usable(v.pdq, v.pdq_quality), v.phash, v.dhash,
                           classify(v.width, v.height, v.flatness))
                          for v in d.variants if not is_canonical(v.name)]
                for variant, pdq, phash, dhash, cls in forms:
                    if phash is None or dhash is None:
                        continue
                    if cls == "photo":  # matched as today: pHash on a photo is trusted
                        if (np.bitwise_count(_u64([phash])[0] ^ mine) <= 6).any():
                            as_photo.add(query)
                    elif cls == "graphic":
                        f_query.append(query)
                        f_variant.append(variant)
                        f_pdq.append(pdq)
                        f_phash.append(phash)
                        f_dhash.append(dhash)
                        f_canon.append(canon)
    fq, qi = np.array(f_query), np.array(q_item)
    print(f"{len(q_item)} queries ({len(as_photo)} found as photos), {len(fq)} graphic "
          f"query forms ({time.monotonic() - started:.0f} s)", flush=True)
    d = {
        "ph": _dist64(_u64(f_phash), _u64(c_phash)),
        "dh": _dist64(_u64(f_dhash), _u64(c_dhash)),
        "pq": _dist256(f_pdq, c_pdq),
        "full": _dist256(f_pdq, [i_pdq[i] for i in c_item]),  # the item's own PDQ
        "can": _dist256(f_canon, c_canon),  # query canon vs the crop's canon-crop-...
    }
    own = qi[fq][:, None] == s_item[None, :]
    if out:
        np.savez_compressed(out, own=own, fq=fq, fv=np.array(f_variant), s_item=s_item,
                            q_item=qi, q_kind=np.array(q_kind), kind_of=kind_of,
                            as_photo=np.array(sorted(as_photo)), **d)
    report(d, own, fq, np.array(f_variant), s_item, qi, q_kind, as_photo, kind_of)
    print(f"\nTook {time.monotonic() - started:.0f} s")


def report(d: dict[str, I16], own: npt.NDArray[np.bool_], fq: npt.NDArray[np.int_],
           fv: npt.NDArray[np.bool_], s_item: npt.NDArray[np.int_], q_item: npt.NDArray[np.int_],
           q_kind: list[str], as_photo: set[int], kind_of: npt.NDArray[np.str_]) -> None:
    ph, dh, pq, full, can = d["ph"], d["dh"], d["pq"], d["full"], d["can"]
    today = pq <= np.where(fv, VARIANT_THRESHOLDS["pdq"], 31)[:, None]
    rules = {
        "PDQ <= 31 (28 for a variant): today": today,
        "PDQ <= 34": pq <= 34,
        "PDQ <= 40": pq <= 40,
        "pHash <= 6 alone (dropped since 6173b34)": ph <= 6,
        "pHash <= 6, dHash <= 4": (ph <= 6) & (dh <= 4),
        "pHash <= 6, dHash <= 8": (ph <= 6) & (dh <= 8),
        "pHash <= 4, PDQ <= 62": (ph <= 4) & (pq <= 62),
        "pHash <= 6, PDQ <= 48": (ph <= 6) & (pq <= 48),
        "pHash <= 6, PDQ <= 70": (ph <= 6) & (pq <= 70),
        "pHash <= 4, dHash <= 4, PDQ <= 40": (ph <= 4) & (dh <= 4) & (pq <= 40),
        "pHash <= 6, dHash <= 8, PDQ <= 70": (ph <= 6) & (dh <= 8) & (pq <= 70),
        "pHash <= 6, dHash <= 8, item's PDQ <= 80": (ph <= 6) & (dh <= 8) & (full <= 80),
        f"pHash <= 6, canonical <= {CANON_THRESHOLD}": (ph <= 6) & (can <= CANON_THRESHOLD),
        "pHash <= 6, canonical <= 32": (ph <= 6) & (can <= 32),
    }
    n_q = len(q_item)
    kinds = list(dict.fromkeys(q_kind))
    is_kind = {k: np.array([q == k for q in q_kind]) for k in kinds}
    target = np.isin(np.array(q_kind), TARGET_KINDS)
    bench = np.char.startswith(kind_of[q_item], "bench")
    n_items = len(kind_of)
    print(f"\nUnrelated (graphic query, list item) pairs: {len(np.unique(fq)) * (n_items - 1):,}; "
          f"unrelated (form, stored crop) pairs: {int((~own).sum()):,}\n")
    print("| rule (one stored crop) | " + " | ".join(f"{k} %" for k in kinds)
          + " | the two off-centre kinds, bench graphics % | unrelated (query, item) pairs"
          " | their items' kinds |")
    print("|---|" + "---:|" * (len(kinds) + 2) + "---|")
    for name, ok in rules.items():
        found = np.zeros(n_q, dtype=bool)
        found[sorted(as_photo)] = True
        rows, _ = np.nonzero(ok & own)
        found[fq[rows]] = True
        rows, cols = np.nonzero(ok & ~own)
        unrelated = {(int(fq[r]), int(s_item[c])) for r, c in zip(rows, cols, strict=True)}
        by_kind = Counter(str(kind_of[i]) for _, i in unrelated)
        cells = [f"{100 * found[is_kind[k]].mean():.0f}" for k in kinds]
        print(f"| {name} | " + " | ".join(cells)
              + f" | {100 * found[target & bench].mean():.0f} | {len(unrelated)} | "
              + ", ".join(f"{k} {n}" for k, n in by_kind.most_common()) + " |")
    near = ph <= 6
    print("\nPairs with pHash <= 6 on one stored crop: the other distances of the same pair "
          "(PDQ, canonical: 256 = no usable hash), percentiles 0 / 1 / 5 / 50 / 95\n")
    print("| pairs | n | dHash | PDQ | item's own PDQ | canonical |")
    print("|---|---:|---|---|---|---|")
    for label, mask in (("own item", near & own), ("unrelated", near & ~own),
                        ("unrelated, no pie charts",
                         near & ~own & (kind_of[s_item] != "pie_chart")[None, :])):
        cells = [" / ".join(f"{x:.0f}" for x in np.percentile(a[mask], [0, 1, 5, 50, 95]))
                 for a in (dh, pq, full, can)]
        print(f"| {label} | {int(mask.sum()):,} | " + " | ".join(cells) + " |")


def bound(seed: int) -> None:
    """The same box and boxes moved by 0.5-2% per edge: the best a denser grid can do."""
    rng = np.random.default_rng(seed)
    images = [o.image for s in (0, 1) for o in originals(False, s) if o.content == "graphic"]
    images += [gen.sample(k, seed + 1000, i).convert("RGB") for k in GRAPHIC_KINDS
               for i in range(6)]
    offsets = (0.0, 0.005, 0.01, 0.015, 0.02)
    rows: list[tuple[float, int, int, int, int]] = []
    for image in images:
        grey, rgb = image.convert("L"), np.asarray(image)
        w, h = image.size
        for _ in range(4):
            cuts = rng.uniform(0, 0.10, 4)
            box = (round(cuts[0] * w), round(cuts[1] * h), w - round(cuts[2] * w),
                   h - round(cuts[3] * h))
            q = hash_image(served(image.crop(box), rng))
            if classify(q.width, q.height, q.flatness) != "graphic":
                continue
            q_canon = next((v.pdq for v in q.variants if v.name == "canon"), None)
            for off in offsets:
                sign = rng.choice([-1, 1], 4)
                moved = [box[k] + sign[k] * off * (w, h)[k % 2] for k in range(4)]
                b = (max(0, round(moved[0])), max(0, round(moved[1])),
                     min(w, round(moved[2])), min(h, round(moved[3])))
                ref = reference_hashes(grey.crop(b),
                                       np.ascontiguousarray(rgb[b[1]:b[3], b[0]:b[2]]))
                canon = canonical_variant(grey.crop(b), "canon", 1.0).pdq
                usable = (q.pdq_quality or 0) >= PDQ_QUALITY_THRESHOLD
                rows.append((off, _hex_dist(q.pdq if usable else None, ref.pdq),
                             _hex_dist(q.phash, ref.phash), _hex_dist(q.dhash, ref.dhash),
                             _hex_dist(q_canon, canon)))
    a = np.array(rows, dtype=float)
    print(f"{int((a[:, 0] == 0).sum())} graphic crops of 0-10% per side\n")
    print("| each edge off by | PDQ <= 31 % (median) | canonical <= "
          f"{CANON_THRESHOLD} % (median) | pHash <= 6 % | dHash <= 4 % |")
    print("|---|---|---|---:|---:|")
    for off in offsets:
        m = a[:, 0] == off
        print(f"| {100 * off:.1f}% | {100 * np.mean(a[m, 1] <= 31):.0f} ({np.median(a[m, 1]):.0f}) | "
              f"{100 * np.mean(a[m, 4] <= CANON_THRESHOLD):.0f} ({np.median(a[m, 4]):.0f}) | "
              f"{100 * np.mean(a[m, 2] <= 6):.0f} | {100 * np.mean(a[m, 3] <= 4):.0f} |")


def _pdq_bits(arr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    import pdqhash

    vector, _ = pdqhash.compute(np.ascontiguousarray(arr))
    return np.packbits(np.asarray(vector, dtype=np.uint8))


def _descend(rgb: npt.NDArray[np.uint8], target: npt.NDArray[np.uint8], budget: float) -> int:
    """The least PDQ distance to `target` over sub-crops of `rgb` (each side cut by 0 to
    `budget`), by coordinate descent."""
    h, w = rgb.shape[:2]

    def distance(cut: list[float]) -> int:
        box = (round(cut[0] * w), round(cut[1] * h), w - round(cut[2] * w), h - round(cut[3] * h))
        return int(np.unpackbits(_pdq_bits(rgb[box[1]:box[3], box[0]:box[2]]) ^ target).sum())

    cut = [0.0, 0.0, 0.0, 0.0]
    best = distance(cut)
    for step in (0.02, 0.01, 0.005, 0.0025):
        improved = True
        while improved:
            improved = False
            for side in range(4):
                for sign in (1, -1):
                    moved = list(cut)
                    moved[side] = min(budget, max(0.0, cut[side] + sign * step))
                    if moved != cut and (d := distance(moved)) < best:
                        best, cut, improved = d, moved, True
    return best


def align(seed: int, candidates: int, budget: float) -> None:
    import io

    from bench.bench_variants import _crop_each_side

    started = time.process_time()
    rng = np.random.default_rng(seed)
    images = [o.image for s in (0, 1) for o in originals(False, s) if o.content == "graphic"]
    kinds = ["bench"] * len(images)
    for kind, n, shift in [*((k, 6, 2000) for k in GRAPHIC_KINDS),
                           *((k, 20, 3000) for k in ("pie_chart", "screenshot", "banner"))]:
        images += [gen.sample(kind, seed + shift, i).convert("RGB") for i in range(n)]
        kinds += [kind] * n
    stored: list[tuple[int, npt.NDArray[np.uint8], int]] = []  # (item, PDQ bits, pHash)
    for number, image in enumerate(images):
        d = hash_image(gen.encode(image, "png"), fast=False, variants=False, crops=True)
        stored += [(number, np.packbits([int(c) for c in f"{int(v.pdq, 16):0256b}"]),
                    int(v.phash, 16)) for v in d.variants
                   if v.name in LIST_CROPS and v.pdq_quality >= PDQ_QUALITY_THRESHOLD]
    own: list[int] = []
    unrelated: list[int] = []
    close: Counter[str] = Counter()  # unrelated candidates brought within 31, by item kind
    for number, image in enumerate(images):
        for _ in range(2):
            data = served(_crop_each_side(0.10)(image, rng), rng)
            q = hash_image(data)
            if classify(q.width, q.height, q.flatness) != "graphic" or q.phash is None:
                continue
            with Image.open(io.BytesIO(data)) as opened:
                rgb = np.asarray(opened.convert("RGB"))
            near = sorted((((int(q.phash, 16) ^ ph).bit_count(), item, bits)
                           for item, bits, ph in stored), key=lambda t: t[0])
            mine = [bits for d, item, bits in near if item == number and d <= 8][:candidates]
            others = [(item, bits) for d, item, bits in near
                      if item != number and d <= 10][:candidates]
            own.append(min((_descend(rgb, bits, budget) for bits in mine), default=NO_PDQ))
            for item, bits in others:
                unrelated.append(_descend(rgb, bits, budget))
                if unrelated[-1] <= 31:
                    close[f"{kinds[number]} -> {kinds[item]}"] += 1
    o, u = np.array(own), np.array(unrelated)
    print(f"{len(images)} list graphics, {len(stored)} stored crops; {len(o)} graphic copies "
          f"cropped 0-10% per side; candidates {candidates}, budget {100 * budget:.0f}%\n")
    print(f"own (best candidate per copy): PDQ <= 31 after the search {100 * np.mean(o <= 31):.0f}%, "
          f"percentiles 5 / 25 / 50 / 75 / 95: "
          + " / ".join(f"{x:.0f}" for x in np.percentile(o, [5, 25, 50, 75, 95])))
    if u.size:
        print(f"unrelated candidates: {u.size}, least distance reached {u.min()}, percentiles "
              "0 / 5 / 50: " + " / ".join(f"{x:.0f}" for x in np.percentile(u, [0, 5, 50]))
              + f"; within 31: {int((u <= 31).sum())} ("
              + ", ".join(f"{k} {n}" for k, n in close.most_common()) + ")")
    print(f"\nCPU {time.process_time() - started:.0f} s")


def _hex_dist(a: str | None, b: str | None) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count() if a is not None and b is not None else NO_PDQ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=60, help="generated graphics per kind")
    parser.add_argument("--seed", type=int, default=12000)
    parser.add_argument("--out", default="", help="save the distance matrices (.npz)")
    parser.add_argument("--bound", action="store_true",
                        help="only the misplaced-edge table (what a denser grid could reach)")
    parser.add_argument("--align", action="store_true",
                        help="only the query-side alignment study")
    parser.add_argument("--candidates", type=int, default=6, help="--align: per copy and side")
    parser.add_argument("--budget", type=float, default=0.08,
                        help="--align: the most cut off each side of the copy")
    args = parser.parse_args()
    if args.align:
        align(args.seed, args.candidates, args.budget)
    elif args.bound:
        bound(args.seed)
    else:
        calibrate(args.per_kind, args.seed, args.out)


if __name__ == "__main__":
    main()
