"""Match decision: look an image's digests up in the known lists and grade every hit."""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matchers.confidence import (
    CONTRADICTION_FACTOR,
    EXACT_CONFIDENCE,
    Evidence,
    ImageClass,
    Tier,
    classify,
    decide,
)
from matchers.digests import Digests
from matchers.hashtypes import (
    EXACT_TYPES,
    HASH_TYPES,
    PDQ_QUALITY_THRESHOLD,
    PERCEPTUAL_TYPES,
    HashType,
    get_hash_type,
)
from matchers.index import ExactIndex, HammingIndex

# A label shared by more known hashes than this names a category or a whole list, not one
# known image, so it does not join hashes into one item for corroboration.
MAX_ITEM_HASHES = 16

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
# Raw value bytes kept per known hash: room for the widest registered type (PDQ, 32 bytes).
_VALUE_BYTES = max(t.bits for t in HASH_TYPES.values()) // 8


@dataclass(frozen=True, slots=True)
class KnownRef:
    """One known hash as the matcher sees it (a row of a known list, with its store id)."""

    id: int
    list_name: str
    hash_type: str
    value: str
    label: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """One known hash the image matched, with how far to trust it.

    `confidence` orders the analyst queue (1.0 for exact matches; perceptual hits in the
    high tier lie in [0.5, 0.99], low-tier ones below 0.5); `tier` 'low' keeps hits that
    the measurements say are often wrong (flat graphics, icons, tiny images) out of the
    main queue. Matches of the same known item (same list and label) share one grade, and
    `corroborated_by` names the other hash types that matched that item.
    """

    known_id: int
    list_name: str
    hash_type: str
    value: str
    distance: int
    threshold: int
    label: str | None
    category: str | None
    confidence: float
    tier: Tier
    corroborated_by: tuple[str, ...] = ()
    image_class: ImageClass | None = None  # None for exact matches: size and look don't matter
    transform: str | None = None  # PDQ dihedral match: see PDQ_DIHEDRAL_TRANSFORMS


class _RefTable:
    """Every known hash as parallel numpy arrays sorted by id, about 70 bytes each.

    A lookup needs the known hash behind each id the indexes return, and the other hashes
    of the same item; as Python objects that costs ~650 bytes per hash (6.5 GB for ten
    million), so names are interned into tables and values kept as raw bytes.
    """

    def __init__(self, refs: Iterable[KnownRef]) -> None:
        self.type_names = list(HASH_TYPES)
        type_no = {name: no for no, name in enumerate(self.type_names)}
        self.strings: list[str] = []  # list names, labels and categories
        string_no: dict[str, int] = {}

        def intern(text: str | None) -> int:
            if not text:
                return -1
            return string_no.setdefault(text, len(string_no))

        ids, types = array("q"), array("b")
        lists, labels, categories = array("i"), array("i"), array("i")
        raw = bytearray()
        for ref in refs:
            hash_type, value = _parsed(ref)
            ids.append(ref.id)
            types.append(type_no[hash_type.name])
            lists.append(intern(ref.list_name))
            labels.append(intern(ref.label))
            categories.append(intern(ref.category))
            raw += bytes.fromhex(value).ljust(_VALUE_BYTES, b"\0")
        self.strings = list(string_no)
        order = np.argsort(np.frombuffer(ids, dtype=np.int64), kind="stable")
        self.ids = np.frombuffer(ids, dtype=np.int64)[order]
        repeated = self.ids[1:][self.ids[1:] == self.ids[:-1]]
        if len(repeated):
            raise ValueError(f"known hash id {repeated[0]} appears twice; ids must be unique")
        self.types = np.frombuffer(types, dtype=np.int8)[order]
        self.lists = np.frombuffer(lists, dtype=np.int32)[order]
        self.labels = np.frombuffer(labels, dtype=np.int32)[order]
        self.categories = np.frombuffer(categories, dtype=np.int32)[order]
        self.values = np.frombuffer(bytes(raw), dtype=np.uint8).reshape(-1, _VALUE_BYTES)[order]
        # Items: rows sharing (list, label), found by binary search over the sorted keys.
        keys = (self.lists.astype(np.int64) << 32) | self.labels.astype(np.int64)
        self.item_keys = np.where(self.labels >= 0, keys, -1)
        self.item_order = np.argsort(self.item_keys, kind="stable")
        self.sorted_keys = self.item_keys[self.item_order]

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, known_ids: Sequence[int]) -> npt.NDArray[np.intp]:
        return np.searchsorted(self.ids, np.asarray(known_ids, dtype=np.int64))

    def type_of(self, row: int) -> str:
        return self.type_names[int(self.types[row])]

    def value(self, row: int) -> str:
        return bytes(self.values[row, : HASH_TYPES[self.type_of(row)].bits // 8]).hex()

    def text(self, number: int) -> str | None:
        return self.strings[number] if number >= 0 else None

    def ref(self, row: int) -> KnownRef:
        return KnownRef(
            id=int(self.ids[row]),
            list_name=self.strings[int(self.lists[row])],
            hash_type=self.type_of(row),
            value=self.value(row),
            label=self.text(int(self.labels[row])),
            category=self.text(int(self.categories[row])),
        )

    def item(self, row: int) -> npt.NDArray[np.intp] | None:
        """Rows of the item `row` belongs to, or None if its label does not name one image."""
        key = self.item_keys[row]
        if key < 0:
            return None
        lo, hi = np.searchsorted(self.sorted_keys, [key, key + 1])
        if hi - lo > MAX_ITEM_HASHES:
            return None
        return self.item_order[lo:hi]


@dataclass(slots=True)
class _Hit:
    row: int
    hash_type: str
    distance: int
    transform: str | None = None


class Matcher:
    """Every known hash, indexed per type, and the decision on what a lookup found.

    Built once per crawl (or list import) from the known lists and shared read-only:
    exact types in an `ExactIndex`, each perceptual type in a `HammingIndex` searched at
    its threshold, so every known hash within the threshold comes back with its distance.
    """

    def __init__(
        self,
        table: _RefTable,
        thresholds: Mapping[str, int],
        indexes: Mapping[str, ExactIndex | HammingIndex],
        *,
        dihedral: bool = True,
    ) -> None:
        self._table = table
        self.thresholds: Mapping[str, int] = thresholds
        self._indexes = indexes
        self.dihedral = dihedral

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
        naming the known hash id, its list and the value.
        """
        limits = _thresholds(thresholds or {})
        table = _RefTable(refs)
        indexes: dict[str, ExactIndex | HammingIndex] = {}
        for number, name in enumerate(table.type_names):
            rows = table.types == number
            if not rows.any():
                continue
            bits = HASH_TYPES[name].bits
            index = ExactIndex(bits) if name in EXACT_TYPES else HammingIndex(bits)
            index.add(table.ids[rows], table.values[rows, : bits // 8])
            index.build()
            indexes[name] = index
        return cls(table, limits, indexes, dihedral=dihedral)

    @classmethod
    def empty(cls) -> Matcher:
        """A matcher with no known hashes: every lookup returns no matches."""
        return cls(_RefTable(()), _thresholds({}), {})

    def __len__(self) -> int:
        return len(self._table)

    def match(
        self,
        d: Digests,
        *,
        flatness: float | None = None,
        pdq_dihedral: Sequence[str] | None = None,
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
        """
        if not self._indexes:
            return []
        flat = flatness if flatness is not None else d.flatness
        if flat is not None and not 0.0 <= flat <= 1.0:
            raise ValueError(f"flatness is a share between 0 and 1, got {flat!r}")
        if pdq_dihedral is None:
            pdq_dihedral = d.pdq_dihedral if self.dihedral else ()
        dihedral = pdq_dihedral
        hits = self._exact_hits(d)
        queries: dict[str, str] = {}
        if d.status == "ok":
            queries = self._perceptual_queries(d)
            hits += self._perceptual_hits(queries, dihedral if "pdq" in queries else ())
        if not hits:
            return []
        image_class = classify(d.width, d.height, flat)
        grouped: dict[int, list[_Hit]] = defaultdict(list)  # by item key, or -1 - row
        for hit in hits:
            key = int(self._table.item_keys[hit.row])
            grouped[key if self._table.item(hit.row) is not None else -1 - hit.row].append(hit)
        matches = [
            match
            for item_hits in grouped.values()
            for match in self._grade(item_hits, queries, image_class)
        ]
        matches.sort(key=lambda m: (-m.confidence, m.distance / (m.threshold + 1), m.known_id))
        return matches

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
                found = index.lookup(bytes.fromhex(value))
                hits += [_Hit(int(row), name, 0) for row in self._table.rows_of(found)]
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
            nearest: dict[int, tuple[int, str | None]] = {}
            orientations: list[tuple[str, str | None]] = [(value, None)]
            if name == "pdq":
                turned = _dihedral_values(dihedral)
                orientations += zip(turned, PDQ_DIHEDRAL_TRANSFORMS[: len(turned)], strict=True)
            for query, transform in orientations:
                for known_id, distance in index.search(bytes.fromhex(query), radius):
                    if known_id not in nearest or distance < nearest[known_id][0]:
                        nearest[known_id] = (distance, transform)
            rows = self._table.rows_of(list(nearest))
            hits += [
                _Hit(int(row), name, distance, transform)
                for row, (distance, transform) in zip(rows, nearest.values(), strict=True)
            ]
        return hits

    def _grade(
        self, hits: list[_Hit], queries: Mapping[str, str], image_class: ImageClass
    ) -> list[Match]:
        """One grade for one known item from all its hits; a Match per hit carrying it."""
        best: dict[str, _Hit] = {}
        for hit in hits:
            held = best.get(hit.hash_type)
            if held is None or hit.distance < held.distance:
                best[hit.hash_type] = hit
        tier: Tier = "high"
        if any(name in EXACT_TYPES for name in best):
            confidence = EXACT_CONFIDENCE
        else:
            agreeing = [
                Evidence(name, hit.distance, self.thresholds[name]) for name, hit in best.items()
            ]
            against = self._contradictions(hits[0].row, best, queries)
            confidence, tier = decide(image_class, agreeing, against)
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
                    threshold=0 if exact else self.thresholds[hit.hash_type],
                    label=ref.label,
                    category=ref.category,
                    confidence=confidence,
                    tier=tier,
                    corroborated_by=tuple(sorted(t for t in best if t != hit.hash_type)),
                    image_class=None if exact else image_class,
                    transform=hit.transform,
                )
            )
        return out

    def _contradictions(
        self, row: int, best: Mapping[str, _Hit], queries: Mapping[str, str]
    ) -> int:
        """Types the item and the image both have whose hashes put the two far apart."""
        members = self._table.item(row)
        if members is None:
            return 0
        nearest: dict[str, int] = {}
        for member in members:
            name = self._table.type_of(int(member))
            if name in best or name not in queries:
                continue
            query = int(queries[name], 16)
            distance = (query ^ int(self._table.value(int(member)), 16)).bit_count()
            nearest[name] = min(distance, nearest.get(name, distance))
        return sum(d > CONTRADICTION_FACTOR * self.thresholds[n] for n, d in nearest.items())


def _thresholds(overrides: Mapping[str, int]) -> dict[str, int]:
    limits = {name: HASH_TYPES[name].default_threshold for name in PERCEPTUAL_TYPES}
    for name, value in overrides.items():
        hash_type = get_hash_type(name)
        if hash_type.kind != "perceptual":
            raise ValueError(f"{hash_type.name} is an exact hash type; it has no threshold to set")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"the {hash_type.name} threshold must be an integer, got {value!r}")
        if not 0 <= value < hash_type.bits:
            raise ValueError(
                f"the {hash_type.name} threshold must be between 0 and {hash_type.bits - 1} "
                f"bits, got {value}"
            )
        limits[hash_type.name] = value
    return limits


def _parsed(ref: KnownRef) -> tuple[HashType, str]:
    """The ref's registered type and normalised value, or ValueError saying which ref."""
    try:
        hash_type = get_hash_type(ref.hash_type)
        return hash_type, hash_type.parse(ref.value)
    except ValueError as exc:
        raise ValueError(f"known hash {ref.id} in list {ref.list_name!r}: {exc}") from None


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


__all__ = ["MAX_ITEM_HASHES", "PDQ_DIHEDRAL_TRANSFORMS", "KnownRef", "Match", "Matcher"]
