"""Match decision: look an image's digests up in the known lists and grade every hit."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from matchers.confidence import (
    CANON_THRESHOLD,
    CONTRADICTION_FACTOR,
    EXACT_CONFIDENCE,
    RELIABILITY,
    UNCAPTION_CANON_REACH,
    UNCAPTION_PDQ_REACH,
    UNCAPTION_PHASH_AGREES,
    VARIANT_RELIABILITY,
    VARIANT_THRESHOLDS,
    Evidence,
    ImageClass,
    Tier,
    classify,
    decide,
    uncaption_rule_applies,
)
from matchers.digests import CANON, Digests, VariantHashes, is_canonical
from matchers.hashtypes import (
    EXACT_TYPES,
    HASH_TYPES,
    PDQ_QUALITY_THRESHOLD,
    match_thresholds,
)
from matchers.index import ExactIndex, HammingIndex
from matchers.match import Match
from matchers.reftable import (
    MAX_ITEM_HASHES,
    MAX_VARIANT_HASHES,
    KnownRef,
    RefTable,
    RefTableBuilder,
)

# pdqhash.compute_dihedral order after the original: the PIL transpose that, applied to the
# query image, gives the orientation whose hash matched (Image.Transpose member names).
PDQ_DIHEDRAL_TRANSFORMS = (
    "rotate_90",
    "rotate_180",
    "rotate_270",
    "flip_top_bottom",
    "flip_left_right",
    "transpose",
    "transverse",
)


@dataclass(slots=True)
class _Hit:
    row: int
    hash_type: str
    distance: int
    transform: str | None = None
    threshold: int | None = None  # the reach it was found at, when not its type's threshold


# Stored crops of a crop-augmented list are named crop-... (matchers.variants.LIST_CROPS).
CROP_VARIANT_PREFIX = "crop-"
# A query's region without a caption band (matchers.regions): uncaption-top, trim+uncaption-left.
UNCAPTION_MARK = "uncaption-"
# The stored pictures an uncaptioned region can be (the image itself, its trim), each with
# the name of its canonical form: what the corroborated uncaption rule compares it with.
UNCAPTION_PICTURES: Mapping[str | None, str] = {None: CANON, "trim": f"{CANON}-trim"}

_REF_BATCH = 100_000  # KnownRefs turned into columns at a time by Matcher.build


class Matcher:
    """Every known hash, indexed per type, and the decision on what a lookup found.

    Built once when the known lists change (from column batches: `MatcherBuilder`), saved
    with `save` and memory-mapped by every crawl with `load`, read-only and shared between
    processes. Exact types are in an `ExactIndex`, each perceptual type in a `HammingIndex`
    searched at its threshold, so every known hash within the threshold comes back with
    its distance. Indexes hold row numbers of the known-hash table, not store ids.
    """

    def __init__(
        self,
        table: RefTable,
        thresholds: Mapping[str, int],
        indexes: Mapping[str, ExactIndex | HammingIndex],
        *,
        dihedral: bool = True,
        stamp: str | None = None,
        variants: bool = True,
    ) -> None:
        self._table = table
        self.thresholds: Mapping[str, int] = thresholds
        self._indexes = indexes
        self.dihedral = dihedral
        # Whether the digests' query-side variants (Digests.variants) are looked up too.
        self.variants = variants
        self.variant_thresholds = {
            name: min(limit, VARIANT_THRESHOLDS.get(name, limit))
            for name, limit in thresholds.items()
        }
        # Canonical forms of graphics (list variants canon, canon-trim, ...) are met only
        # by a query's canonical variants, and those meet nothing else.
        self._canon_variants = frozenset(
            number for number, name in enumerate(table.variant_names) if is_canonical(name))
        # The known lists' version this matcher was built from (see storage.known).
        self.stamp = stamp
        # The file it was loaded from (`load`), which other processes can map too.
        self.path: Path | None = None

    @classmethod
    def build(
        cls,
        refs: Iterable[KnownRef],
        *,
        thresholds: Mapping[str, int] | None = None,
        dihedral: bool = True,
    ) -> Matcher:
        """Index `refs`; `thresholds` overrides the registry's default per perceptual type.

        dihedral=True also searches PDQ for the image's seven other orientations (rotated
        and mirrored re-uploads), when the digests carry them: 8 PDQ searches per image.

        Values are normalised (lowercase hex) and checked; a bad one raises ValueError
        naming the known hash id, its list and the value. For millions of hashes feed a
        `MatcherBuilder` column batches instead: no Python object per hash.
        """
        builder = MatcherBuilder({})
        list_ids: dict[str, int] = {}
        batch: list[KnownRef] = []
        for ref in itertools.chain(refs, [None]):
            if ref is not None:
                batch.append(ref)
                if ref.list_name not in list_ids:
                    list_ids[ref.list_name] = len(list_ids)
                    builder.add_list(list_ids[ref.list_name], ref.list_name)
            if batch and (ref is None or len(batch) == _REF_BATCH):
                builder.add(
                    ids=[r.id for r in batch],
                    list_ids=[list_ids[r.list_name] for r in batch],
                    hash_types=[r.hash_type for r in batch],
                    values=[r.value for r in batch],
                    labels=[r.label for r in batch],
                    categories=[r.category for r in batch],
                    variants=[r.variant for r in batch],
                )
                batch = []
        return builder.build(thresholds=thresholds, dihedral=dihedral)

    @classmethod
    def from_table(
        cls,
        table: RefTable,
        *,
        thresholds: Mapping[str, int] | None = None,
        dihedral: bool = True,
        stamp: str | None = None,
    ) -> Matcher:
        """Index a finished `RefTable`: each type's slice of it becomes that type's index."""
        indexes: dict[str, ExactIndex | HammingIndex] = {}
        for number, start, stop in table.sections:
            name = table.type_names[number]
            bits = HASH_TYPES[name].bits
            rows = np.arange(start, stop, dtype=np.int64)
            codes = table.values[start:stop, : bits // 8]
            indexes[name] = (
                ExactIndex.from_codes(bits, rows, codes)
                if name in EXACT_TYPES
                else HammingIndex.from_codes(bits, rows, codes)
            )
        return cls(table, match_thresholds(thresholds or {}), indexes, dihedral=dihedral,
                   stamp=stamp)

    @classmethod
    def empty(cls) -> Matcher:
        """A matcher with no known hashes: every lookup returns no matches."""
        return MatcherBuilder({}).build()

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        thresholds: Mapping[str, int] | None = None,
        dihedral: bool = True,
    ) -> Matcher:
        """A matcher saved by `save`, memory-mapped read-only (milliseconds at any size).

        Raises `MatcherFileError` (a ValueError) for a file that is missing, cut short,
        damaged or written by another format version: rebuild it then.
        """
        from matchers.matcherfile import load_matcher

        table, indexes, stamp = load_matcher(path)
        matcher = cls(table, match_thresholds(thresholds or {}), indexes, dihedral=dihedral,
                      stamp=stamp)
        matcher.path = Path(path)
        return matcher

    def save(self, path: Path) -> int:
        """Write the matcher (tables, indexes, `stamp`) to `path` atomically; return bytes."""
        from matchers.matcherfile import save_matcher

        return save_matcher(path, self._table, self._indexes, self.stamp)

    def __len__(self) -> int:
        return len(self._table)

    def match(
        self,
        d: Digests,
        *,
        flatness: float | None = None,
        pdq_dihedral: Sequence[str] | None = None,
        variants: Sequence[VariantHashes] | None = None,
    ) -> list[Match]:
        """Every known hash the image matches, most trusted first.

        Exact digests match by equality (confidence 1.0). Each perceptual hash is searched
        within its threshold; PDQ only when `pdq_quality` >= 50. `flatness` (see
        `matchers.confidence.flatness`) and `pdq_dihedral` (the other seven orientations'
        PDQ hashes, `pdqhash.compute_dihedral` order) default to the digests' own; pass
        them to override (pdq_dihedral=() searches the original orientation only; None
        takes the digests' when the matcher was built with dihedral=True). Without a
        flatness the image class is `unknown` and single pHash/dHash hits stay in the low
        tier.

        `variants` (default: the digests' own when the matcher was built with variants=True)
        are the picture inside a frame or without a caption band: each is looked up too, at
        `variant_thresholds`, graded on its own size and flatness with VARIANT_RELIABILITY,
        and its matches carry its name as `transform`. Each known item is matched once: by
        the image itself or through one variant, whichever grades higher (the image itself
        on a tie); an item whose direct hits were all dropped (`_crop_by_weak_types_alone`)
        can still be matched through a variant.
        """
        if not self._indexes:
            return []
        flat = flatness if flatness is not None else d.flatness
        if flat is not None and not 0.0 <= flat <= 1.0:
            raise ValueError(f"flatness is a share between 0 and 1, got {flat!r}")
        if pdq_dihedral is None:
            pdq_dihedral = d.pdq_dihedral if self.dihedral else ()
        dihedral = pdq_dihedral
        if variants is None:
            variants = d.variants if self.variants else ()
        hits = self._exact_hits(d)
        queries: dict[str, str] = {}
        if d.status == "ok":
            queries = self._perceptual_queries(d)
            hits += self._perceptual_hits(queries, dihedral if "pdq" in queries else ())
        groups: dict[int, int] = {}  # row -> its item's group, for this lookup
        grouped: dict[int, list[_Hit]] = defaultdict(list)  # by item, or -1 - row
        for hit in hits:
            grouped[self._table.group_of(hit.row, groups)].append(hit)
        image_class = classify(d.width, d.height, flat)
        best: dict[int, list[Match]] = {}  # by item: its graded matches
        for group, item_hits in grouped.items():
            graded = self._grade(item_hits, queries, image_class)
            if graded:
                best[group] = graded
        if d.status == "ok" and variants:
            self._variant_matches(variants, best, groups)
        matches = [match for graded in best.values() for match in graded]
        matches.sort(key=lambda m: (-m.confidence, m.distance / (m.threshold + 1), m.known_id))
        return matches

    def _variant_matches(
        self,
        variants: Sequence[VariantHashes],
        best: dict[int, list[Match]],
        groups: dict[int, int],
    ) -> None:
        """Grade the known items met through the image's variants into `best` (by item: the
        image's own matches so far): an item's grade through a variant replaces what it
        holds only if higher. A crop list's item is one item with its ~50-90 stored crops
        (reftable.MAX_VARIANT_HASHES), so a weak direct hit on one crop (pHash at its
        threshold, contradicted by PDQ) must not keep the variant that meets the item's own
        PDQ from naming it."""
        corroborated: dict[int, list[Match]] = {}  # by item: the uncaption rule's matches
        for number, variant in enumerate(variants):
            canonical = is_canonical(variant.name)
            if canonical and not self._canon_variants:
                continue  # no list stores canonical forms
            usable = variant.perceptual()
            if variant.pdq_quality < PDQ_QUALITY_THRESHOLD:
                del usable["pdq"]
            queries = {name: value for name, value in usable.items() if name in self._indexes}
            thresholds = self._canon_thresholds if canonical else self.variant_thresholds
            grouped = self._variant_hits(variant.name, queries, thresholds, canonical, groups)
            image_class = classify(variant.width, variant.height, variant.flatness)
            for group, item_hits in grouped.items():
                graded = self._grade(item_hits, queries, image_class, variant=True,
                                     thresholds=thresholds)
                if UNCAPTION_MARK in variant.name and not canonical:
                    corroborated[group] = corroborated.get(group) or self._uncaption_corroborated(
                        variant, _canonical_form(variants, number), item_hits, queries,
                        image_class)
                if not graded:
                    continue
                held = best.get(group)
                if held is None or graded[0].confidence > held[0].confidence:
                    best[group] = graded
        # Last, and only for items no other rule put in the high tier: the corroborated
        # uncaption rule raises a low-tier item, or names one met by pHash alone; what the
        # other rules decide stays as it was.
        for group, graded in corroborated.items():
            held = best.get(group)
            if graded and (held is None or held[0].tier == "low"):
                best[group] = graded

    def _variant_hits(
        self,
        name: str,
        queries: Mapping[str, str],
        thresholds: Mapping[str, int],
        canonical: bool,
        groups: dict[int, int],
    ) -> dict[int, list[_Hit]]:
        """One variant's hits by item: a canonical variant's on canonical rows only, any
        other's on the other rows."""
        grouped: dict[int, list[_Hit]] = defaultdict(list)
        for hash_type, value in queries.items():
            radius = thresholds[hash_type]
            for row, distance in self._indexes[hash_type].search(bytes.fromhex(value), radius):
                if self._is_canon_row(row) != canonical:
                    continue
                grouped[self._table.group_of(row, groups)].append(
                    _Hit(row, hash_type, distance, name))
        return grouped

    @property
    def _canon_thresholds(self) -> dict[str, int]:
        return {**self.variant_thresholds, "pdq": min(self.thresholds["pdq"], CANON_THRESHOLD)}

    def _is_canon_row(self, row: int) -> bool:
        """Whether the known hash in `row` is a graphic's canonical form (canon, ...)."""
        return bool(self._canon_variants) and int(self._table.variants[row]) in self._canon_variants

    def match_known(self, d: Digests, known_ids: Collection[int]) -> list[Match]:
        """The image's matches against these known hashes only, most trusted first: the
        re-check's question (is this still the image we reported?) decided exactly as the
        crawl decided it, orientations, quality gate and thresholds included."""
        wanted = set(known_ids)
        return [m for m in self.match(d) if m.known_id in wanted]

    def _exact_hits(self, d: Digests) -> list[_Hit]:
        hits: list[_Hit] = []
        for name, value in d.exact().items():
            index = self._indexes.get(name)
            if isinstance(index, ExactIndex):
                hits += [_Hit(row, name, 0) for row in index.lookup(bytes.fromhex(value))]
        return hits

    def _perceptual_queries(self, d: Digests) -> dict[str, str]:
        usable = dict(d.perceptual())
        if d.pdq_quality is None or d.pdq_quality < PDQ_QUALITY_THRESHOLD:
            usable.pop("pdq", None)  # Meta: too featureless to match on
        return {name: value for name, value in usable.items() if name in self._indexes}

    def _perceptual_hits(self, queries: Mapping[str, str], dihedral: Sequence[str]) -> list[_Hit]:
        hits: list[_Hit] = []
        for name, value in queries.items():
            index = self._indexes[name]
            radius = self.thresholds[name]
            nearest: dict[int, tuple[int, str | None]] = {}  # by row
            orientations: list[tuple[str, str | None]] = [(value, None)]
            if name == "pdq":
                turned = _dihedral_values(dihedral)
                orientations += zip(turned, PDQ_DIHEDRAL_TRANSFORMS[: len(turned)], strict=True)
            codes = [bytes.fromhex(query) for query, _ in orientations]
            each = getattr(index, "search_each", None)  # the eight orientations in one pass
            found = (each(codes, radius) if each is not None and len(codes) > 1
                     else [index.search(code, radius) for code in codes])
            for (_, transform), neighbours in zip(orientations, found, strict=True):
                for row, distance in neighbours:
                    if self._is_canon_row(row):
                        continue  # a canonical form: met by canonical variants only
                    if row not in nearest or distance < nearest[row][0]:
                        nearest[row] = (distance, transform)
            hits += [
                _Hit(row, name, distance, transform)
                for row, (distance, transform) in nearest.items()
            ]
        return hits

    def _grade(
        self,
        hits: list[_Hit],
        queries: Mapping[str, str],
        image_class: ImageClass,
        *,
        variant: bool = False,
        thresholds: Mapping[str, int] | None = None,
    ) -> list[Match]:
        """One grade for one known item from all its hits; a Match per hit carrying it.

        variant=True: the hits came through a query-side variant, graded at its thresholds
        (or `thresholds`: a canonical variant's) with VARIANT_RELIABILITY."""
        if thresholds is None:
            thresholds = self.variant_thresholds if variant else self.thresholds
        reliability = VARIANT_RELIABILITY if variant else RELIABILITY
        best: dict[str, _Hit] = {}
        for hit in hits:
            held = best.get(hit.hash_type)
            if held is None or hit.distance < held.distance:
                best[hit.hash_type] = hit
        if self._crop_by_weak_types_alone(hits, best, image_class):
            return []
        tier: Tier = "high"
        if any(name in EXACT_TYPES for name in best):
            confidence = EXACT_CONFIDENCE
        else:
            agreeing = [
                Evidence(name, hit.distance, thresholds[name]) for name, hit in best.items()
            ]
            against = self._contradictions(hits[0].row, best, queries, thresholds)
            confidence, tier = decide(image_class, agreeing, against, reliability)
        return self._matches(hits, best, confidence, tier, image_class, thresholds)

    def _matches(
        self,
        hits: list[_Hit],
        best: Mapping[str, _Hit],
        confidence: float,
        tier: Tier,
        image_class: ImageClass,
        thresholds: Mapping[str, int],
    ) -> list[Match]:
        """A Match per hit of one known item, all carrying the item's one grade."""
        confidence = round(confidence, 4)
        out = []
        for hit in hits:
            ref = self._table.ref(hit.row)
            exact = hit.hash_type in EXACT_TYPES
            out.append(
                Match(
                    known_id=ref.id,
                    list_name=ref.list_name,
                    hash_type=ref.hash_type,
                    value=ref.value,
                    distance=hit.distance,
                    threshold=(0 if exact else hit.threshold if hit.threshold is not None
                               else thresholds[hit.hash_type]),
                    label=ref.label,
                    category=ref.category,
                    confidence=confidence,
                    tier=tier,
                    corroborated_by=tuple(sorted(t for t in best if t != hit.hash_type)),
                    image_class=None if exact else image_class,
                    transform=hit.transform,
                    known_variant=ref.variant,
                )
            )
        return out

    def _uncaption_corroborated(
        self,
        variant: VariantHashes,
        canonical: VariantHashes | None,
        hits: list[_Hit],
        queries: Mapping[str, str],
        image_class: ImageClass,
    ) -> list[Match]:
        """The item's matches in the high tier if an uncaptioned region (`variant`, its
        canonical form `canonical`) is corroborated by three hashes of one stored picture
        (the item's own image or its trim), else none: its pHash within
        UNCAPTION_PHASH_AGREES, its PDQ within UNCAPTION_PDQ_REACH (past the variant
        threshold: a graphic's PDQ drifts 30-40 bits under a resize even when the caption is
        cut right) and its canonical form within UNCAPTION_CANON_REACH of the picture's.
        Only for flat regions (uncaption_rule_applies: not photos, not icon-sized).
        bench/calib_uncaption.py found no unrelated (region, item) pair that passes and is
        not in the high tier already (bench/RESULTS.md, branch capcal13)."""
        if (canonical is None or not uncaption_rule_applies(variant.width, variant.height,
                                                            variant.flatness)
                or min(variant.pdq_quality, canonical.pdq_quality) < PDQ_QUALITY_THRESHOLD):
            return []
        for hit in hits:
            if hit.hash_type != "phash" or hit.distance > UNCAPTION_PHASH_AGREES:
                continue
            picture = self._table.ref(hit.row).variant
            members = self._table.item(hit.row)
            if picture not in UNCAPTION_PICTURES or members is None:
                continue
            pdq = self._nearest_pdq(members, picture, variant.pdq)
            canon = self._nearest_pdq(members, UNCAPTION_PICTURES[picture], canonical.pdq)
            if pdq is None or canon is None:
                continue
            if pdq[1] > UNCAPTION_PDQ_REACH or canon[1] > UNCAPTION_CANON_REACH:
                continue
            found = [hit, _Hit(pdq[0], "pdq", pdq[1], variant.name, UNCAPTION_PDQ_REACH),
                     _Hit(canon[0], "pdq", canon[1], canonical.name, UNCAPTION_CANON_REACH)]
            best = {"phash": hit, "pdq": found[1]}
            agreeing = [Evidence("phash", hit.distance, self.variant_thresholds["phash"]),
                        Evidence("pdq", pdq[1], UNCAPTION_PDQ_REACH)]
            against = self._contradictions(hit.row, best, queries, self.variant_thresholds)
            # Graded as the graphic it was cut from: an icon-class region here is a picture
            # wider or taller than any icon, and the rule was calibrated on such regions.
            confidence, tier = decide("graphic", agreeing, against, VARIANT_RELIABILITY)
            return self._matches(found, best, confidence, tier, image_class,
                                 self.variant_thresholds)
        return []

    def _nearest_pdq(
        self, members: npt.NDArray[np.intp], variant: str | None, query: str
    ) -> tuple[int, int] | None:
        """(row, distance) of the item's PDQ row of stored variant `variant` (None: the
        image's own) nearest to `query`, or None if the item has none."""
        names = self._table.variant_names
        if variant is not None and variant not in names:
            return None
        want = -1 if variant is None else names.index(variant)
        value = int(query, 16)
        nearest: tuple[int, int] | None = None
        for member in members.tolist():
            stored = int(self._table.variants[member])
            if max(stored, -1) != want or self._table.type_of(member) != "pdq":
                continue
            distance = (value ^ int(self._table.value(member), 16)).bit_count()
            if nearest is None or distance < nearest[1]:
                nearest = (member, distance)
        return nearest

    def _crop_by_weak_types_alone(
        self, hits: list[_Hit], best: Mapping[str, _Hit], image_class: ImageClass
    ) -> bool:
        """Whether the item was met only through its list's stored crops, by pHash or
        dHash alone, on an image that is not a photo. A crop-augmented list stores ~22
        crops of every item, so a flat graphic's 64-bit hashes meet one of them by chance
        far sooner than the item itself (a generated screenshot decoy met another
        screenshot's crop at pHash 6): such an item is not a match at all, so the crops do
        not raise the false-hit rate in any tier. PDQ, or a hit on the item's own hash,
        keeps it."""
        if image_class == "photo" or "pdq" in best:
            return False
        if any(name in EXACT_TYPES for name in best):
            return False
        return all(
            (self._table.ref(hit.row).variant or "").startswith(CROP_VARIANT_PREFIX)
            for hit in hits
        )

    def _contradictions(
        self,
        row: int,
        best: Mapping[str, _Hit],
        queries: Mapping[str, str],
        thresholds: Mapping[str, int],
    ) -> int:
        """Types the item and the image both have whose hashes put the two far apart: the
        nearest of the item's hashes of that type (its own and its stored crops' alike),
        canonical forms compared with canonical forms only."""
        members = self._table.item(row)
        if members is None:
            return 0
        canonical = self._is_canon_row(row)
        nearest: dict[str, int] = {}
        for member in members.tolist():
            if self._is_canon_row(member) != canonical:
                continue
            name = self._table.type_of(member)
            if name in best or name not in queries:
                continue
            query = int(queries[name], 16)
            distance = (query ^ int(self._table.value(member), 16)).bit_count()
            nearest[name] = min(distance, nearest.get(name, distance))
        return sum(d > CONTRADICTION_FACTOR * thresholds[n] for n, d in nearest.items())


class MatcherBuilder:
    """Builds a `Matcher` from known hashes fed in column batches (e.g. database pages).

    `list_names` maps the list ids the batches use to list names. Nothing per hash is kept
    as a Python object, so ten million hashes build in bounded memory: about the finished
    matcher plus one column's copy while sorting.
    """

    def __init__(self, list_names: Mapping[int, str], *, capacity: int = 0) -> None:
        self._table = RefTableBuilder(list_names, capacity=capacity)

    def add_list(self, list_id: int, name: str) -> None:
        """Name a list id not given to the constructor."""
        self._table.add_list(list_id, name)

    def add(
        self,
        ids: npt.ArrayLike,
        list_ids: npt.ArrayLike,
        hash_types: Sequence[str],
        values: Sequence[str],
        labels: Sequence[str | None] | None = None,
        categories: Sequence[str | None] | None = None,
        variants: Sequence[str | None] | None = None,
    ) -> None:
        """Add a batch: one entry per known hash in each column (see `RefTableBuilder`)."""
        self._table.add(ids, list_ids, hash_types, values, labels, categories, variants)

    def build(
        self,
        *,
        thresholds: Mapping[str, int] | None = None,
        dihedral: bool = True,
        stamp: str | None = None,
    ) -> Matcher:
        """The matcher over everything added; `stamp` names the lists' version it holds."""
        return Matcher.from_table(
            self._table.finish(), thresholds=thresholds, dihedral=dihedral, stamp=stamp
        )


def _canonical_form(variants: Sequence[VariantHashes], number: int) -> VariantHashes | None:
    """The canonical form of region `variants[number]`: matchers.variants.variant_hashes puts
    it right after the region (two regions can share a name: the one after is its own)."""
    following = variants[number + 1] if number + 1 < len(variants) else None
    if following is not None and following.name == f"{variants[number].name}+{CANON}":
        return following
    return None


def _dihedral_values(values: Sequence[str]) -> list[str]:
    if not values:
        return []
    if len(values) != len(PDQ_DIHEDRAL_TRANSFORMS):
        raise ValueError(
            f"pdq_dihedral needs the {len(PDQ_DIHEDRAL_TRANSFORMS)} non-original orientations "
            f"in pdqhash.compute_dihedral order, got {len(values)} hashes"
        )
    pdq = HASH_TYPES["pdq"]
    return [pdq.parse(value) for value in values]


__all__ = [
    "MAX_ITEM_HASHES",
    "MAX_VARIANT_HASHES",
    "PDQ_DIHEDRAL_TRANSFORMS",
    "KnownRef",
    "Match",
    "Matcher",
    "MatcherBuilder",
]
