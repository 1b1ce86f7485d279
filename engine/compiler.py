# cython: annotation_typing=False, boundscheck=True, wraparound=True
"""From rules text to a compiled programme, as an ordered list of named, timed stages.

parse → check → normalise → analyse → layout → index → lower

The result holds the checked :class:`~engine.program.Program` (for the decision walk, the
reference evaluator and explanations) and a :class:`~tessera.ext.Matcher` built from
predicate tables:

* every rule becomes conjunctive rows (its DNF);
* a row that tests a selective key (merchant, terminal, card BIN, mcc, a merchant group, a
  custom text attribute) is *anchored*: an index maps each value of the key to the rows
  that name it, so a row whose key differs from the transaction's costs nothing;
* the other rows form the *general block*: for each slot they test, sorted breakpoints cut
  the values into intervals and each interval has a bitset of the rows it satisfies; a
  transaction ANDs one bitset per slot;
* what a column cannot index (bit-mask tests, huge interval sets) stays in a row's
  residual list and is checked for the rows that survive.
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from . import ast
from . import program as P
from .checker import check, complement, intersect, normalize
from .errors import Diagnostic, Diagnostics, InternalError, Location, RulesError
from .fastclass import fast_constructor, give_way
from .layout import LINE_SLOTS, OP_MERCHANT_GROUPS, OP_SEGMENTS, Layout, mask_words
from .model import BasketLine, MemberState, Transaction
from .normal import MAX_ROWS_PER_RULE, Row, TooComplex, implies, rule_rows, simplify, to_dnf
from .parser import parse
from .values import micro_units

LIT_INTERVALS, LIT_ANY, LIT_NONE = 0, 1, 2
MAX_ANCHOR_POINTS = 256
GENERAL_TABLE_BUDGET = 32 * 1024 * 1024  # bytes per slot before its tests go residual
SHADOW_CHECK_BUDGET = 2_000_000
ANCHOR_SCORES = {
    "merchant": 100,
    "terminal": 100,
    "card_bin": 90,
    "attr": 60,
    "mcc": 60,
    "merchant_groups": 70,
}


@dataclass(frozen=True, slots=True)
class Literal:
    kind: int
    slot: int
    data: tuple[int, ...]  # flattened (low, high) pairs, or mask words

    @property
    def points(self) -> list[int] | None:
        """The values an interval literal accepts, when they are few enough to index."""
        if self.kind != LIT_INTERVALS:
            return None
        total, values = 0, []
        for i in range(0, len(self.data), 2):
            low, high = self.data[i], self.data[i + 1]
            total += high - low + 1
            if total > MAX_ANCHOR_POINTS:
                return None
            values.extend(range(low, high + 1))
        return values


_LITERAL = fast_constructor(Literal)


@dataclass(slots=True)
class Stage:
    name: str
    seconds: float = 0.0


@dataclass(slots=True)
class CompiledProgram:
    program: P.Program
    matcher: object  # tessera.ext.Matcher
    layout: Layout
    diagnostics: Diagnostics
    stages: list[Stage]
    version: str
    row_count: int
    anchored_rows: int
    general_rows: int

    @property
    def compile_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.program.rules)

    @property
    def nbytes(self) -> int:
        return int(self.matcher.nbytes)

    @property
    def match(self) -> Callable[[object, object], list[int]]:
        """``match(txn, member)``: walk indices of the rules that match, in walk order.

        The matcher's own method, so that a call is not a Python frame more."""
        return self.matcher.match


@dataclass(slots=True)
class _Build:
    """State carried from stage to stage."""

    path: str
    source: str
    base_dir: str | None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    module: ast.Module | None = None
    program: P.Program | None = None
    rows: list[tuple[int, Row]] = field(default_factory=list)  # (walk index, row)
    layout: Layout = field(default_factory=Layout)
    lowered: list[tuple[int, list[Literal]]] = field(default_factory=list)
    filters: list[list[list[Literal]]] = field(default_factory=list)
    tables: dict[str, object] = field(default_factory=dict)
    anchored: int = 0
    general: int = 0
    lines: list[str] | None = None  # the source's lines, split when a diagnostic needs them


def compile_file(path: str) -> CompiledProgram:
    """Compile a rules file; :class:`RulesError` carries every diagnostic."""
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except UnicodeDecodeError as exc:
        diagnostics = Diagnostics()
        diagnostics.add(
            Diagnostic("error", "E101", f"not UTF-8 text ({exc.reason})", Location(path, 1, 1))
        )
        raise RulesError(diagnostics) from None
    return compile_source(source, path)


def compile_source(
    source: str, path: str = "<rules>", base_dir: str | None = None
) -> CompiledProgram:
    build = _Build(path, source, base_dir)
    stages: list[Stage] = []
    # Compiling allocates millions of small objects that all survive; the cyclic collector
    # would scan them again and again for nothing, so it waits until the compile is done.
    # The intermediate forms (syntax tree, rows, literals, tables) are dropped before it
    # comes back, so that its first young collection has only the result to walk; and it
    # comes back last, so that this walk is not forced here: a server that freezes the
    # loaded programme (``gc.freeze()``) never pays it at all.  Most of the result (syntax
    # nodes, locations, leaves, rules) is built untracked (engine/_untrack.pyx): immutable
    # and acyclic, it is nothing the collector could free, and its first young collection
    # walks a fraction of the objects (0.06 s rather than 0.4 s at 10,000 rules).  Compiled
    # by Cython, the stages would hold the GIL throughout: in a serving process (which
    # turns ``giving_way`` on) the constructors and the long loops give way to waiting
    # threads (``give_way``, as the interpreter would), so that its calls go on beside.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for name, run in STAGES:
            stage = Stage(name)
            started = time.perf_counter()
            run(build)
            stage.seconds = time.perf_counter() - started
            stages.append(stage)
            give_way()
            if build.diagnostics.errors:
                raise RulesError(build.diagnostics)
        assert build.program is not None
        from tessera.ext import Matcher  # the compiled core; only the compiler builds it

        started = time.perf_counter()
        matcher = Matcher(build.tables)
        stages.append(Stage("load", time.perf_counter() - started))
        compiled = CompiledProgram(
            program=build.program,
            matcher=matcher,
            layout=build.layout,
            diagnostics=build.diagnostics,
            stages=stages,
            version=_version(build),
            row_count=len(build.lowered),
            anchored_rows=build.anchored,
            general_rows=build.general,
        )
        _release(build)
    finally:
        if collecting:
            gc.enable()
    return compiled


def _release(build: _Build) -> None:
    """Drop what only the stages needed, while the collector is still off."""
    build.module = None
    build.rows = []
    build.lowered = []
    build.filters = []
    build.tables = {}


# ---- stages -----------------------------------------------------------------------------


def _stage_parse(build: _Build) -> None:
    try:
        build.module = parse(build.source, build.path)
    except RulesError as err:
        for diagnostic in err.diagnostics.items:
            build.diagnostics.add(diagnostic)


def _stage_check(build: _Build) -> None:
    assert build.module is not None
    program, diagnostics = check(build.module, build.base_dir)
    for diagnostic in diagnostics.items:
        build.diagnostics.add(diagnostic)
    build.program = program


def _stage_normalise(build: _Build) -> None:
    assert build.program is not None
    for rule in build.program.rules:
        give_way()
        try:
            rows = rule_rows(rule)
        except TooComplex:
            _diag(
                build,
                _lines(build),
                "error",
                "E509",
                f"the condition of {rule.name!r} expands to more than "
                f"{MAX_ROWS_PER_RULE} alternatives; split the rule or simplify the condition",
                rule.loc,
            )
            continue
        if not rows:
            _diag(
                build,
                _lines(build),
                "warning",
                "W001",
                f"rule {rule.name!r} can never match",
                rule.loc,
            )
        build.rows.extend((rule.walk_index, row) for row in rows)
    for filt in build.program.filters:
        try:
            to_dnf(filt.condition)
        except TooComplex:
            loc = filt.condition.loc if filt.condition is not None else Location(build.path, 1, 1)
            _diag(
                build,
                _lines(build),
                "error",
                "E509",
                f"the basket filter ({filt.text}) expands to more "
                f"than {MAX_ROWS_PER_RULE} alternatives; simplify it",
                loc,
            )


def _stage_analyse(build: _Build) -> None:
    """Warn about rules that an earlier ``stop`` or exclusive rule always takes first."""
    assert build.program is not None
    by_rule: dict[int, list[Row]] = {}
    for index, row in build.rows:
        give_way()
        rows = by_rule.get(index)
        if rows is None:
            by_rule[index] = [row]
        else:
            rows.append(row)
    rules = build.program.rules
    budget = SHADOW_CHECK_BUDGET
    # A rule always takes what comes after it only if nothing can keep it from applying: no
    # limit, no budget, and (for stop) no exclusive group that an earlier rule may have taken.
    # A row can only imply a row whose attributes it constrains too: a cheap test first,
    # remembered per set of attributes (rules share them) in :class:`_Takers`.
    keys = {index: [_row_keys(row) for row in rows] for index, rows in by_rule.items()}
    stoppers = _Takers(keys)  # stop rules that always apply when they match
    by_group: dict[str, _Takers] = {}  # exclusive rules that always apply, per group
    for later in rules:
        give_way()
        later_rows = by_rule.get(later.walk_index)
        always = not later.limits and later.budget is None
        if later_rows:
            later_key_sets = keys[later.walk_index]
            later_keys = (
                later_key_sets[0]
                if len(later_key_sets) == 1
                else frozenset().union(*later_key_sets)
            )
            candidates = stoppers.possible(later_keys)
            group = by_group.get(later.group) if later.exclusive else None  # type: ignore[arg-type]
            if group is not None:
                candidates = candidates + group.possible(later_keys)
            for earlier in candidates:
                earlier_rows = by_rule.get(earlier.walk_index, [])
                budget -= len(later_rows) * len(earlier_rows)
                if budget < 0:
                    return
                if implies(later_rows, earlier_rows):
                    why = (
                        "stops the walk"
                        if earlier.stop and not later.exclusive
                        else (f"takes exclusive group {earlier.group!r}")
                    )
                    _diag(
                        build,
                        _lines(build),
                        "warning",
                        "W002",
                        f"rule {later.name!r} never applies: {earlier.name!r} ({earlier.loc}) "
                        f"always matches first and {why}",
                        later.loc,
                    )
                    break
        if always and later.stop and not later.exclusive:
            stoppers.add(later)
        elif always and later.exclusive and later.group is not None:
            takers = by_group.get(later.group)
            if takers is None:
                takers = by_group[later.group] = _Takers(keys)
            takers.add(later)


class _Takers:
    """Rules that take what follows them, in walk order, with the ones that could imply a
    later rule remembered per set of attributes the later rule tests.

    A rule can imply only a rule whose attributes include those of one of its rows; the
    list is only ever appended to, so each memo entry is extended with the new rules."""

    __slots__ = ("keys", "memo", "rules")

    def __init__(self, keys: dict[int, list[frozenset[object]]]) -> None:
        self.rules: list[P.Rule] = []
        self.keys = keys
        self.memo: dict[frozenset[object], tuple[int, list[P.Rule]]] = {}

    def add(self, rule: P.Rule) -> None:
        self.rules.append(rule)

    def possible(self, later_keys: frozenset[object]) -> list[P.Rule]:
        seen, found = self.memo.get(later_keys, (0, []))
        if seen < len(self.rules):
            found = found + [
                rule
                for rule in self.rules[seen:]
                if any(k <= later_keys for k in self.keys.get(rule.walk_index, ()))
            ]
            self.memo[later_keys] = (len(self.rules), found)
        return found


def _row_keys(row: Row) -> frozenset[object]:
    return frozenset(
        [attr for attr, _ in row.nums]
        + [leaf.attr for leaf in row.texts]
        + [leaf.attr for leaf in row.sets]
    )


def _stage_layout(build: _Build) -> None:
    """Claim slots and dictionary ids for everything the rows and filters test."""
    program = build.program
    assert program is not None
    layout = build.layout
    group_bits, segment_bits = _mask_names(build)
    layout.merchant_groups = group_bits
    layout.segments = segment_bits
    if group_bits:
        layout.merchant_group_slot(len(group_bits))
        for name in group_bits:
            for merchant in sorted(program.groups[name].values):
                layout.text_id("merchant", merchant)
    if segment_bits:
        layout.segments_slot(len(segment_bits))
    for walk_index, row in build.rows:
        give_way()
        build.lowered.append((walk_index, _lower_row(row, layout)))
    for filt in program.filters:
        build.filters.append(_lower_filter(filt, layout))


def _stage_index(build: _Build) -> None:
    program = build.program
    assert program is not None
    layout = build.layout
    anchor_values: dict[int, dict[int, list[int]]] = {}
    mask_anchor: dict[int, dict[int, list[int]]] = {}
    general: list[int] = []
    verify: list[list[Literal]] = []
    slot_kind = _slot_kinds(layout)
    for row_id, (_walk, literals) in enumerate(build.lowered):
        give_way()
        best, best_score, best_points = None, 0, None
        for literal in literals:
            kind = slot_kind.get(literal.slot)
            if kind is None:
                continue  # not an anchor slot: score 0
            # The anchor score: selective keys first; an interval test anchors only on few
            # enough values (a small mcc set), a group test only when it is positive.
            points = None
            if literal.kind == LIT_INTERVALS:
                points = literal.points
                if not points or (kind == "mcc" and len(points) > 32):
                    continue
                score = ANCHOR_SCORES.get(kind, 0)
            elif literal.kind == LIT_ANY and kind == "merchant_groups":
                score = ANCHOR_SCORES["merchant_groups"]
            else:
                continue
            if score > best_score:
                best, best_score, best_points = literal, score, points
        if best is None:
            general.append(row_id)
            verify.append([])
            continue
        verify.append([lit for lit in literals if lit is not best])
        if best.kind == LIT_INTERVALS:
            per_value = anchor_values.setdefault(best.slot, {})
            for value in best_points or ():
                rows = per_value.get(value)
                if rows is None:
                    per_value[value] = [row_id]
                else:
                    rows.append(row_id)
        else:
            per_bit = mask_anchor.setdefault(best.slot, {})
            for word_index, signed in enumerate(best.data):
                word = signed & 0xFFFF_FFFF_FFFF_FFFF  # the 64th bit is the int64 sign
                while word:
                    low = word & -word
                    bit = word_index * 64 + low.bit_length() - 1
                    per_bit.setdefault(bit, []).append(row_id)
                    word ^= low
    # In walk order (rows of one rule side by side), so that the matcher's results from the
    # general block come out sorted and a duplicate is always the previous result.
    lowered = build.lowered
    general.sort(key=lambda row_id: lowered[row_id][0])
    build.anchored = len(build.lowered) - len(general)
    build.general = len(general)
    general_tables, residual = _general_tables(build.lowered, general)
    for row_id, extra in residual.items():
        verify[row_id] = extra
    build.tables = _pack(build, general, general_tables, verify, anchor_values, mask_anchor)


STAGES: list[tuple[str, Callable[[_Build], None]]] = [
    ("parse", _stage_parse),
    ("check", _stage_check),
    ("normalise", _stage_normalise),
    ("analyse", _stage_analyse),
    ("layout", _stage_layout),
    ("index", _stage_index),
]


# ---- lowering helpers ----------------------------------------------------------------------


def _lines(build: _Build) -> list[str]:
    if build.lines is None:
        build.lines = build.source.splitlines()
    return build.lines


def _diag(
    build: _Build, lines: list[str], severity: str, code: str, message: str, loc: Location
) -> None:
    source_line = lines[loc.line - 1] if 0 < loc.line <= len(lines) else ""
    build.diagnostics.add(Diagnostic(severity, code, message, loc, source_line))


def _mask_names(build: _Build) -> tuple[list[str], list[str]]:
    groups: set[str] = set()
    segments: set[str] = set()
    for _walk, row in build.rows:
        for leaf in row.texts:
            if leaf.attr.kind == "merchant" and leaf.group is not None:
                groups.add(leaf.group)
        for leaf in row.sets:
            segments.update(leaf.values)
    return sorted(groups), sorted(segments)


def _mask(bits: list[str], names: frozenset[str] | set[str], words: int) -> tuple[int, ...]:
    mask = [0] * words
    for name in names:
        bit = bits.index(name)
        mask[bit // 64] |= 1 << (bit % 64)
    return tuple(_signed(word) for word in mask)


def _signed(word: int) -> int:
    return word - (1 << 64) if word >= 1 << 63 else word


def _flatten(intervals: P.Intervals) -> tuple[int, ...]:
    if len(intervals) == 1:
        return intervals[0]  # the usual case: one (low, high) pair is already flat
    return tuple(chain.from_iterable(intervals))


def _text_intervals(ids: list[int], negated: bool) -> P.Intervals:
    """The dictionary ids a text test accepts, as intervals (ids of the named values, or of
    everything else when the test is negated)."""
    intervals = ((ids[0], ids[0]),) if len(ids) == 1 else normalize([(i, i) for i in ids])
    return complement(intervals) if negated else intervals


def _narrow(by_slot: dict[int, P.Intervals], slot: int, intervals: P.Intervals) -> None:
    """Tests on one slot in one row are a conjunction: keep their intersection."""
    prev = by_slot.get(slot)
    by_slot[slot] = intervals if prev is None else intersect(prev, intervals)


def _interval_literals(by_slot: dict[int, P.Intervals]) -> list[Literal]:
    return [_LITERAL(LIT_INTERVALS, s, _flatten(iv)) for s, iv in sorted(by_slot.items())]


def _lower_row(row: Row, layout: Layout) -> list[Literal]:
    by_slot: dict[int, P.Intervals] = {}
    masks: list[Literal] = []
    slot_of = layout.slot_of
    for attr, intervals in row.nums:
        _narrow(by_slot, slot_of(attr), intervals)
    for leaf in row.texts:
        attr = leaf.attr
        if attr.kind == "merchant" and leaf.group is not None:
            kind = LIT_NONE if leaf.negated else LIT_ANY
            slot = layout.slots["merchant_groups"]
            words = mask_words(len(layout.merchant_groups))
            masks.append(_LITERAL(kind, slot, _mask(layout.merchant_groups, {leaf.group}, words)))
            continue
        field_name = attr.kind if attr.kind != "attr" else f"attr:{attr.arg}"
        known = layout.text_ids.setdefault(field_name, {})
        if len(leaf.values) == 1:
            ids = [known.setdefault(value, len(known)) for value in leaf.values]
        else:
            ids = [known.setdefault(value, len(known)) for value in sorted(leaf.values)]
        _narrow(by_slot, slot_of(attr), _text_intervals(ids, leaf.negated))
    for leaf in row.sets:
        kind = LIT_NONE if leaf.negated else LIT_ANY
        slot = layout.slots["segments"]
        words = mask_words(len(layout.segments))
        masks.append(_LITERAL(kind, slot, _mask(layout.segments, leaf.values, words)))
    if not by_slot:
        return masks
    return _interval_literals(by_slot) + masks


def _lower_filter(filt: P.BasketFilter, layout: Layout) -> list[list[Literal]]:
    """A basket filter as rows of literals over the four line slots."""
    rows: list[list[Literal]] = []
    for leaves in to_dnf(filt.condition):
        row = simplify(leaves)
        if row is None:
            continue
        by_slot: dict[int, P.Intervals] = {}
        for attr, intervals in row.nums:
            _narrow(by_slot, LINE_SLOTS[attr.kind], intervals)
        for leaf in row.texts:
            ids = [layout.line_id(leaf.attr.kind, value) for value in sorted(leaf.values)]
            _narrow(by_slot, LINE_SLOTS[leaf.attr.kind], _text_intervals(ids, leaf.negated))
        rows.append(_interval_literals(by_slot))
    return rows


def _slot_kinds(layout: Layout) -> dict[int, str]:
    kinds: dict[int, str] = {}
    for key, slot in layout.slots.items():
        if isinstance(key, tuple) and key[0] == "text":
            kinds[slot] = key[1]
        elif isinstance(key, tuple) and key[0] == "attr":
            kinds[slot] = "attr"
        elif key == "mcc":
            kinds[slot] = "mcc"
        elif key == "merchant_groups":
            kinds[slot] = "merchant_groups"
    return kinds


def _general_tables(
    lowered: list[tuple[int, list[Literal]]], general: list[int]
) -> tuple[list[tuple[int, list[int], np.ndarray]], dict[int, list[Literal]]]:
    """Per slot: breakpoints and one bitset of general rows per interval between them."""
    words = max(1, (len(general) + 63) // 64)
    per_slot: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
    residual: dict[int, list[Literal]] = {}
    for position, row_id in enumerate(general):
        for literal in lowered[row_id][1]:
            if literal.kind == LIT_INTERVALS:
                per_slot.setdefault(literal.slot, []).append((position, literal.data))
            else:
                residual.setdefault(row_id, []).append(literal)
    tables = []
    for slot, entries in sorted(per_slot.items()):
        points = set()
        for _position, data in entries:
            for i in range(0, len(data), 2):
                if data[i] != P.INT_MIN:
                    points.add(data[i])
                if data[i + 1] != P.INT_MAX:
                    points.add(data[i + 1] + 1)
        breakpoints = sorted(points)
        if (len(breakpoints) + 1) * words * 8 > GENERAL_TABLE_BUDGET:
            for position, data in entries:
                residual.setdefault(general[position], []).append(
                    Literal(LIT_INTERVALS, slot, data)
                )
            continue
        table = np.zeros((len(breakpoints) + 1, words), dtype=np.uint64)
        constrained = np.zeros(words, dtype=np.uint64)
        for position, data in entries:
            word, bit = divmod(position, 64)
            flag = np.uint64(1 << bit)
            constrained[word] |= flag
            for i in range(0, len(data), 2):
                first = 0 if data[i] == P.INT_MIN else bisect_right(breakpoints, data[i])
                last = bisect_right(breakpoints, data[i + 1])
                table[first : last + 1, word] |= flag
        everyone = _all_rows(len(general), words)
        table |= everyone & ~constrained
        tables.append((slot, breakpoints, table))
    return tables, residual


def _all_rows(count: int, words: int) -> np.ndarray:
    mask = np.zeros(words, dtype=np.uint64)
    full, rest = divmod(count, 64)
    mask[:full] = np.uint64(0xFFFFFFFFFFFFFFFF)
    if rest:
        mask[full] = np.uint64((1 << rest) - 1)
    return mask


def _pack(
    build: _Build,
    general: list[int],
    general_tables: list[tuple[int, list[int], np.ndarray]],
    verify: list[list[Literal]],
    anchor_values: dict[int, dict[int, list[int]]],
    mask_anchor: dict[int, dict[int, list[int]]],
) -> dict[str, object]:
    """Flatten everything into the int64/uint64 arrays the matcher reads."""
    program = build.program
    assert program is not None
    layout = build.layout
    pool: list[int] = []

    def literal_arrays(rows: list[list[Literal]]) -> tuple[np.ndarray, ...]:
        starts, kinds, slots, offsets, lengths = [0], [], [], [], []
        for literals in rows:
            for literal in literals:
                kinds.append(literal.kind)
                slots.append(literal.slot)
                offsets.append(len(pool))
                lengths.append(
                    len(literal.data) // 2 if literal.kind == LIT_INTERVALS else len(literal.data)
                )
                pool.extend(literal.data)
            starts.append(len(kinds))
        return (
            np.asarray(starts, dtype=np.int64),
            np.asarray(kinds, dtype=np.int64),
            np.asarray(slots, dtype=np.int64),
            np.asarray(offsets, dtype=np.int64),
            np.asarray(lengths, dtype=np.int64),
        )

    row_start, lit_kind, lit_slot, lit_off, lit_len = literal_arrays(verify)
    filter_rows = [row for filt in build.filters for row in filt]
    f_row_start, f_kind, f_slot, f_off, f_len = literal_arrays(filter_rows)
    filter_row_span = [0]
    for filt in build.filters:
        filter_row_span.append(filter_row_span[-1] + len(filt))

    # Anchors on interval slots: per slot, sorted keys with a CSR list of rows.
    a_slot, a_key_start, keys, key_row_start, key_rows = [], [0], [], [0], []
    for slot, per_value in sorted(anchor_values.items()):
        a_slot.append(slot)
        for value in sorted(per_value):
            keys.append(value)
            key_rows.extend(per_value[value])
            key_row_start.append(len(key_rows))
        a_key_start.append(len(keys))
    # Anchors on mask slots: per slot, per bit, a CSR list of rows.
    m_slot, m_words, m_bit_start, bit_row_start, bit_rows = [], [], [0], [0], []
    for slot, per_bit in sorted(mask_anchor.items()):
        width = _slot_width(layout, slot)
        m_slot.append(slot)
        m_words.append(width)
        for bit in range(width * 64):
            bit_rows.extend(per_bit.get(bit, ()))
            bit_row_start.append(len(bit_rows))
        m_bit_start.append(len(bit_row_start) - 1)

    g_words = max(1, (len(general) + 63) // 64)
    g_slot, g_bp_start, g_bps, g_table_start, g_tables = [], [0], [], [0], []
    for slot, breakpoints, table in general_tables:
        g_slot.append(slot)
        g_bps.extend(breakpoints)
        g_bp_start.append(len(g_bps))
        g_tables.append(table.reshape(-1))
        g_table_start.append(g_table_start[-1] + table.size)

    from .timezone import transitions

    tz_starts, tz_offsets = transitions(program.timezone)
    group_masks = np.zeros(
        (len(layout.text_ids.get("merchant", {})), mask_words(len(layout.merchant_groups))),
        dtype=np.uint64,
    )
    if layout.merchant_groups:
        merchant_ids = layout.text_ids.get("merchant", {})
        for bit, name in enumerate(layout.merchant_groups):
            for merchant in program.groups[name].values:
                group_masks[merchant_ids[merchant], bit // 64] |= np.uint64(1 << (bit % 64))
    filter_slots = np.full((len(build.filters), 3), -1, dtype=np.int64)
    for key, slot in layout.slots.items():
        if isinstance(key, tuple) and key[0] in ("basket_qty", "basket_amount", "basket_has"):
            column = ("basket_qty", "basket_amount", "basket_has").index(key[0])
            filter_slots[int(key[1]), column] = slot
    lut_slot, lut_off, lut = _filter_tables(build.filters, layout)
    default_tier = next((t.rank for t in program.tiers if t.is_default), 0)

    def i64(values: list[int]) -> np.ndarray:
        return np.asarray(values, dtype=np.int64)

    return {
        "n_slots": layout.size,
        "ops": np.asarray(layout.ops, dtype=np.int64).reshape(-1, 3),
        "text_ids": [
            layout.text_ids.get(name, {})
            for name in ("currency", "country", "merchant", "terminal", "card_bin")
        ],
        "attr_names": list(layout.attr_names),
        "attr_text_ids": [layout.text_ids.get(f"attr:{name}", {}) for name in layout.attr_names],
        "wallets": list(layout.wallets),
        "segment_bits": {name: bit for bit, name in enumerate(layout.segments)},
        "tier_ranks": {t.name: t.rank for t in program.tiers},
        "default_tier": default_tier,
        "channels": {name: i for i, name in enumerate(P.CHANNELS)},
        "sku_ids": layout.line_ids.get("sku", {}),
        "category_ids": layout.line_ids.get("category", {}),
        "group_masks": group_masks,
        "tz_starts": tz_starts,
        "tz_offsets": tz_offsets,
        "row_rule": i64([walk for walk, _ in build.lowered]),
        "row_start": row_start,
        "lit_kind": lit_kind,
        "lit_slot": lit_slot,
        "lit_off": lit_off,
        "lit_len": lit_len,
        "filter_row_span": i64(filter_row_span),
        "f_lut_slot": i64(lut_slot),
        "f_lut_off": i64(lut_off),
        "f_lut": np.asarray(lut, dtype=np.uint8),
        "filter_slots": filter_slots,
        "f_row_start": f_row_start,
        "f_kind": f_kind,
        "f_slot": f_slot,
        "f_off": f_off,
        "f_len": f_len,
        "pool": i64(pool),
        "a_slot": i64(a_slot),
        "a_key_start": i64(a_key_start),
        "keys": i64(keys),
        "key_row_start": i64(key_row_start),
        "key_rows": i64(key_rows),
        "m_slot": i64(m_slot),
        "m_words": i64(m_words),
        "m_bit_start": i64(m_bit_start),
        "bit_row_start": i64(bit_row_start),
        "bit_rows": i64(bit_rows),
        "general_rows": i64(general),
        "g_words": g_words,
        "g_slot": i64(g_slot),
        "g_bp_start": i64(g_bp_start),
        "g_bps": i64(g_bps),
        "g_table_start": i64(g_table_start),
        "g_tables": np.concatenate(g_tables) if g_tables else np.zeros(0, dtype=np.uint64),
        "g_all": _all_rows(len(general), g_words),
        "n_rules": len(program.rules),
        "attr_number": micro_units,
        "model_types": (Transaction, MemberState, BasketLine),
    }


def _filter_tables(
    filters: list[list[list[Literal]]], layout: Layout
) -> tuple[list[int], list[int], list[int]]:
    """A filter that tests only the category (or only the sku) of a line becomes a table:
    one flag per dictionary id (and one for unknown values), read instead of its rows."""
    slots, offsets, table = [], [], []
    names = {LINE_SLOTS["sku"]: "sku", LINE_SLOTS["category"]: "category"}
    for rows in filters:
        tested = {lit.slot for row in rows for lit in row}
        if len(tested) != 1 or next(iter(tested)) not in names:
            slots.append(-1)
            offsets.append(-1)
            continue
        slot = next(iter(tested))
        count = len(layout.line_ids.get(names[slot], {}))
        slots.append(slot)
        offsets.append(len(table))
        for value in range(-1, count):
            table.append(int(any(all(_accepts(lit, value) for lit in row) for row in rows)))
    return slots, offsets, table


def _accepts(literal: Literal, value: int) -> bool:
    data = literal.data
    return any(data[i] <= value <= data[i + 1] for i in range(0, len(data), 2))


def _slot_width(layout: Layout, slot: int) -> int:
    for op, start, arg in layout.ops:
        if start == slot:
            return arg if op in (OP_MERCHANT_GROUPS, OP_SEGMENTS) else 1
    raise InternalError(f"slot {slot} has no operation")


def _version(build: _Build) -> str:
    digest = hashlib.sha256(build.source.encode("utf-8"))
    program = build.program
    assert program is not None
    for group in sorted(program.groups.values(), key=lambda g: g.name):
        if group.file is not None:
            digest.update(group.name.encode())
            digest.update("\n".join(sorted(group.values)).encode("utf-8"))
    return digest.hexdigest()[:16]


def default_base_dir(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))
