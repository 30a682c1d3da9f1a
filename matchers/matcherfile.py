"""A built matcher on disk: its known-hash table and indexes in one memory-mapped file.

Reading a file's header (`saved_info`) imports no numpy: a crawl process learns the stamp
and size of the matcher its hash workers map without paying for the array stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from matchers.arrayfile import ArrayFileError, read_arrays, read_shapes, write_arrays
from matchers.hashtypes import HASH_TYPES, VALUE_BYTES

if TYPE_CHECKING:
    from matchers.index import ExactIndex, HammingIndex
    from matchers.reftable import RefTable

# Bump on any change to what is stored or how it is read: older files are then refused
# (and rebuilt by their owner) rather than misread.
FORMAT_VERSION = 2  # 2: the known hashes' variants (crop-augmented lists)
KIND = "trawl-matcher"


class MatcherFileError(ArrayFileError):
    """A saved matcher that cannot be used (missing, damaged, another version): rebuild it."""


def save_matcher(
    path: Path,
    table: RefTable,
    indexes: Mapping[str, ExactIndex | HammingIndex],
    stamp: str | None,
) -> int:
    """Write a matcher's table and indexes to `path` atomically; return the file's size."""
    arrays = {f"table/{name}": array for name, array in table.columns().items()}
    index_meta: dict[str, Any] = {}
    for name, index in indexes.items():
        meta, parts = index.export()
        index_meta[name] = {"class": type(index).__name__, **meta}
        arrays.update({f"index/{name}/{part}": array for part, array in parts.items()})
    meta = {
        "kind": KIND,
        "stamp": stamp,
        "value_bytes": VALUE_BYTES,
        "hash_types": {name: HASH_TYPES[name].bits for name in table.type_names},
        "type_names": table.type_names,
        "list_names": table.list_names,
        "category_names": table.category_names,
        "variant_names": table.variant_names,
        "indexes": index_meta,
    }
    return write_arrays(path, version=FORMAT_VERSION, meta=meta, arrays=arrays)


class SavedInfo(NamedTuple):
    """What a saved matcher's header says: the list-version stamp it was built from and
    how many known hashes it holds."""

    stamp: str | None
    rows: int


def saved_info(path: Path) -> SavedInfo:
    """The stamp and size of a saved matcher (header only: no mapping, no numpy).

    Raises MatcherFileError as `load_matcher` would for an unusable file.
    """
    try:
        meta, shapes = read_shapes(path, version=FORMAT_VERSION)
    except MatcherFileError:
        raise
    except ArrayFileError as exc:
        raise MatcherFileError(str(exc)) from None
    _check(path, meta)
    stamp = meta.get("stamp")
    ids = shapes.get("table/ids")
    if not ids:
        raise MatcherFileError(f"{path}: the matcher file is incomplete (no table)")
    return SavedInfo(None if stamp is None else str(stamp), int(ids[0]))


def saved_stamp(path: Path) -> str | None:
    """The list-version stamp a saved matcher was built from (see `saved_info`)."""
    return saved_info(path).stamp


def load_matcher(
    path: Path,
) -> tuple[RefTable, dict[str, ExactIndex | HammingIndex], str | None]:
    """(table, indexes, stamp) of a saved matcher, its arrays mapped read-only."""
    from matchers.index import ExactIndex, HammingIndex
    from matchers.reftable import RefTable

    try:
        meta, arrays = read_arrays(path, version=FORMAT_VERSION)
    except ArrayFileError as exc:
        raise MatcherFileError(str(exc)) from None
    _check(path, meta)
    try:
        columns = {name: arrays[f"table/{name}"] for name in RefTable.COLUMNS}
        table = RefTable(
            columns, meta["type_names"], meta["list_names"], meta["category_names"],
            meta["variant_names"],
        )
        indexes: dict[str, ExactIndex | HammingIndex] = {}
        for name, index_meta in meta["indexes"].items():
            prefix = f"index/{name}/"
            parts = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            kind = ExactIndex if index_meta["class"] == "ExactIndex" else HammingIndex
            indexes[name] = kind.restore(index_meta, parts)
    except (KeyError, TypeError, ValueError) as exc:
        raise MatcherFileError(f"{path}: the matcher file is incomplete ({exc!r})") from None
    stamp = meta.get("stamp")
    return table, indexes, None if stamp is None else str(stamp)


def _check(path: Path, meta: Mapping[str, Any]) -> None:
    if meta.get("kind") != KIND:
        raise MatcherFileError(f"{path}: not a saved matcher (kind {meta.get('kind')!r})")
    if meta.get("value_bytes") != VALUE_BYTES:
        raise MatcherFileError(f"{path}: saved for other hash types; it must be rebuilt")
    for name, bits in dict(meta.get("hash_types", {})).items():
        known = HASH_TYPES.get(name)
        if known is None or known.bits != bits:
            raise MatcherFileError(
                f"{path}: saved with hash type {name!r} ({bits} bits), which this version "
                "of Trawl does not have; it must be rebuilt"
            )
