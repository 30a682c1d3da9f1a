"""How near an uncaptioned region of a crawled graphic lies to an unrelated item's stored picture,
by PDQ, pHash, dHash and the canonical form at once: the calibration of the corroborated
uncaption rule (matchers.confidence.UNCAPTION_*), own items against unrelated ones.

    python3 bench/calib_uncaption.py [--per-kind 100] [--extra 100] [--photos 60] [--seed 13000] [--out pairs.npz]

List: the bench's 30 graphics (bench_variants, seeds 0 and 1), `--per-kind` generated images of
each flat kind (line art, diagram, chart, pie chart, text card, banner, screenshot, icon) and
`--extra` more of the kinds that collided in calib_crops and calib_canonical (pie charts,
screenshots, banners), and `--photos` generated photos, hashed as `trawl hash --variants crops` hashes them. Of each item
the two stored pictures an uncaptioned copy can be: the image itself (`own`: PDQ, and the
pHash and dHash a list holds when asked for them, canonical `canon`) and its trim (`trim`: PDQ,
pHash, dHash, canonical `canon-trim`), when it has one.

Queries: every list item served as a re-post (bench_variants.served: JPEG q80, a third resized
to 75% first) as is, and with a caption band of 8, 12, 15, 20 and 25% (bench_variants' own
edit: a random side and colour); hashed as the crawl hashes them. Every query-side variant
whose name contains `uncaption` is a form (its PDQ, pHash, dHash, class, and its own canonical
form `<name>+canon`). Pairs: every (form, item, stored picture); the form's own item's are
true, every other item's unrelated. The rule under test is a condition on one pair: PDQ,
pHash and canonical distance to the same stored picture each within a bound.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_variants import _caption, originals, served  # noqa: E402
from crawler.sitegen import images as gen  # noqa: E402
from matchers.confidence import (  # noqa: E402
    CANON_THRESHOLD,
    UNCAPTION_CANON_REACH,
    UNCAPTION_PDQ_REACH,
    UNCAPTION_PHASH_AGREES,
    VARIANT_THRESHOLDS,
    classify,
    uncaption_rule_applies,
)
from matchers.decision import _canonical_form  # noqa: E402
from matchers.digests import CANON, is_canonical  # noqa: E402
from matchers.hashing import hash_image  # noqa: E402
from matchers.hashtypes import PDQ_QUALITY_THRESHOLD  # noqa: E402

KINDS = ("line_art", "diagram", "chart", "pie_chart", "text_card", "banner", "screenshot",
         "icon")
# The kinds whose hashes met other graphics' in calib_crops and calib_canonical: `--extra` more
# of each.
COLLIDING = ("pie_chart", "screenshot", "banner")
CAPTIONS = (0.08, 0.12, 0.15, 0.20, 0.25)
PICTURES = ("own", "trim")  # the stored pictures an uncaptioned region is compared with
NONE = 256  # the distance of a pair where either side lacks the hash
I16 = npt.NDArray[np.int16]


def _usable(pdq: str | None, quality: int | None) -> str | None:
    return pdq if (quality or 0) >= PDQ_QUALITY_THRESHOLD else None


def _words(hexes: list[str | None], bits: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    out = np.zeros((len(hexes), bits // 64), dtype=np.uint64)
    for i, h in enumerate(hexes):
        if h is not None:
            out[i] = [int(h[k:k + 16], 16) for k in range(0, len(h), 16)]
    return out, np.array([h is None for h in hexes])


def distances(a: list[str | None], b: list[str | None], bits: int) -> I16:
    """Hamming distances, every `a` against every `b`; NONE where either lacks the hash."""
    wa, ma = _words(a, bits)
    wb, mb = _words(b, bits)
    out = np.zeros((len(a), len(b)), dtype=np.int16)
    for k in range(bits // 64):
        out += np.bitwise_count(wa[:, None, k] ^ wb[None, :, k]).astype(np.int16)
    out[ma[:, None] | mb[None, :]] = NONE
    return out


def list_items(per_kind: int, extra: int, photos: int, seed: int) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = [
        (f"bench-{s}-{o.label}", o.image) for s in (0, 1)
        for o in originals(False, s) if o.content == "graphic"]
    for kind in KINDS:
        count = per_kind + (extra if kind in COLLIDING else 0)
        items += [(f"{kind}-{k}", gen.sample(kind, seed, k).convert("RGB"))
                  for k in range(count)]
    items += [(f"photo-{k}", gen.sample("photo", seed, k).convert("RGB")) for k in range(photos)]
    return items


def calibrate(per_kind: int, extra: int, photos: int, seed: int, out: str) -> None:
    started = time.monotonic()
    items = list_items(per_kind, extra, photos, seed)
    kind_of = np.array([label.split("-")[0] for label, _ in items])
    # The stored pictures: [picture][type] -> one value (or None) per item.
    stored: dict[str, dict[str, list[str | None]]] = {
        p: {t: [] for t in ("pdq", "phash", "dhash", "canon")} for p in PICTURES}
    for _, image in items:
        d = hash_image(gen.encode(image, "png"), fast=False, variants=False, crops=True)
        by_name = {v.name: v for v in d.variants}
        trim = by_name.get("trim")
        own = stored["own"]
        own["pdq"].append(_usable(d.pdq, d.pdq_quality))
        own["phash"].append(d.phash)
        own["dhash"].append(d.dhash)
        own["canon"].append(_usable(by_name[CANON].pdq, by_name[CANON].pdq_quality)
                            if CANON in by_name else None)
        t = stored["trim"]
        t["pdq"].append(_usable(trim.pdq, trim.pdq_quality) if trim else None)
        t["phash"].append(trim.phash if trim else None)
        t["dhash"].append(trim.dhash if trim else None)
        canon_trim = by_name.get(f"{CANON}-trim")
        t["canon"].append(_usable(canon_trim.pdq, canon_trim.pdq_quality)
                          if canon_trim else None)
    print(f"{len(items)} list items ({Counter(kind_of.tolist())}), "
          f"{sum(v is not None for v in stored['trim']['pdq'])} with a trim "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    rng = np.random.default_rng(seed)
    wraps = {"as served": None, **{f"caption {int(100 * s)}%": _caption(s) for s in CAPTIONS}}
    f_item, f_wrap, f_class, f_name, f_scope = [], [], [], [], []
    f_hash: dict[str, list[str | None]] = {t: [] for t in ("pdq", "phash", "dhash", "canon")}
    queries = 0
    for number, (_, image) in enumerate(items):
        for wrap_name, wrap in wraps.items():
            edited = image if wrap is None else wrap(image, rng)
            d = hash_image(served(edited, rng))
            queries += 1
            for position, v in enumerate(d.variants):
                if "uncaption" not in v.name or is_canonical(v.name):
                    continue
                canon = _canonical_form(d.variants, position)  # as the matcher pairs them
                f_item.append(number)
                f_wrap.append(wrap_name)
                f_class.append(classify(v.width, v.height, v.flatness))
                f_scope.append(uncaption_rule_applies(v.width, v.height, v.flatness))
                f_name.append(v.name)
                f_hash["pdq"].append(_usable(v.pdq, v.pdq_quality))
                f_hash["phash"].append(v.phash)
                f_hash["dhash"].append(v.dhash)
                f_hash["canon"].append(_usable(canon.pdq, canon.pdq_quality) if canon else None)
    fi = np.array(f_item)
    print(f"{queries} queries, {len(fi)} uncaption forms "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    bits = {"pdq": 256, "phash": 64, "dhash": 64, "canon": 256}
    d_all = {f"{p}_{t}": distances(f_hash[t], stored[p][t], bits[t])
             for p in PICTURES for t in bits}
    own = fi[:, None] == np.arange(len(items))[None, :]
    if out:
        np.savez_compressed(out, own=own, fi=fi, f_wrap=np.array(f_wrap),
                            f_class=np.array(f_class), f_name=np.array(f_name),
                            f_scope=np.array(f_scope),
                            kind_of=kind_of, **d_all)
    report(d_all, own, fi, np.array(f_wrap), np.array(f_class), np.array(f_scope), kind_of)
    print(f"\nTook {time.monotonic() - started:.0f} s")


def _pct(values: npt.NDArray[np.int16]) -> str:
    if values.size == 0:
        return "-"
    return " / ".join(f"{np.percentile(values, q):.0f}" for q in (0, 1, 5, 50))


def report(d: dict[str, I16], own: npt.NDArray[np.bool_], fi: npt.NDArray[np.int_],
           f_wrap: npt.NDArray[np.str_], f_class: npt.NDArray[np.str_],
           f_scope: npt.NDArray[np.bool_], kind_of: npt.NDArray[np.str_]) -> None:
    unrelated = ~own
    flat = np.isin(f_class, ("graphic", "icon"))[:, None]
    scope = f_scope[:, None]
    print(f"\nUnrelated (form, item) pairs: {int(unrelated.sum()):,} "
          f"({int((unrelated & flat).sum()):,} with a graphic or icon form, "
          f"{int((unrelated & scope).sum()):,} with a form the rule may grade); own pairs: "
          f"{int(own.sum()):,}. Form classes: {dict(Counter(f_class.tolist()))}\n")
    pq = {p: d[f"{p}_pdq"] for p in PICTURES}
    ph = {p: d[f"{p}_phash"] for p in PICTURES}
    dh = {p: d[f"{p}_dhash"] for p in PICTURES}
    can = {p: d[f"{p}_canon"] for p in PICTURES}
    # What today's decision already puts in the high tier: a graphic form's PDQ within the
    # variant threshold, or its canonical form within CANON_THRESHOLD (icons: low tier).
    graphic = (f_class == "graphic")[:, None]
    today = {p: graphic & ((pq[p] <= VARIANT_THRESHOLDS["pdq"]) | (can[p] <= CANON_THRESHOLD))
             for p in PICTURES}

    print("Distances to the same stored picture (percentiles 0 / 1 / 5 / 50; 256 = the pair "
          "lacks the hash), graphic and icon forms:\n")
    print("| pairs | picture | selection | n | PDQ | pHash | dHash | canonical |")
    print("|---|---|---|---:|---|---|---|---|")
    for p in PICTURES:
        for who, sel in (("own", own & flat), ("unrelated", unrelated & flat),
                         ("unrelated, not high today", unrelated & flat & ~today[p])):
            for what, cond in (("all", np.ones_like(sel)), ("pHash <= 6", ph[p] <= 6),
                               ("PDQ <= 40", pq[p] <= 40), ("canonical <= 24", can[p] <= 24)):
                s = sel & cond
                print(f"| {who} | {p} | {what} | {int(s.sum()):,} | {_pct(pq[p][s])} | "
                      f"{_pct(ph[p][s])} | {_pct(dh[p][s])} | {_pct(can[p][s])} |")

    print("\nRules on one stored picture (own or trim), forms the rule may grade "
          "(uncaption_rule_applies); found = own captioned copies with a form passing on its "
          "own item; 'beyond today' = of those, copies no form of which is high today; "
          "unrelated = (form, item) pairs passing; 'new high' = of those, pairs not high "
          "today on either picture:\n")
    captioned = np.array([w.startswith("caption") for w in f_wrap])
    in_scope = scope[:, 0] & captioned
    copies = {(int(fi[k]), str(f_wrap[k])) for k in np.flatnonzero(in_scope)}
    high_today = np.zeros_like(own)
    for p in PICTURES:
        high_today |= today[p]
    found_today = {(int(fi[k]), str(f_wrap[k])) for k in np.flatnonzero((high_today & own).any(axis=1))}
    print("| rule | own copies found | beyond today | unrelated pairs | new high | their kinds |")
    print("|---|---:|---:|---:|---:|---|")
    grid = [(UNCAPTION_PDQ_REACH, UNCAPTION_PHASH_AGREES, UNCAPTION_CANON_REACH)]
    grid += [(q, h, c) for q in (40, 48, 56) for h in (2, 4) for c in (20, 22, 24, 28)
             if (q, h, c) != grid[0]]
    grid += [(40, 2, NONE - 1), (40, NONE - 1, 20), (NONE - 1, 2, 20), (40, NONE - 1, NONE - 1),
             (NONE - 1, 2, NONE - 1), (NONE - 1, NONE - 1, 20)]
    for q, h, c in grid:
        hit = np.zeros_like(own)
        for p in PICTURES:
            hit |= (pq[p] <= q) & (ph[p] <= h) & (can[p] <= c)
        hit &= scope
        found = {(int(fi[k]), str(f_wrap[k])) for k in np.flatnonzero((hit & own).any(axis=1))
                 if in_scope[k]}
        bad = hit & unrelated
        new = bad & ~high_today
        kinds = Counter(f"{kind_of[fi[f]]}->{kind_of[i]}" for f, i in np.argwhere(new).tolist())
        name = ", ".join(f"{t} <= {v}" for t, v in (("PDQ", q), ("pHash", h), ("canonical", c))
                         if v < NONE - 1)
        mark = " (the rule)" if (q, h, c) == grid[0] else ""
        print(f"| {name}{mark} | {len(found)} of {len(copies)} | {len(found - found_today)} | "
              f"{int(bad.sum())} | {int(new.sum())} | "
              f"{', '.join(f'{k} {n}' for k, n in kinds.most_common(4))} |")

    print("\nNearest unrelated pairs not high today, forms the rule may grade (PDQ <= 64, "
          "pHash <= 8, canonical <= 40 on one picture; by the largest share of the rule's "
          "bound):\n")
    rows = []
    for p in PICTURES:
        near = (pq[p] <= 64) & (ph[p] <= 8) & (can[p] <= 40) & unrelated & scope & ~high_today
        for f, i in np.argwhere(near).tolist():
            rows.append((int(pq[p][f, i]), int(ph[p][f, i]), int(can[p][f, i]),
                         int(dh[p][f, i]), p, f"{kind_of[fi[f]]} {fi[f]} {f_wrap[f]} "
                         f"({f_class[f]}) -> {kind_of[i]} {i}"))
    key = lambda r: max(r[0] / UNCAPTION_PDQ_REACH, r[1] / max(UNCAPTION_PHASH_AGREES, 1),  # noqa: E731
                        r[2] / UNCAPTION_CANON_REACH)
    for r in sorted(rows, key=lambda r: (key(r), r))[:15]:
        print(f"    PDQ {r[0]}, pHash {r[1]}, canonical {r[2]}, dHash {r[3]} ({r[4]}): {r[5]}")
    if not rows:
        print("    none")
    print("\nIcon-sized regions (icon class, no side over 256 px; outside the rule's scope): "
          "unrelated pairs the rule's bounds would pass:", end=" ")
    small = (np.isin(f_class, ("icon",)) & ~f_scope)[:, None]
    hit = np.zeros_like(own)
    for p in PICTURES:
        hit |= ((pq[p] <= UNCAPTION_PDQ_REACH) & (ph[p] <= UNCAPTION_PHASH_AGREES)
                & (can[p] <= UNCAPTION_CANON_REACH))
    print(int((hit & small & unrelated).sum()),
          dict(Counter(f"{kind_of[fi[f]]}->{kind_of[i]}"
                       for f, i in np.argwhere(hit & small & unrelated).tolist())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--extra", type=int, default=100,
                        help="more pie charts, screenshots and banners (the kinds that collide)")
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13000)
    parser.add_argument("--out", default="", help="save the distance matrices (.npz)")
    args = parser.parse_args()
    calibrate(args.per_kind, args.extra, args.photos, args.seed, args.out)


if __name__ == "__main__":
    main()
