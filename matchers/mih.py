"""Multi-index hashing: Hamming-radius search over millions of codes, exact like brute force."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from matchers.hamming import (
    I64,
    U64,
    Distances,
    IntArray,
    Neighbours,
    as_code_rows,
    as_ids,
    scan,
    sorted_neighbours,
    to_words,
)
from matchers.mihplan import (
    CANDIDATE_COST,
    ENTRY_COST,
    MAX_CHUNK_BITS,
    PROBE_COST,
    ball,
    choose_chunks,
    chunk_widths,
    flip_masks,
    probe_radii,
)

# Below this many bytes of codes a linear scan is about as fast as the tables' fixed
# per-query cost (~15-20 us): measured break-even ~20,000 pHash or ~1,000 PDQ codes;
# 64 KiB is 8,192 pHash or 2,048 PDQ codes, where either way costs < 40 us a query.
SMALL_INDEX_BYTES = 1 << 16
# Probing that would verify more than this fraction of the index is slower than one
# sequential scan of it (random gathers vs a streaming pass), e.g. on a very skewed list.
BRUTE_FORCE_FRACTION = 0.25
_BATCH_CANDIDATES = 1 << 16  # candidates verified at once in search_many (fits in cache)
# Up to this many rows (a two-hit search's usual ~5, when sorted), verified on Python ints
# (_few_neighbours).
_FEW_ROWS = 64
# A two-hit search finds rows seen twice by stamping each bucket entry's position into a
# table of 2**_STAMP_BITS uint16 slots (512 KiB, one per thread: it stays in cache), indexed
# by the row's low bits; see _stamped_twice. Sorting the ~10,000 row numbers instead cost
# 2.5x as much at 10M PDQ codes. 2**18 slots beat 2**19 and 2**20 (fewer false alarms to
# verify, but a table that falls out of cache on a busy machine). Searches with more
# entries than uint16 positions sort.
_STAMP_BITS = 18
_STAMP_MAX_ENTRIES = 1 << 16
_STAMP_ORDER = np.arange(_STAMP_MAX_ENTRIES, dtype=np.uint16)
_scratch = threading.local()
# scipy's compiled CSR row gather, once looked up (see _bucket_copier); None: not available.
_copier: Any = None
_copier_looked_up = False


def _bucket_copier() -> Any:
    """scipy's `csr_row_index`, or None where this scipy lacks it (numpy does the work then).

    `csr_row_index(count, buckets, offsets, postings, data, out, data_out)` copies the
    entries of each listed bucket, in order, in one C loop. For a two-hit PDQ query at 10M
    codes it replaces expanding ~2,400 bucket ranges into ~10,000 positions and gathering by
    them (numpy: `repeat`, an add and a `take`, ~40% of the query). scipy is a dependency
    (matchers.perceptual uses it too); it is imported here on the first
    search that needs it, not when this module is, and loaded from its compiled module
    alone (matchers.scipyext): importing the scipy.sparse package for it cost a hash worker
    0.1-0.2 s of CPU on its first match, every crawl. The function is private to scipy (it
    backs `csr_matrix[rows]`), hence the fallbacks: the package's import, then numpy.
    """
    global _copier, _copier_looked_up
    if not _copier_looked_up:
        from matchers.scipyext import csr_row_index

        _copier = csr_row_index
        if _copier is None:  # pragma: no cover - scipy's layout moved
            try:
                from scipy.sparse import _sparsetools

                _copier = _sparsetools.csr_row_index
            except (ImportError, AttributeError):
                _copier = None
        _copier_looked_up = True
    return _copier


def _expand(starts: I64, lengths: I64) -> I64:
    """Concatenate the integer ranges [start, start + length) without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class _Plan:
    """The buckets one search radius probes, as flat offset positions relative to the key."""

    chunks: npt.NDArray[np.intp]  # chunk of each probe
    masks: I64  # XOR applied to that chunk's key
    bases: I64  # where that chunk's offsets start in the flat offsets array
    direct: int  # the first probes are chunk 0's, whose buckets are row ranges
    multi_chunk: bool  # a code can be found via two chunks: deduplicate hits
    # Every code within the radius turns up in at least this many chunks' probes: with 2,
    # only rows seen twice are verified (see `search`).
    min_hits: int = 1


@dataclass
class _Tables:
    """Built index state. Rows are sorted by chunk 0, so chunk 0 needs no posting list."""

    ids: IntArray
    words: U64  # (n, words) codes, chunk-0 order
    widths: list[int]
    starts: list[int]
    offsets: IntArray  # all chunks' CSR offsets
    # Rows of every bucket position, flat. Multi-word codes: chunks 1.. only (chunk 0's
    # positions are rows). Single-word codes: every chunk's, chunk 0's being 0..n-1.
    postings: IntArray
    # Single-word codes copied in posting order for every chunk (`words` is a view of its
    # first n): a candidate is verified from the position alone, with no gather by row.
    inline: U64 | None
    plans: dict[tuple[int, int], _Plan | None] = field(default_factory=dict)
    # Offsets and postings one native integer type, C-contiguous: what scipy's copier reads
    # in place (given anything else it would convert a copy of the whole array per call).
    copyable: bool = field(init=False)
    # (right shift, mask) taking each chunk's value out of a code held as one Python int.
    key_shifts: list[tuple[int, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.copyable = all(
            a.dtype == self.offsets.dtype and a.dtype.isnative and a.flags.c_contiguous
            and a.flags.aligned and a.dtype in (np.dtype(np.int32), np.dtype(np.int64))
            for a in (self.offsets, self.postings)
        )
        bits = sum(self.widths)
        self.key_shifts = [
            (bits - start - width, (1 << width) - 1)
            for start, width in zip(self.starts, self.widths, strict=True)
        ]

    @property
    def nbytes(self) -> int:
        codes = self.words if self.inline is None else self.inline
        arrays = [self.ids, codes, self.offsets, self.postings]
        return int(sum(a.nbytes for a in arrays))


class HammingIndex:
    """All known codes of one perceptual hash type, searchable by Hamming radius.

    Multi-index hashing (Norouzi, Punjani & Fleet): codes are cut into m chunks and each
    chunk gets a table of CSR buckets over its 2**width values. By pigeonhole a code
    within radius r of the query has some chunk within a small radius, so a search probes
    few buckets per chunk and verifies those candidates with popcount. Every code within
    r is returned with its distance, exactly what `brute_force_search` returns. Tables are
    numpy arrays (about bits/8 + 4(m-1) + 4..8 bytes per code, more for 64-bit codes,
    which are copied into each table so verifying needs no random access). Adding codes
    invalidates the tables; the next search (or `build()`) rebuilds them.
    """

    def __init__(
        self, bits: int, *, radius_hint: int | None = None, chunks: int | None = None
    ) -> None:
        if bits <= 0 or bits % 8:
            raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
        fewest = -(-bits // MAX_CHUNK_BITS)
        if chunks is not None and not fewest <= chunks <= bits:
            raise ValueError(f"chunks must be between {fewest} and {bits}, got {chunks}")
        self.bits = bits
        # The radius the chunking is tuned for (bits/8: 8 for pHash, 32 for PDQ);
        # searches at any radius stay exact, only slower far from it.
        self.radius_hint = bits // 8 if radius_hint is None else radius_hint
        self._fixed_chunks = chunks
        self._pending: list[tuple[I64, U64]] = []
        no_codes = to_words(np.empty((0, bits // 8), dtype=np.uint8))
        self._tables = self._make_tables(np.empty(0, np.int64), no_codes)

    def __len__(self) -> int:
        return len(self._tables.ids) + sum(len(ids) for ids, _ in self._pending)

    @property
    def chunk_widths(self) -> list[int]:
        """Widths of the chunk tables (empty for a small index searched by scanning)."""
        return list(self._built().widths)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (codes, ids, offsets, postings)."""
        return self._built().nbytes

    def add(self, ids: npt.ArrayLike, codes: npt.ArrayLike) -> None:
        """Add codes ((n, bits/8) uint8 rows) with caller-chosen int64 ids (copied)."""
        rows = as_code_rows(codes, self.bits)
        id_array = as_ids(ids, len(rows))
        if len(rows):
            self._pending.append((id_array.copy(), to_words(rows.copy())))

    def build(self) -> None:
        """Build the tables now rather than on the first search after `add`."""
        if self._pending:
            old = self._tables
            ids = np.concatenate([old.ids.astype(np.int64), *(i for i, _ in self._pending)])
            words = np.concatenate([old.words, *(w for _, w in self._pending)])
            self._pending.clear()
            self._tables = self._make_tables(ids, words)

    @classmethod
    def from_codes(
        cls, bits: int, ids: npt.ArrayLike, codes: npt.ArrayLike, *, radius_hint: int | None = None
    ) -> HammingIndex:
        """An index built at once over `codes`, without `add`'s defensive copies.

        For building from large column arrays (the matcher's builder): the tables take their
        own sorted copies, so peak memory stays near the finished index plus the input.
        """
        index = cls(bits, radius_hint=radius_hint)
        rows = as_code_rows(codes, bits)
        index._tables = index._make_tables(as_ids(ids, len(rows)), to_words(rows))
        return index

    def export(self) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
        """(parameters, arrays) that `restore` turns back into this index (for saving)."""
        tables = self._built()
        meta = {
            "bits": self.bits,
            "radius_hint": self.radius_hint,
            "chunks": self._fixed_chunks,
            "widths": list(tables.widths),
            "starts": list(tables.starts),
            "count": len(tables.ids),
        }
        arrays: dict[str, npt.NDArray[Any]] = {
            "ids": tables.ids, "offsets": tables.offsets, "postings": tables.postings
        }
        if tables.inline is not None:
            arrays["inline"] = tables.inline
        else:
            arrays["words"] = tables.words
        return meta, arrays

    @classmethod
    def restore(
        cls, meta: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]
    ) -> HammingIndex:
        """The index `export` described, around the given (e.g. memory-mapped) arrays."""
        index = cls(int(meta["bits"]), radius_hint=int(meta["radius_hint"]))
        index._fixed_chunks = meta["chunks"]  # set after: no empty tables of that shape
        count = int(meta["count"])
        inline = arrays.get("inline")
        words = inline[:count].reshape(count, 1) if inline is not None else arrays["words"]
        index._tables = _Tables(
            arrays["ids"], words, [int(w) for w in meta["widths"]],
            [int(s) for s in meta["starts"]], arrays["offsets"], arrays["postings"], inline,
        )
        return index

    def _built(self) -> _Tables:
        self.build()
        return self._tables

    def _make_tables(self, ids: I64, words: U64) -> _Tables:
        n = len(ids)
        id_type = np.int32 if n and ids.min() >= -(2**31) and ids.max() < 2**31 else np.int64
        if words.nbytes < SMALL_INDEX_BYTES and self._fixed_chunks is None:
            empty = np.empty(0, np.int32)
            return _Tables(ids.astype(id_type), words, [], [], empty, empty, None)
        chunks = self._fixed_chunks or choose_chunks(self.bits, self.radius_hint, n)
        widths = chunk_widths(self.bits, chunks)
        starts = [sum(widths[:j]) for j in range(chunks)]
        index_type = np.int32 if n * chunks < 2**31 else np.int64
        # Filled in place, chunk by chunk, to keep the build's peak memory near the result's.
        offsets: IntArray = np.empty(sum(2**w + 1 for w in widths), dtype=index_type)
        single = words.shape[1] == 1
        skip = 0 if single else 1  # chunks without posting rows: chunk 0 for multi-word
        postings: IntArray = np.empty((chunks - skip) * n, dtype=index_type)
        keys = _chunk_keys(words, starts[0], widths[0])
        order = np.argsort(keys)  # any order within a bucket will do: no need for stable
        ids, words = ids[order].astype(id_type), words.take(order, axis=0)
        offsets[: 2 ** widths[0] + 1] = _offsets(keys, widths[0], 0)
        if single:
            postings[:n] = np.arange(n)
        at = 2 ** widths[0] + 1
        for j in range(1, chunks):
            keys = _chunk_keys(words, starts[j], widths[j])
            base = (j - skip) * n
            postings[base : base + n] = np.argsort(keys)
            offsets[at : at + 2 ** widths[j] + 1] = _offsets(keys, widths[j], base)
            at += 2 ** widths[j] + 1
        inline = None
        if single:
            inline = words[:, 0].take(postings)
            words = inline[:n].reshape(n, 1)  # rows are in chunk 0's order: the same codes
        return _Tables(ids, words, widths, starts, offsets, postings, inline)

    def _plan(self, tables: _Tables, radius: int, min_hits: int = 1) -> _Plan | None:
        """Probe plan for a radius, or None when scanning everything is cheaper."""
        if (radius, min_hits) in tables.plans:
            return tables.plans[radius, min_hits]
        plan = None
        widths = tables.widths
        reach = probe_radii(len(widths), radius, min_hits) if widths else []
        probes = sum(ball(w, s) for w, s in zip(widths, reach, strict=True) if s >= 0)
        if widths and probes < BRUTE_FORCE_FRACTION * len(tables.ids):
            parts = [(j, flip_masks(widths[j], s)) for j, s in enumerate(reach) if s >= 0]
            bases = np.cumsum([0] + [2**w + 1 for w in widths])
            plan = _Plan(
                chunks=np.concatenate([np.full(len(m), j, np.intp) for j, m in parts]),
                masks=np.concatenate([m for _, m in parts]),
                bases=np.concatenate([np.full(len(m), bases[j], np.int64) for j, m in parts]),
                direct=len(parts[0][1]),  # chunk 0 always has the largest radius
                multi_chunk=len(parts) > 1,
                min_hits=min_hits,
            )
        tables.plans[radius, min_hits] = plan
        return plan

    def _single_plan(self, tables: _Tables, radius: int) -> _Plan | None:
        """The plan one query uses: for multi-word codes, the cheaper of verifying every
        candidate and verifying only rows two chunks agree on (see `search`)."""
        key = (radius, 0)
        if key not in tables.plans:
            plan = self._plan(tables, radius)
            if tables.inline is None and len(tables.widths) > 2:
                twice = self._plan(tables, radius, 2)
                if twice is not None and (
                    plan is None or _plan_cost(tables, twice) < _plan_cost(tables, plan)
                ):
                    plan = twice
            tables.plans[key] = plan
        return tables.plans[key]

    def _query(self, code: bytes | npt.ArrayLike) -> tuple[U64, int]:
        """One query as (1, words) uint64 and as a Python int (bits in hex order)."""
        if isinstance(code, bytes) and len(code) * 8 == self.bits and self.bits % 64 == 0:
            return np.frombuffer(code, dtype=np.uint64).reshape(1, -1), int.from_bytes(code, "big")
        query = to_words(as_code_rows(code, self.bits))
        return query, int.from_bytes(query.tobytes()[: self.bits // 8], "big")

    def search(self, code: bytes | npt.ArrayLike, radius: int) -> Neighbours:  # noqa: C901
        """Every (id, distance) within `radius` bits of `code`, nearest first, then by id.

        (The hot path of every match: its branches stay in one frame, hence the noqa.)"""
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        query, value = self._query(code)
        tables = self._built()
        plan = self._single_plan(tables, radius)
        if plan is None:
            return scan(tables.words, tables.ids, query[0], radius)
        # Plain method calls throughout: at ~40 us a query, numpy's Python-level wrappers
        # (np.cumsum, np.flatnonzero, ...) would add a tenth.
        keys = np.array([(value >> shift) & mask for shift, mask in tables.key_shifts])
        at = plan.bases + (keys.take(plan.chunks) ^ plan.masks)
        # Every probe is a bucket of the tables: "clip" skips take()'s per-index checks
        # (half its time on cached data); offsets[1:] gives each bucket's end without at + 1.
        lo = tables.offsets.take(at, mode="clip")
        lengths = tables.offsets[1:].take(at, mode="clip") - lo
        if plan.min_hits == 2 and tables.copyable and (copier := _bucket_copier()) is not None:
            return _two_hit_compiled(tables, plan, at, lo, lengths, value, query, radius, copier)
        # In the tables' own integer type (int32 below 2**31 entries): half the memory
        # traffic, and sorting int32 row numbers costs half as much as int64.
        kind = tables.offsets.dtype
        ends = lengths.cumsum(dtype=kind)
        total = int(ends[-1])
        if total == 0:
            return []
        if total > BRUTE_FORCE_FRACTION * len(tables.ids):
            return scan(tables.words, tables.ids, query[0], radius)
        positions = (lo - (ends - lengths)).repeat(lengths) + np.arange(total, dtype=kind)
        if tables.inline is not None:  # single-word codes: verified by position alone
            counts = np.bitwise_count(tables.inline.take(positions) ^ query[0, 0])
            hit = (counts <= radius).nonzero()[0]
            if len(hit) == 0:
                return []
            rows, dist = tables.postings.take(positions.take(hit)), counts.take(hit).astype(np.intp)
        else:
            split = int(ends[plan.direct - 1])
            rows = positions if split == total else np.empty(total, tables.postings.dtype)
            if split < total:  # chunk 0's positions are rows; the others' are looked up
                rows[:split] = positions[:split]
                tables.postings.take(positions[split:], out=rows[split:])
            if plan.min_hits == 2:
                # Pigeonhole guarantees every answer is in two chunks' buckets: rows seen
                # once (nearly all of them) are never fetched, which saves a random read
                # of a whole code per candidate.
                if total <= _STAMP_MAX_ENTRIES:
                    # A superset of the rows seen twice (~200 at 10M PDQ codes), a row seen
                    # three times possibly twice: verified by numpy (half the time of
                    # _few_neighbours' Python ints for ~50 rows), repeats dropped at the end.
                    rows = _stamped_twice(rows)
                    dist = _row_distances(_rows(tables.words, rows), query)
                    near = (dist <= radius).nonzero()[0]
                    if len(near) == 0:
                        return []
                    near_rows, near_dist = rows.take(near).tolist(), dist.take(near).tolist()
                    found = dict(zip(near_rows, near_dist, strict=True))
                    return _by_distance_and_id(tables, found)
                else:
                    rows.sort()
                    rows = rows[1:][rows[1:] == rows[:-1]]
                    if len(rows) > 1:
                        rows = rows[np.concatenate(([True], rows[1:] != rows[:-1]))]
                    if len(rows) <= _FEW_ROWS:
                        return _few_neighbours(tables, rows, value, radius)
            dist = _row_distances(_rows(tables.words, rows), query)
            near = (dist <= radius).nonzero()[0]
            if len(near) == 0:
                return []
            rows, dist = rows.take(near), dist.take(near)
            if plan.min_hits == 2:
                return sorted_neighbours(tables.ids[rows].astype(np.int64), dist)
        if plan.multi_chunk and len(rows) > 1:
            rows, first = np.unique(rows, return_index=True)
            dist = dist[first]
        return sorted_neighbours(tables.ids[rows].astype(np.int64), dist)

    def search_each(self, codes: list[bytes], radius: int) -> list[Neighbours]:
        """`[self.search(code, radius) for code in codes]`, the same lists, for a few codes
        at once (a match's eight PDQ orientations): in the two-hit compiled case, one
        pass of numpy calls for all of them instead of one per code (a search of a small
        index is mostly those calls' fixed cost); otherwise one search per code."""
        tables = self._built()
        plan = self._single_plan(tables, radius) if radius >= 0 else None
        copier = _bucket_copier() if plan is not None and plan.min_hits == 2 else None
        n = len(tables.ids)
        width = self.bits // 8
        if (copier is None or plan is None or not tables.copyable or len(codes) < 2
                or self.bits % 64 or any(len(code) != width for code in codes)):
            return [self.search(code, radius) for code in codes]
        count = len(codes)
        values = [int.from_bytes(code, "big") for code in codes]
        keys = np.array([[(value >> shift) & mask for shift, mask in tables.key_shifts]
                         for value in values])
        at = plan.bases + (keys[:, plan.chunks] ^ plan.masks)  # (codes, probes)
        lo = tables.offsets.take(at, mode="clip")
        lengths = tables.offsets[1:].take(at, mode="clip") - lo
        totals = lengths.sum(axis=1).tolist()
        if max(totals) > BRUTE_FORCE_FRACTION * n or count * n >= 2**31:
            return [self.search(code, radius) for code in codes]
        kind = tables.postings.dtype
        direct = plan.direct
        first = lengths[:, :direct].ravel()
        ends = first.cumsum()
        split = int(ends[-1])
        total = sum(totals)
        rows: IntArray = np.empty(total, kind)
        if split:
            rows[:split] = (lo[:, :direct].ravel() - (ends - first)).repeat(first) + np.arange(
                split, dtype=kind)
        if split < total:
            via = rows[split:]
            copier(count * (len(plan.masks) - direct), at[:, direct:].ravel().astype(kind),
                   tables.offsets, tables.postings, tables.postings, via, via)
        # Each code's rows in a range of its own (code k's rows + k * n), so that one sort
        # puts every code's repeats side by side without mixing codes.
        owner = np.arange(count, dtype=kind) * kind.type(n)
        rows[:split] += owner.repeat(lengths[:, :direct].sum(axis=1))
        rows[split:] += owner.repeat(lengths[:, direct:].sum(axis=1))
        rows.sort()
        rows = rows[1:][rows[1:] == rows[:-1]]
        results: list[Neighbours] = [[] for _ in codes]
        if len(rows) == 0:
            return results
        rows = rows[np.concatenate(([True], rows[1:] != rows[:-1]))]
        which, rows = np.divmod(rows, kind.type(n))
        raw = tables.words.take(rows, axis=0).tobytes()
        found: list[dict[int, int]] = [{} for _ in codes]
        for i, (k, row) in enumerate(zip(which.tolist(), rows.tolist(), strict=True)):
            code = int.from_bytes(raw[i * width : (i + 1) * width], "big")
            distance = (code ^ values[k]).bit_count()
            if distance <= radius:
                found[k][row] = distance
        return [_by_distance_and_id(tables, hits) if hits else [] for hits in found]

    def search_many(self, codes: npt.ArrayLike, radius: int) -> list[Neighbours]:
        """`search` for each row of `codes`, vectorised across queries for throughput."""
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        queries = to_words(as_code_rows(codes, self.bits))
        tables = self._built()
        plan = self._plan(tables, radius)
        if plan is None:
            return [scan(tables.words, tables.ids, q, radius) for q in queries]
        keys = np.stack(
            [_chunk_keys(queries, s, w) for s, w in zip(tables.starts, tables.widths, strict=True)],
            axis=1,
        )
        results: list[Neighbours] = []
        block = max(1, (1 << 20) // len(plan.masks))  # bounds the (queries, probes) arrays
        for start in range(0, len(queries), block):
            part = slice(start, start + block)
            results.extend(self._search_block(tables, plan, keys[part], queries[part], radius))
        return results

    def _search_block(
        self,
        tables: _Tables,
        plan: _Plan,
        keys: npt.NDArray[np.uint32],
        queries: U64,
        radius: int,
    ) -> list[Neighbours]:
        at = plan.bases[None, :] + (keys[:, plan.chunks] ^ plan.masks[None, :])
        lo = tables.offsets[at].astype(np.int64)
        lengths = tables.offsets[at + 1] - lo
        per_query = lengths.sum(axis=1)
        results: list[Neighbours] = []
        start = 0
        while start < len(queries):
            # As many queries as fit the candidate budget (at least one).
            fits = int(np.count_nonzero(np.cumsum(per_query[start:]) <= _BATCH_CANDIDATES))
            stop = start + max(1, fits)
            for q in range(start, stop):
                if per_query[q] > BRUTE_FORCE_FRACTION * len(tables.ids):
                    lengths[q] = 0  # scanned below instead
            part = slice(start, stop)
            results.extend(
                self._verify_block(tables, plan, lo[part], lengths[part], queries[part], radius)
            )
            for q in range(start, stop):
                if per_query[q] > BRUTE_FORCE_FRACTION * len(tables.ids):
                    results[q] = scan(tables.words, tables.ids, queries[q], radius)
            start = stop
        return results

    def _verify_block(
        self, tables: _Tables, plan: _Plan, lo: I64, lengths: I64, queries: U64, radius: int
    ) -> list[Neighbours]:
        count = len(queries)
        owners = np.arange(count)
        if tables.inline is not None:  # single-word codes: verified by position alone
            owner = np.repeat(owners, lengths.sum(axis=1))
            positions = _expand(lo.ravel(), lengths.ravel())
            counts = np.bitwise_count(tables.inline[positions] ^ queries[:, 0][owner])
            near = counts <= radius
            rows = tables.postings[positions[near]].astype(np.int64)
            owner, dist = owner[near], counts[near].astype(np.intp)
        else:
            split = plan.direct
            direct_owner = np.repeat(owners, lengths[:, :split].sum(axis=1))
            via_owner = np.repeat(owners, lengths[:, split:].sum(axis=1))
            direct = _expand(lo[:, :split].ravel(), lengths[:, :split].ravel())
            via = _expand(lo[:, split:].ravel(), lengths[:, split:].ravel())
            dist_direct = _row_distances(
                _rows(tables.words, direct), _rows(queries, direct_owner)
            )
            rows_via = tables.postings[via].astype(np.int64)
            dist_via = _row_distances(_rows(tables.words, rows_via), _rows(queries, via_owner))
            keep = dist_via <= radius
            near = dist_direct <= radius
            rows = np.concatenate([direct[near], rows_via[keep]])
            owner = np.concatenate([direct_owner[near], via_owner[keep]])
            dist = np.concatenate([dist_direct[near], dist_via[keep]])
        if plan.multi_chunk and len(rows) > 1:
            _, first = np.unique(owner * len(tables.ids) + rows, return_index=True)
            rows, owner, dist = rows[first], owner[first], dist[first]
        ids = tables.ids[rows].astype(np.int64)
        order = np.lexsort((ids, dist, owner))
        ids, owner, dist = ids[order], owner[order], dist[order]
        bounds = np.searchsorted(owner, np.arange(count + 1)).tolist()
        id_list, dist_list = ids.tolist(), dist.tolist()
        return [
            list(zip(id_list[a:b], dist_list[a:b], strict=True))
            for a, b in itertools.pairwise(bounds)
        ]


def _plan_cost(tables: _Tables, plan: _Plan) -> float:
    """Expected per-query cost of a plan for uniformly random codes (see the constants)."""
    n = len(tables.ids)
    probes = len(plan.masks)
    found = float(sum(
        n / 2.0 ** tables.widths[int(j)] for j in plan.chunks
    ))  # expected rows in the probed buckets
    if plan.min_hits == 2:
        return PROBE_COST * probes + ENTRY_COST * found
    return PROBE_COST * probes + CANDIDATE_COST * found


def _two_hit_compiled(
    tables: _Tables,
    plan: _Plan,
    at: I64,
    lo: IntArray,
    lengths: IntArray,
    value: int,
    query: U64,
    radius: int,
    copier: Any,
) -> Neighbours:
    """`search`'s two-hit case with the bucket entries copied by scipy's C loop, and the
    rows seen twice found by sorting them.

    Chunk 0's buckets are row ranges (rows are in its order), expanded by numpy (~600 rows
    at 10M PDQ codes); the other chunks' bucket entries (~9,700) are copied from the
    postings by `copier` in one call, into the same array. Sorting the ~10,000 int32 rows
    (numpy's vectorised sort: ~35 us) then puts repeats side by side: exactly the rows seen
    in two chunks' probes, which are all that can be within the radius (see `search`);
    this beat the stamp table (_stamped_twice) once the copy was compiled (bench/RESULTS.md).
    """
    total = int(lengths.sum())
    if total == 0:
        return []
    if total > BRUTE_FORCE_FRACTION * len(tables.ids):
        return scan(tables.words, tables.ids, query[0], radius)
    kind = tables.postings.dtype
    rows: IntArray = np.empty(total, kind)
    direct = plan.direct
    first = lengths[:direct]
    ends = first.cumsum()
    split = int(ends[-1])
    if split:
        rows[:split] = (lo[:direct] - (ends - first)).repeat(first) + np.arange(split)
    if split < total:
        via = rows[split:]  # written twice (as the rows and as their "data"): same values
        copier(len(at) - direct, at[direct:].astype(kind), tables.offsets, tables.postings,
               tables.postings, via, via)
    rows.sort()
    rows = rows[1:][rows[1:] == rows[:-1]]  # a row seen k times is here k - 1 times
    if len(rows) == 0:
        return []
    if len(rows) <= _FEW_ROWS:
        return _few_neighbours(tables, rows, value, radius)
    rows = rows[np.concatenate(([True], rows[1:] != rows[:-1]))]
    dist = _row_distances(_rows(tables.words, rows), query)
    near = (dist <= radius).nonzero()[0]
    if len(near) == 0:
        return []
    return sorted_neighbours(tables.ids[rows.take(near)].astype(np.int64), dist.take(near))


def _stamped_twice(rows: IntArray) -> IntArray:
    """Every row that occurs at least twice in `rows` (<= 65,536 entries), and a few that
    do not (verified like the others): without sorting.

    Each entry writes its position into the slot its row's low bits pick; a slot keeps one
    writer's position, whichever. An entry whose slot holds another position shares the
    slot with some other entry: either its own row's (a repeat) or another row's (a false
    alarm, ~200 of ~10,000 entries at 10M PDQ codes). Of a repeated row's two entries at
    most one can be the slot's keeper, so the other is always flagged: none is missed.
    The table is this thread's own, as one search's stamps must not mix with another's;
    what a previous search left in it is never read, as every slot read was written first.
    """
    table = getattr(_scratch, "stamps", None)
    if table is None or len(table) != 1 << _STAMP_BITS:
        table = _scratch.stamps = np.zeros(1 << _STAMP_BITS, np.uint16)
    slots = rows & (len(table) - 1)
    order = _STAMP_ORDER[: len(rows)]
    table.put(slots, order)
    flagged: IntArray = rows[table.take(slots) != order]
    return flagged


def _few_neighbours(tables: _Tables, rows: IntArray, value: int, radius: int) -> Neighbours:
    """(id, distance) of the few `rows` (repeats counted once) within `radius` of the query
    `value`, sorted like `sorted_neighbours`: computed on Python ints, as for a handful of
    rows (a two-hit search verifies ~5-50) numpy's per-call cost is most of the work."""
    width = tables.words.shape[1] * 8
    raw = tables.words.take(rows, axis=0).tobytes()
    found: dict[int, int] = {}
    for i, row in enumerate(rows.tolist()):
        distance = (int.from_bytes(raw[i * width : (i + 1) * width], "big") ^ value).bit_count()
        if distance <= radius:
            found[row] = distance
    return _by_distance_and_id(tables, found) if found else []


def _by_distance_and_id(tables: _Tables, found: dict[int, int]) -> Neighbours:
    """{row: distance} as `sorted_neighbours` orders it: (id, distance), nearest first."""
    ids = tables.ids
    return [(i, d) for d, i in sorted((d, int(ids[row])) for row, d in found.items())]


def _rows(words: U64, rows: I64) -> U64:
    """words[rows], via take(): numpy's 2-D fancy indexing is ~7x slower (bench/RESULTS.md)."""
    return words.take(rows, axis=0)


def _row_distances(words: U64, queries: U64) -> Distances:
    """Distance of each row to its own query row (or to one broadcast query).

    Sums the per-word popcounts without `sum(axis=1)`, which is slow over short rows
    (a third of a PDQ search's time): four words' counts (<= 64 each) are the bytes of
    one uint32, added by a multiply into the top byte. Only a total of exactly 256 (all
    bits differ) would wrap, to 0; such rows are recounted.
    """
    words ^= queries  # `words` is always a fresh gather, so in place is safe
    counts = np.bitwise_count(words)
    if counts.shape[1] == 1:
        return counts[:, 0].astype(np.intp)
    if counts.shape[1] == 4:
        total = ((counts.view(np.uint32)[:, 0] * np.uint32(0x01010101)) >> np.uint32(24))
        wrapped = (total == 0).nonzero()[0]
        result = total.astype(np.intp)
        if len(wrapped):
            result[wrapped] = counts[wrapped].sum(axis=1, dtype=np.intp)
        return result
    summed: Distances = counts.sum(axis=1, dtype=np.intp)
    return summed


def _chunk_keys(words: U64, start: int, width: int) -> npt.NDArray[np.uint32]:
    """The value of bits [start, start + width) of every code (hex order, MSB first)."""
    rows = words.view(np.uint8)
    first, last = start // 8, (start + width - 1) // 8
    value = np.zeros(len(words), dtype=np.uint32)
    for byte in range(first, last + 1):
        value <<= 8
        value |= rows[:, byte]
    value >>= 8 * (last + 1) - (start + width)
    value &= (1 << width) - 1
    return value


def _offsets(keys: npt.NDArray[np.uint32], width: int, base: int) -> I64:
    """CSR offsets: the bucket of key k is positions offsets[k]:offsets[k + 1] (+ base)."""
    offsets = np.empty(2**width + 1, dtype=np.int64)
    offsets[0] = 0
    np.cumsum(np.bincount(keys, minlength=2**width), out=offsets[1:])
    return offsets + base
