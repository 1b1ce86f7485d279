"""A compiled programme is built out of the cyclic collector's sight, and stays correct.

The syntax nodes, locations, leaves and rules of a compile are immutable and acyclic, so
they are built untracked (engine/_untrack.pyx): the first young collection after a compile
then walks a fraction of the objects.  Reference counting must still free them all.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from tessera.engine import fastclass
from tessera.engine import program as P
from tessera.engine.compiler import compile_source
from tessera.engine.errors import Location

from bench.workload import generate_program

pytestmark = pytest.mark.skipif(fastclass.untrack is None, reason="extension not built")


def _nodes(program: P.Program) -> list[object]:
    found: list[object] = []
    for rule in program.rules:
        found += [rule, rule.loc, *rule.effects, *rule.limits]
        stack = [rule.condition]
        while stack:
            cond = stack.pop()
            if cond is None:
                continue
            found += [cond, cond.loc]
            if isinstance(cond, (P.And, P.Or)):
                stack.extend(cond.items)
            elif isinstance(cond, P.Not):
                stack.append(cond.item)
            elif cond.source is not None:
                found += [cond.source, cond.source.loc]
    return found


def test_the_bulk_of_a_compiled_programme_is_untracked():
    program = compile_source(generate_program(300), "g.rules").program
    nodes = _nodes(program)
    untracked = sum(not gc.is_tracked(node) for node in nodes)
    assert len(nodes) > 5_000
    assert untracked / len(nodes) > 0.9
    assert not any(gc.is_tracked(node) for node in nodes if type(node) is Location)


def test_untracked_objects_are_still_freed_by_reference_counting():
    source = generate_program(300)
    compile_source(source, "g.rules")  # fills the caches that outlive a compile
    gc.collect()
    tracemalloc.start()
    try:
        compiled = compile_source(source, "g.rules")
        assert not gc.is_tracked(compiled.program.rules[0])
        held, _ = tracemalloc.get_traced_memory()
        del compiled
        gc.collect()  # the parser's closures are a cycle; the collector cannot see the rest
        left, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert left < held / 20


def test_untrack_leaves_objects_outside_the_collector_alone():
    assert fastclass.untrack(5) == 5
    assert fastclass.untrack("text") == "text"
    items = [1, 2]
    assert fastclass.untrack(items) is items and not gc.is_tracked(items)


# ---- building frozen instances in C ----------------------------------------------------------


def test_slot_constructor_builds_what_the_class_builds():
    make = fastclass.fast_constructor(Location, untracked=True)
    assert type(make) is fastclass.SlotConstructor and make.cls is Location
    built = make("f.rules", 1, 2, 3, 4)
    assert type(built) is Location and built == Location("f.rules", 1, 2, 3, 4)
    assert hash(built) == hash(Location("f.rules", 1, 2, 3, 4))
    assert not gc.is_tracked(built)
    tracked = fastclass.SlotConstructor(P.Not, ("item", "loc"))(built, built)
    assert tracked == P.Not(built, built) and gc.is_tracked(tracked)
    with pytest.raises(TypeError):
        make("f.rules", 1)


def test_slot_constructor_refuses_what_it_cannot_fill():
    class Plain:  # no slots: the values would have nowhere to go
        pass

    class Slotted:
        __slots__ = ("a",)

    with pytest.raises(TypeError):
        fastclass.SlotConstructor(Plain, ("a",))
    with pytest.raises(TypeError):
        fastclass.SlotConstructor(Slotted, ("a", "b"))
    with pytest.raises(TypeError):
        fastclass.SlotConstructor(int, ("real",))  # a getset, not a slot
    assert fastclass.SlotConstructor(Slotted, ("a",))(7).a == 7


def test_the_python_trick_builds_the_same(monkeypatch):
    in_c = fastclass.SlotConstructor
    monkeypatch.setattr(fastclass, "SlotConstructor", None)
    make = fastclass.fast_constructor(P.Not, untracked=True)
    assert make.cls is P.Not and type(make) is not in_c
    loc = Location("f.rules", 1, 2, 3, 4)
    built = make(loc, loc)
    assert type(built) is P.Not and built == P.Not(loc, loc) and not gc.is_tracked(built)


def test_locations_read_the_token_lists():
    make = fastclass.fast_constructor(Location, untracked=True)
    lines, columns, ends = [1, 1, 2], [1, 6, 3], [5, 9, 7]
    at = fastclass.Locations(make, "f.rules", lines, columns, ends).at
    assert at(0, 2) == Location("f.rules", 1, 1, 2, 7)
    assert at(1, 1) == Location("f.rules", 1, 6, 1, 9)
    assert not gc.is_tracked(at(0, 0))
    with pytest.raises(IndexError):
        at(0, 3)
    with pytest.raises(IndexError):
        at(-1, 0)
    with pytest.raises(ValueError):
        fastclass.Locations(make, "f.rules", lines, columns, ends[:2])
    with pytest.raises(TypeError):
        fastclass.Locations(fastclass.SlotConstructor(P.Not, ("item", "loc")), "f", [], [], [])
