"""The known hashes behind an index's answers, as column arrays built from column batches."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from matchers.hashtypes import HASH_TYPES, VALUE_BYTES, HashType, get_hash_type
from matchers.index import hex_to_codes

# A label shared by more known hashes than these names a category or a whole list, not one
# known image, so it does not join hashes into one item (for corroboration, contradiction
# and one grade per item: matchers.decision). Two bounds, because a crop-augmented list
# (`trawl hash --variants crops`) stores far more rows per image than a plain one:
# - the item's own (full-image) hashes, at most one per type for one image (6 types), so a
#   label over more than 32 of them is shared by many images;
MAX_ITEM_HASHES = 32
# - its stored variants' hashes (`KnownRef.variant` set): what one image of a crop list has
#   at most, PDQ, pHash and (when asked) dHash of each of the 22 crops of
#   matchers.variants.LIST_CROPS and of its trimmed picture, and for a graphic the canonical
#   PDQ of the image, its trim and each crop (LIST_CANON_CROPS): (22 + 1) x 3 + (22 + 2) =
#   93 (`trawl hash --variants crops` writes 44-46 for a photo, 57-70 for a graphic; a test
#   derives the bound from matchers.variants, which this module does not import). A label
#   over more variant rows than one image's (a category or a list under one label, or a
#   few images sharing a label) is not an item: each of its hits is graded on its own.
MAX_VARIANT_HASHES = 93
# Candidate rows of one item key examined at most before the labels are compared (a key
# shared by more is a shared label; key collisions between labels are rare).
_MAX_KEY_ROWS = 4 * (MAX_ITEM_HASHES + MAX_VARIANT_HASHES)
# An item key is (list number << 40) | 40 bits of the label's hash. Rows that share a key
# but not the label (a hash collision: ~50 pairs among 10M distinct labels) are told apart
# by comparing the labels themselves, so grouping stays exact.
_LABEL_BITS = 40
_MAX_LISTS = 1 << (63 - _LABEL_BITS)

AnyArray = npt.NDArray[Any]


@dataclass(frozen=True, slots=True)
class KnownRef:
    """One known hash as the matcher sees it (a row of a known list, with its store id)."""

    id: int
    list_name: str
    hash_type: str
    value: str
    label: str | None = None
    category: str | None = None
    variant: str | None = None  # a list's stored variant of the item (crop-centre-90, ...)


class RefTable:
    """Every known hash as parallel arrays, about 70 bytes each plus its label's text.

    A lookup needs the known hash behind each row an index returns, and the other hashes
    of the same item (same list and label). Rows are ordered by (hash type, item, id), so
    each type's rows are one contiguous slice (its index is built from that slice without
    a copy, and returns row numbers) and an item's rows are found by binary search. List
    and category names are interned; labels are one UTF-8 blob with a start and length
    per row, so ten million unique file names cost their bytes and 12 bytes each.
    """

    def __init__(self, columns: Mapping[str, AnyArray], type_names: Sequence[str],
                 list_names: Sequence[str], category_names: Sequence[str],
                 variant_names: Sequence[str] = ()) -> None:
        self.type_names = list(type_names)
        self.list_names = list(list_names)
        self.category_names = list(category_names)
        self.variant_names = list(variant_names)
        self.ids: npt.NDArray[np.int64] = columns["ids"]
        self.types: npt.NDArray[np.int8] = columns["types"]
        self.lists: npt.NDArray[np.int32] = columns["lists"]
        self.categories: npt.NDArray[np.int32] = columns["categories"]
        self.variants: npt.NDArray[np.int16] = columns["variants"]
        self.item_keys: npt.NDArray[np.int64] = columns["item_keys"]
        self.label_starts: npt.NDArray[np.int64] = columns["label_starts"]
        self.label_lengths: npt.NDArray[np.int32] = columns["label_lengths"]
        self.label_text: npt.NDArray[np.uint8] = columns["label_text"]
        self.values: npt.NDArray[np.uint8] = columns["values"]
        # Keys of the column's own dtype: other keys would make numpy convert the column.
        numbers = np.arange(len(self.type_names) + 1, dtype=self.types.dtype)
        bounds = np.searchsorted(self.types, numbers).tolist()
        # Row range of each type present: (type number, first row, end row).
        self.sections = [
            (number, start, stop)
            for number, (start, stop) in enumerate(itertools.pairwise(bounds))
            if stop > start
        ]

    COLUMNS = ("ids", "types", "lists", "categories", "variants", "item_keys", "label_starts",
               "label_lengths", "label_text", "values")

    def __len__(self) -> int:
        return len(self.ids)

    def columns(self) -> dict[str, AnyArray]:
        return {name: getattr(self, name) for name in self.COLUMNS}

    def type_of(self, row: int) -> str:
        return self.type_names[int(self.types[row])]

    def value(self, row: int) -> str:
        return bytes(self.values[row, : HASH_TYPES[self.type_of(row)].bits // 8]).hex()

    def label(self, row: int) -> str | None:
        length = int(self.label_lengths[row])
        if not length:
            return None
        start = int(self.label_starts[row])
        return self.label_text[start : start + length].tobytes().decode()

    def ref(self, row: int) -> KnownRef:
        category = int(self.categories[row])
        variant = int(self.variants[row])
        return KnownRef(
            id=int(self.ids[row]),
            list_name=self.list_names[int(self.lists[row])],
            hash_type=self.type_of(row),
            value=self.value(row),
            label=self.label(row),
            category=self.category_names[category] if category >= 0 else None,
            variant=self.variant_names[variant] if variant >= 0 else None,
        )

    def item(self, row: int) -> npt.NDArray[np.intp] | None:
        """Rows of the item `row` belongs to (same list and label), or None if its label
        does not name one image: more than MAX_ITEM_HASHES full-image rows or more than
        MAX_VARIANT_HASHES variant rows."""
        key = int(self.item_keys[row])
        if key < 0:
            return None
        found = []
        for _, start, stop in self.sections:
            lo, hi = self.item_keys[start:stop].searchsorted([key, key + 1]).tolist()
            found.append(np.arange(start + lo, start + hi))
        members = np.concatenate(found)
        if len(members) > _MAX_KEY_ROWS:
            return None
        members = members[self._same_label(members, row)]
        full = int(np.count_nonzero(self.variants[members] < 0))
        if full > MAX_ITEM_HASHES or len(members) - full > MAX_VARIANT_HASHES:
            return None
        return members

    def _same_label(self, rows: npt.NDArray[np.intp], row: int) -> npt.NDArray[np.bool_]:
        """Which of `rows` carry the very label of `row` (its bytes, compared in numpy)."""
        length = int(self.label_lengths[row])
        same: npt.NDArray[np.bool_] = self.label_lengths[rows] == length
        if length and same.any():
            start = int(self.label_starts[row])
            chars = self.label_text[self.label_starts[rows[same]][:, None] + np.arange(length)]
            same[same] = (chars == self.label_text[start : start + length]).all(axis=1)
        return same

    def group_of(self, row: int, cache: dict[int, int] | None = None) -> int:
        """One number per item (its first row), or -1 - row for a hash that is its own.

        `cache` (row -> group, kept by the caller for one lookup): every row of an item
        found is entered, so an item's other hits cost a dict lookup."""
        if cache is not None and (group := cache.get(row)) is not None:
            return group
        members = self.item(row)
        if members is None:
            group = -1 - row
            if cache is not None:
                cache[row] = group
            return group
        group = int(members[0])
        if cache is not None:
            cache.update(dict.fromkeys(members.tolist(), group))
        return group


class RefTableBuilder:
    """Collects known hashes in column batches, then sorts them into a `RefTable`.

    Columns go straight into preallocated arrays (grown by doubling past `capacity`), so
    building from ten million database rows costs no Python object per row beyond the
    batch in hand, and peak memory stays near the finished table.
    """

    def __init__(self, list_names: Mapping[int, str], *, capacity: int = 0) -> None:
        self._list_ids = np.empty(0, np.int64)
        self._list_names: list[str] = []
        self._list_no: dict[int, int] = {}
        for list_id, name in sorted(list_names.items()):
            self.add_list(list_id, name)
        self._type_names = list(HASH_TYPES)
        self._type_no = {name: no for no, name in enumerate(self._type_names)}
        self._category_no: dict[str, int] = {}
        self._variant_no: dict[str, int] = {}
        self._label_chunks: list[bytes] = []
        self._label_size = 0
        self._count = 0
        self._columns = self._allocate(max(capacity, 1024))

    def add_list(self, list_id: int, name: str) -> None:
        """Make `list_id` known (for callers that meet lists as they go)."""
        if list_id in self._list_no:
            return
        if len(self._list_names) >= _MAX_LISTS:
            raise ValueError(f"at most {_MAX_LISTS} lists can be indexed")
        self._list_no[list_id] = len(self._list_names)
        self._list_names.append(name)
        self._list_ids = np.array(sorted(self._list_no), dtype=np.int64)
        self._list_order = np.array([self._list_no[i] for i in self._list_ids.tolist()],
                                    dtype=np.int64)

    @staticmethod
    def _allocate(rows: int) -> dict[str, AnyArray]:
        return {
            "ids": np.empty(rows, np.int64),
            "types": np.empty(rows, np.int8),
            "lists": np.empty(rows, np.int32),
            "categories": np.empty(rows, np.int32),
            "variants": np.empty(rows, np.int16),
            "item_keys": np.empty(rows, np.int64),
            "label_starts": np.empty(rows, np.int64),
            "label_lengths": np.empty(rows, np.int32),
            "values": np.zeros((rows, VALUE_BYTES), np.uint8),
        }

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
        """Add one batch of known hashes, one entry per row in every column.

        `list_ids` must be keys of the builder's `list_names`; `hash_types` are registered
        type names; `values` hex. A bad type or value raises ValueError naming the known
        hash id, its list and the value.
        """
        id_array = np.asarray(ids, dtype=np.int64).reshape(-1)
        count = len(id_array)
        list_array = np.asarray(list_ids, dtype=np.int64).reshape(-1)
        if not (len(list_array) == len(hash_types) == len(values) == count):
            raise ValueError("every column of a batch needs one entry per known hash")
        if labels is not None and len(labels) != count:
            raise ValueError("every column of a batch needs one entry per known hash")
        if categories is not None and len(categories) != count:
            raise ValueError("every column of a batch needs one entry per known hash")
        if variants is not None and len(variants) != count:
            raise ValueError("every column of a batch needs one entry per known hash")
        if not count:
            return
        at_sorted = np.searchsorted(self._list_ids, list_array)
        unknown = (at_sorted >= len(self._list_ids)) | (
            self._list_ids.take(np.minimum(at_sorted, len(self._list_ids) - 1)) != list_array
        ) if len(self._list_ids) else np.ones(count, bool)
        if unknown.any():
            at = int(unknown.nonzero()[0][0])
            raise ValueError(f"known hash {id_array[at]} names list id {list_array[at]}, "
                             "which is not among the lists given to the builder")
        list_no = self._list_order.take(at_sorted)
        self._reserve(count)
        at, end = self._count, self._count + count
        cols = self._columns
        cols["ids"][at:end] = id_array
        cols["lists"][at:end] = list_no
        types = self._type_numbers(hash_types, id_array, list_no)
        cols["types"][at:end] = types
        self._put_values(cols["values"][at:end], types, values, id_array, list_no)
        cols["categories"][at:end] = _numbered(categories, self._category_no, count)
        cols["variants"][at:end] = _numbered(variants, self._variant_no, count)
        self._put_labels(at, end, labels, list_no)
        self._count = end

    def finish(self) -> RefTable:
        """The sorted table; the builder is spent afterwards."""
        n = self._count
        cols = {name: array[:n] for name, array in self._columns.items()}
        self._columns = {}
        ordered = np.sort(cols["ids"])
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        if len(repeated):
            raise ValueError(f"known hash id {repeated[0]} appears twice; ids must be unique")
        del ordered, repeated
        order = np.lexsort((cols["ids"], cols["item_keys"], cols["types"]))
        for name in list(cols):  # one column at a time: one transient copy at most
            cols[name] = np.ascontiguousarray(cols[name].take(order, axis=0))
        cols["label_text"] = np.frombuffer(b"".join(self._label_chunks), dtype=np.uint8)
        self._label_chunks = []
        return RefTable(cols, self._type_names, self._list_names, list(self._category_no),
                        list(self._variant_no))

    def _reserve(self, count: int) -> None:
        size = len(self._columns["ids"])
        if self._count + count <= size:
            return
        grown = self._allocate(max(2 * size, self._count + count))
        for name, array in self._columns.items():
            grown[name][: self._count] = array[: self._count]
        self._columns = grown

    def _type_numbers(
        self, hash_types: Sequence[str], ids: npt.NDArray[np.int64], list_no: AnyArray
    ) -> npt.NDArray[np.int8]:
        type_no = self._type_no
        numbers = np.fromiter(map(type_no.get, hash_types, itertools.repeat(-1)), np.int8,
                              len(hash_types))
        for at in (numbers < 0).nonzero()[0].tolist():  # not a registered name as written
            try:
                numbers[at] = type_no[get_hash_type(hash_types[at]).name]
            except ValueError as exc:
                raise ValueError(self._where(ids, list_no, at) + str(exc)) from None
        return numbers

    def _put_values(
        self, out: npt.NDArray[np.uint8], types: npt.NDArray[np.int8], values: Sequence[str],
        ids: npt.NDArray[np.int64], list_no: AnyArray,
    ) -> None:
        present = np.unique(types).tolist()
        for number in present:
            hash_type = HASH_TYPES[self._type_names[number]]
            if len(present) == 1:
                rows = np.arange(len(types))
                texts = list(values)
            else:
                rows = (types == number).nonzero()[0]
                texts = [values[i] for i in rows.tolist()]
            try:
                codes = hex_to_codes(texts, hash_type.bits)
            except ValueError:
                codes = self._parse_slowly(hash_type, texts, rows, ids, list_no)
            out[rows, : hash_type.byte_length] = codes

    def _parse_slowly(
        self, hash_type: HashType, texts: list[str], rows: AnyArray,
        ids: npt.NDArray[np.int64], list_no: AnyArray,
    ) -> npt.NDArray[np.uint8]:
        """Normalise values one by one (upper case, spaces), naming the first bad one."""
        parsed = []
        for text, row in zip(texts, rows.tolist(), strict=True):
            try:
                parsed.append(hash_type.parse(text))
            except ValueError as exc:
                raise ValueError(self._where(ids, list_no, row) + str(exc)) from None
        return hex_to_codes(parsed, hash_type.bits)

    def _put_labels(
        self, at: int, end: int, labels: Sequence[str | None] | None, list_no: AnyArray
    ) -> None:
        cols = self._columns
        if labels is None:
            cols["label_starts"][at:end] = self._label_size
            cols["label_lengths"][at:end] = 0
            cols["item_keys"][at:end] = -1
            return
        texts = [label or "" for label in labels]
        joined = "".join(texts)
        if joined.isascii():  # one character, one byte: lengths without encoding each
            blob = joined.encode()
            lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        else:
            encoded = [text.encode() for text in texts]
            blob = b"".join(encoded)
            lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        cols["label_starts"][at:end] = self._label_size + np.cumsum(lengths) - lengths
        cols["label_lengths"][at:end] = lengths
        self._label_chunks.append(blob)
        self._label_size += len(blob)
        hashed = np.fromiter(map(hash, texts), np.int64, len(texts)) & ((1 << _LABEL_BITS) - 1)
        cols["item_keys"][at:end] = np.where(
            lengths > 0, (list_no.astype(np.int64) << _LABEL_BITS) | hashed, -1
        )

    def _where(self, ids: npt.NDArray[np.int64], list_no: AnyArray, row: int) -> str:
        return f"known hash {int(ids[row])} in list {self._list_names[int(list_no[row])]!r}: "


def _numbered(
    names: Sequence[str | None] | None, numbers: dict[str, int], count: int
) -> npt.NDArray[np.int32]:
    """Each name's number (-1 for none), numbering new names as they come: few distinct
    names (categories, variants), so they are numbered once and then mapped in C."""
    if names is None:
        return np.full(count, -1, np.int32)
    for name in set(names) - numbers.keys():
        if name:
            numbers[name] = len(numbers)
    lookup: dict[str | None, int] = {None: -1, "": -1}
    lookup.update(numbers)
    return np.fromiter(map(lookup.__getitem__, names), np.int32, count)
