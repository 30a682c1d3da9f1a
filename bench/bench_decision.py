"""Precision and recall of each perceptual hash type and of the match decision, per image kind.

Generates benign images of every kind crawler.sitegen.images draws (photo-like, line art,
diagrams, charts, pie charts, text cards, banners, app screenshots, icons) in each kind's usual
sizes, makes half of each kind "known", and queries with edited copies of the known ones
(positives; stored as PNG, so the edit is all that differs) and with the unrelated other half
(negatives). Prints Markdown
tables: per hash type at several thresholds, then the combined decision (matchers.decision)
for several known-list compositions, with and without the flatness measure in the digests.

    python3 bench/bench_decision.py                 # 150 images per kind, 2 processes
    python3 bench/bench_decision.py --per-kind 60   # quick look

Everything is seeded: the same command prints the same numbers (timings aside).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.sitegen import images
from matchers import confidence
from matchers.confidence import flatness
from matchers.decision import KnownRef, Match, Matcher
from matchers.digests import Digests
from matchers.hashing import hash_image
from matchers.hashtypes import PDQ_QUALITY_THRESHOLD

# The edits every hash should survive, and their common combination.
EDITS: dict[str, images.Edit] = {
    **images.EDITS,
    "resize50+jpeg60": lambda img: images.jpeg60(images.resize50(img)),
}
POSITIVE_EDITS = list(EDITS)
ALL_EDITS = POSITIVE_EDITS + list(images.ORIENTATION_EDITS)
PERCEPTUAL = ("phash", "dhash", "pdq")
STUDY_THRESHOLDS = {"phash": (4, 6, 8, 10), "dhash": (4, 6, 8, 10)}


@dataclass
class Sample:
    """One hashed image: a known original, an edited copy of one (positive) or unrelated."""

    kind: str
    role: str  # known | positive | negative
    edit: str | None
    source: int | None  # index into the known samples, for positives
    digests: Digests
    flatness: float
    dihedral: tuple[str, ...]


@dataclass
class Dataset:
    known: list[Sample] = field(default_factory=list)
    queries: list[Sample] = field(default_factory=list)


def describe(data: bytes, *, fast: bool = True) -> tuple[Digests, float, tuple[str, ...]]:
    """hash_image plus what Digests does not carry yet: flatness and PDQ's other orientations.

    Known images are hashed with fast=False (the reference libraries, as hash lists are
    made), queries with the crawler's default fast path.
    """
    digests = hash_image(data, fast=fast)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        flat = flatness(img)
        vectors, _quality = pdqhash.compute_dihedral(np.asarray(img.convert("RGB")))
    dihedral = tuple(np.packbits(v.astype(np.uint8)).tobytes().hex() for v in vectors[1:])
    return digests, flat, dihedral


def _hash_one(task: tuple[str, int, int]) -> list[Sample]:
    """Image `index` of `kind`: the unrelated original, or the known original and its edits."""
    kind, seed, index = task
    img = images.sample(kind, seed, index)
    original = images.encode_as_served(kind, img)
    if index % 2:
        return [Sample(kind, "negative", None, None, *describe(original))]
    samples = [Sample(kind, "known", None, None, *describe(original, fast=False))]
    for name in ALL_EDITS:
        copy = describe(images.encode(edited(img, name, seed, index), "png"))
        samples.append(Sample(kind, "positive", name, None, *copy))
    return samples


def edited(img: Image.Image, name: str, seed: int, index: int) -> Image.Image:
    """The edited copy; a crop takes its 3% from the two sides in a seeded random split."""
    if name == "crop3":
        rng = np.random.default_rng([seed, 7919, index])
        return images.crop3(img, left=rng.random(), top=rng.random())
    return {**EDITS, **images.ORIENTATION_EDITS}[name](img)


def build_dataset(per_kind: int, seed: int, jobs: int, log: Callable[[str], None]) -> Dataset:
    """Even-numbered images of each kind are known, odd-numbered ones unrelated queries."""
    tasks = [(kind, seed, index) for kind in images.KINDS for index in range(per_kind)]
    data = Dataset()
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for done, samples in enumerate(pool.map(_hash_one, tasks, chunksize=8), start=1):
            for sample in samples:
                if sample.role == "known":
                    data.known.append(sample)
                else:
                    if sample.role == "positive":
                        sample.source = len(data.known) - 1
                    data.queries.append(sample)
            if done % per_kind == 0:
                log(f"  {tasks[done - 1][0]}: hashed, {time.monotonic() - started:.0f}s")
    return data


# --- per hash type: distance matrices -------------------------------------------------------


def bit_matrix(values: Sequence[str | None]) -> np.ndarray:
    """Rows of 0/1 per hash (int16, so a matrix product counts differing bits)."""
    width = max(len(v) for v in values if v) // 2
    raw = b"".join(bytes.fromhex(v) if v else bytes(width) for v in values)
    return np.unpackbits(np.frombuffer(raw, np.uint8).reshape(len(values), width), axis=1).astype(
        np.int16
    )


def distances(queries: Sequence[str | None], known: Sequence[str | None]) -> np.ndarray:
    q, k = bit_matrix(queries), bit_matrix(known)
    counted: np.ndarray = q @ (1 - k).T + (1 - q) @ k.T
    return counted


@dataclass
class Study:
    """Distances between every query and every known image, per hash type."""

    data: Dataset
    dist: dict[str, np.ndarray]
    is_source: np.ndarray
    kinds: np.ndarray
    edits: np.ndarray
    pdq_usable: np.ndarray

    @classmethod
    def of(cls, data: Dataset) -> Study:
        dist = {
            name: distances(
                [getattr(s.digests, name) for s in data.queries],
                [getattr(k.digests, name) for k in data.known],
            )
            for name in PERCEPTUAL
        }
        turned = dist["pdq"].copy()
        for o in range(7):
            rotated = distances(
                [s.dihedral[o] for s in data.queries], [k.digests.pdq for k in data.known]
            )
            turned = np.minimum(turned, rotated)
        dist["pdq8"] = turned
        is_source = np.zeros(dist["pdq"].shape, dtype=bool)
        for row, s in enumerate(data.queries):
            if s.source is not None:
                is_source[row, s.source] = True

        def quality(sample: Sample) -> int:
            return sample.digests.pdq_quality or 0

        q_ok = np.array([quality(s) >= PDQ_QUALITY_THRESHOLD for s in data.queries])
        k_ok = np.array([quality(k) >= PDQ_QUALITY_THRESHOLD for k in data.known])
        return cls(
            data,
            dist,
            is_source,
            np.array([s.kind for s in data.queries]),
            np.array([s.edit or "-" for s in data.queries]),
            q_ok[:, None] & k_ok[None, :],
        )


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def rate(numerator: int, denominator: int) -> str:
    """A per-pair rate; with no event, the 95% upper bound (rule of three)."""
    if denominator == 0:
        return "-"
    if numerator == 0:
        return f"0 (<{3 / denominator:.0e})"
    return f"{numerator / denominator:.1e}"


def type_table(study: Study, kinds: list[str]) -> list[str]:
    rows = [
        "| hash, threshold | kind | recall: " + " / ".join(ALL_EDITS) + " | false pairs | "
        "false-match rate per pair | unrelated images with any match % | precision % |",
        "|---|---|---|---|---|---|---|",
    ]
    dist, usable = study.dist, study.pdq_usable
    settings: list[tuple[str, np.ndarray]] = [
        (f"{name} <= {t}", dist[name] <= t)
        for name in ("phash", "dhash")
        for t in STUDY_THRESHOLDS[name]
    ]
    settings += [
        ("pdq <= 31, no quality gate", dist["pdq"] <= 31),
        ("pdq <= 31, quality >= 50", (dist["pdq"] <= 31) & usable),
        ("pdq dihedral <= 31, quality >= 50", (dist["pdq8"] <= 31) & usable),
        # Corroboration: the same known image within both thresholds.
        ("phash <= 6 and dhash <= 4", (dist["phash"] <= 6) & (dist["dhash"] <= 4)),
        ("phash <= 8 and dhash <= 8", (dist["phash"] <= 8) & (dist["dhash"] <= 8)),
        ("phash <= 6 and pdq <= 31 (q >= 50)", (dist["phash"] <= 6) & (dist["pdq"] <= 31) & usable),
    ]
    for label, within in settings:
        for kind in [*kinds, "all"]:
            rows.append(type_row(study, within, label, kind))
    return rows


def type_row(study: Study, within: np.ndarray, label: str, kind: str) -> str:
    mine = study.kinds == kind if kind != "all" else np.ones(len(study.kinds), dtype=bool)
    true_pairs = within & study.is_source
    false_pairs = within & ~study.is_source
    recalls = []
    for name in ALL_EDITS:
        rows = mine & (study.edits == name)
        recalls.append(pct(true_pairs[rows].any(axis=1).mean()) if rows.any() else "-")
    tp, fp = int(true_pairs[mine].sum()), int(false_pairs[mine].sum())
    negatives = mine & (study.edits == "-")
    any_match = within[negatives].any(axis=1).mean() if negatives.any() else 0.0
    pairs = int((~study.is_source)[mine].sum())
    precision = pct(tp / (tp + fp)) if tp + fp else "-"
    return (
        f"| {label} | {kind} | {' / '.join(recalls)} | {fp} | {rate(fp, pairs)} | "
        f"{pct(any_match)} | {precision} |"
    )


# --- the combined decision ------------------------------------------------------------------


def known_refs(data: Dataset, types: Iterable[str]) -> list[KnownRef]:
    refs: list[KnownRef] = []
    for number, sample in enumerate(data.known):
        for name in types:
            value = getattr(sample.digests, name)
            if value is None:
                continue
            refs.append(
                KnownRef(
                    id=len(refs) + 1,
                    list_name="bench",
                    hash_type=name,
                    value=value,
                    label=f"item-{number}",
                    category=sample.kind,
                )
            )
    return refs


@dataclass
class Tally:
    """Where each query's source item landed, and every false item, by kind and tier."""

    found: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # kind, edit, tier
    asked: Counter[tuple[str, str]] = field(default_factory=Counter)  # kind, edit
    items: Counter[tuple[str, str, bool]] = field(default_factory=Counter)  # kind, tier, right
    negatives_hit: Counter[tuple[str, str]] = field(default_factory=Counter)  # kind, high|any
    by_class: Counter[tuple[str, str, bool]] = field(default_factory=Counter)  # class, tier, right
    seconds: float = 0.0

    def recall(self, kinds: Sequence[str], edits: Sequence[str], tiers: Sequence[str]) -> float:
        hits = sum(self.found[(k, e, t)] for k in kinds for e in edits for t in tiers)
        return hits / max(1, sum(self.asked[(k, e)] for k in kinds for e in edits))

    def count(self, kinds: Sequence[str], tiers: Sequence[str], right: bool) -> int:
        return sum(self.items[(k, t, right)] for k in kinds for t in tiers)

    def precision(self, kinds: Sequence[str], tiers: Sequence[str]) -> str:
        tp, fp = self.count(kinds, tiers, True), self.count(kinds, tiers, False)
        return pct(tp / (tp + fp)) if tp + fp else "-"


@contextmanager
def icon_rule(enabled: bool) -> Iterator[None]:
    """Switch the 'flat and <= 256x256 is an icon' rule off for a what-if run."""
    saved = confidence.ICON_MAX_AREA
    confidence.ICON_MAX_AREA = saved if enabled else 0
    try:
        yield
    finally:
        confidence.ICON_MAX_AREA = saved


@dataclass(frozen=True)
class Setup:
    name: str
    types: tuple[str, ...] = ("md5", "phash", "dhash", "pdq")
    flatness: bool = True
    dihedral: bool = True
    icon_rule: bool = True
    thresholds: tuple[tuple[str, int], ...] = ()


SETUPS = (
    Setup("decision: md5+phash+dhash+pdq list, flatness, dihedral PDQ"),
    Setup("  without dihedral PDQ", dihedral=False),
    Setup("  without flatness (today's Digests)", flatness=False),
    Setup("  pdq-only list", types=("pdq",)),
    Setup("  phash-only list", types=("phash",)),
    Setup("  phash-only list, without flatness", types=("phash",), flatness=False),
    Setup("  what if: no icon rule", icon_rule=False),
    Setup("  what if: phash threshold 8", thresholds=(("phash", 8),)),
    Setup("  what if: phash threshold 10", thresholds=(("phash", 10),)),
)


def run_decision(data: Dataset, setup: Setup) -> Tally:
    matcher = Matcher.build(known_refs(data, setup.types), thresholds=dict(setup.thresholds))
    tally = Tally()
    started = time.perf_counter()
    with icon_rule(setup.icon_rule):
        for sample in data.queries:
            matches = matcher.match(
                sample.digests,
                flatness=sample.flatness if setup.flatness else None,
                pdq_dihedral=sample.dihedral if setup.dihedral else (),
            )
            tally_one(tally, sample, matches)
    tally.seconds = time.perf_counter() - started
    return tally


def tally_one(tally: Tally, sample: Sample, matches: list[Match]) -> None:
    items: dict[str, Match] = {}
    for match in matches:  # matches of one known item share its grade: count the item once
        assert match.label is not None
        items.setdefault(match.label, match)
    source = f"item-{sample.source}" if sample.source is not None else None
    tally.asked[(sample.kind, sample.edit or "-")] += 1
    if sample.role == "negative" and items:
        tally.negatives_hit[(sample.kind, "any")] += 1
        if any(m.tier == "high" for m in items.values()):
            tally.negatives_hit[(sample.kind, "high")] += 1
    for label, match in items.items():
        right = label == source
        tally.items[(sample.kind, match.tier, right)] += 1
        tally.by_class[(match.image_class or "exact", match.tier, right)] += 1
        if right:
            tally.found[(sample.kind, sample.edit or "-", match.tier)] += 1


def decision_table(tally: Tally, kinds: list[str], study: Study) -> list[str]:
    rows = [
        "| kind | high-tier recall % per edit: "
        + " / ".join(ALL_EDITS)
        + " | high+low recall % (first six edits) | precision % high / high+low "
        "| false items high / low | false-match rate per pair, high tier "
        "| unrelated images with a high / any hit % |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in [*kinds, "all"]:
        ks = kinds if kind == "all" else [kind]
        high = " / ".join(pct(tally.recall(ks, [e], ["high"])) for e in ALL_EDITS)
        both = pct(tally.recall(ks, POSITIVE_EDITS, ["high", "low"]))
        pairs = int((~study.is_source)[np.isin(study.kinds, ks)].sum())
        false_high = tally.count(ks, ["high"], False)
        negatives = int(np.isin(study.kinds, ks)[study.edits == "-"].sum())
        neg = [
            sum(tally.negatives_hit[(k, t)] for k in ks) / max(1, negatives)
            for t in ("high", "any")
        ]
        rows.append(
            f"| {kind} | {high} | {both} | {tally.precision(ks, ['high'])} / "
            f"{tally.precision(ks, ['high', 'low'])} | {false_high} / {tally.count(ks, ['low'], False)} | "
            f"{rate(false_high, pairs)} | {pct(neg[0])} / {pct(neg[1])} |"
        )
    return rows


def summary_table(results: list[tuple[Setup, Tally]], kinds: list[str], study: Study) -> list[str]:
    graphics = [k for k in kinds if k in images.FLAT_KINDS and k != "icon"]
    pairs = int((~study.is_source).sum())
    rows = [
        "| setup | high-tier precision % | high-tier recall %: photo / graphics / icon "
        "| rot90+mirror high-tier recall % | high+low recall % | false items high / low "
        "| false-match rate per pair, high | lookups/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setup, tally in results:
        recall = " / ".join(
            pct(tally.recall(ks, POSITIVE_EDITS, ["high"]))
            for ks in (["photo"], graphics, ["icon"])
        )
        turned = pct(tally.recall(kinds, list(images.ORIENTATION_EDITS), ["high"]))
        false_high = tally.count(kinds, ["high"], False)
        speed = sum(tally.asked.values()) / max(tally.seconds, 1e-9)
        rows.append(
            f"| {setup.name} | {tally.precision(kinds, ['high'])} | {recall} | {turned} | "
            f"{pct(tally.recall(kinds, POSITIVE_EDITS, ['high', 'low']))} | "
            f"{false_high} / {tally.count(kinds, ['low'], False)} | {rate(false_high, pairs)} | {speed:.0f} |"
        )
    return rows


def class_table(tally: Tally) -> list[str]:
    rows = [
        "| image class | high tier: right / wrong items | low tier: right / wrong items |",
        "|---|---|---|",
    ]
    for c in sorted({c for c, _, _ in tally.by_class}):
        high = f"{tally.by_class[(c, 'high', True)]} / {tally.by_class[(c, 'high', False)]}"
        low = f"{tally.by_class[(c, 'low', True)]} / {tally.by_class[(c, 'low', False)]}"
        rows.append(f"| {c} | {high} | {low} |")
    return rows


def flatness_table(data: Dataset, kinds: list[str]) -> list[str]:
    rows = ["| kind | flatness min / 5% / median / 95% / max (originals and edits) |", "|---|---|"]
    for kind in kinds:
        values = np.array([s.flatness for s in data.known + data.queries if s.kind == kind])
        q = np.percentile(values, [0, 5, 50, 95, 100])
        rows.append(f"| {kind} | {' / '.join(f'{v:.2f}' for v in q)} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--per-kind", type=int, default=150, help="images generated per kind (half known)"
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--jobs", type=int, default=2, help="processes hashing images")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    data = build_dataset(args.per_kind, args.seed, args.jobs, log)
    hashed_in = time.monotonic() - started
    kinds = list(images.KINDS)
    study = Study.of(data)
    results = [(setup, run_decision(data, setup)) for setup in SETUPS]
    main_tally = results[0][1]
    out = [
        f"{len(data.known)} known images, {len(data.queries)} queries "
        f"({sum(s.role == 'positive' for s in data.queries)} edited copies, "
        f"{sum(s.role == 'negative' for s in data.queries)} unrelated originals), "
        f"{int((~study.is_source).sum())} unrelated (query, known) pairs; seed {args.seed}.",
        "",
        "### Flatness by kind",
        "",
        *flatness_table(data, kinds),
        "",
        "### Per hash type (every query against every known image)",
        "",
        *type_table(study, kinds),
        "",
        "### The decision and its variants (items: a known image matched by any of its hashes)",
        "",
        *summary_table(results, kinds, study),
        "",
        f"### {SETUPS[0].name}, per kind",
        "",
        *decision_table(main_tally, kinds, study),
        "",
        "Items by the image class the decision saw:",
        "",
        *class_table(main_tally),
        "",
        f"Hashing took {hashed_in:.0f}s with {args.jobs} processes; total {time.monotonic() - started:.0f}s.",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
