"""A member's tier, rated on every authorisation of a member whose tier moves with its counters.

The wallet store rates a member twice per authorisation when the programme has tiers: the
tier the counters earn now (a member with none on record) and the one this purchase earns.
:meth:`Reference.tier_for <engine.reference.Reference.tier_for>` is the meaning of a tier
and is slow on purpose: it builds a probe transaction and walks each condition through the
reference's general value lookup.  A tier condition reads the member alone (the checker
sees to it), so :class:`TierRater` turns each one into nested closures once per programme:
a leaf on a member counter reads the field and tests its intervals; any other leaf asks the
reference for the member's value.  The answers are the reference's (tests/test_tiers.py holds
them to it).
"""

from __future__ import annotations

from collections.abc import Callable

from . import program as P
from .model import MemberState
from .reference import Reference, leaf_holds

Test = Callable[[MemberState, int], bool]

# Member fields a leaf reads as they are (Reference.member_value returns them unchanged).
_FIELDS = frozenset(("txn_count", "spend_30d", "spend_12m", "segments"))


class TierRater:
    """``rate(member, now)``: the highest tier whose condition holds, as the reference says."""

    __slots__ = ("_tiers",)

    def __init__(self, program: P.Program, reference: Reference | None = None) -> None:
        ref = reference or Reference(program)
        self._tiers = tuple(
            (tier.name, tier.is_default, None if tier.condition is None
             else _compile(tier.condition, ref))
            for tier in program.tiers
        )

    def __call__(self, member: MemberState, now: int) -> str | None:
        best = None
        for name, is_default, test in self._tiers:
            if is_default or (test is not None and test(member, now)):
                best = name
        return best


def _compile(cond: P.Cond, ref: Reference) -> Test:
    if isinstance(cond, P.And):
        items = tuple(_compile(item, ref) for item in cond.items)
        return lambda member, now: all(test(member, now) for test in items)
    if isinstance(cond, P.Or):
        items = tuple(_compile(item, ref) for item in cond.items)
        return lambda member, now: any(test(member, now) for test in items)
    if isinstance(cond, P.Not):
        inner = _compile(cond.item, ref)
        return lambda member, now: not inner(member, now)
    return _leaf(cond, ref)


def _leaf(leaf: P.Leaf, ref: Reference) -> Test:
    attr = leaf.attr
    kind = attr.kind
    if kind in _FIELDS:
        if isinstance(leaf, P.NumLeaf) and len(leaf.intervals) == 1:
            low, high = leaf.intervals[0]
            return lambda member, now: low <= getattr(member, kind) <= high
        return lambda member, now: leaf_holds(leaf, getattr(member, kind))
    member_value = ref.member_value  # the checker lets a tier read the member alone
    return lambda member, now: leaf_holds(leaf, member_value(attr, member, now))
