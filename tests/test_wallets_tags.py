"""Tags granted by authorisations: counted per standing grant, so that undoing one
authorisation removes a tag only when no other standing authorisation (nor the member's own
enrolment) grants it."""

from __future__ import annotations

from tessera.engine.model import MemberState

from tests.wallets_support import DAY, NOW, Harness, txn

pytest_plugins = ["tests.conftest_redis"]  # the redis-server and store fixtures

TAG = "big_spender"  # rule "big": amount >= 100.00 tags the member


def segments(harness: Harness, member: str = "m1", now: int = NOW + 10) -> frozenset[str]:
    return harness.store.snapshot(member, now).state.segments


def test_reversing_one_of_two_grants_keeps_the_tag(harness: Harness) -> None:
    harness.load("m1")
    harness.authorize(txn("t1", 20_000))
    harness.authorize(txn("t2", 30_000, time=NOW + 1))  # would have added the tag too
    assert TAG in segments(harness)
    harness.store.reverse("m1", "t1", now=NOW + 2)
    assert TAG in segments(harness), "t2 still grants the tag"
    harness.store.reverse("m1", "t2", now=NOW + 3)
    assert TAG not in segments(harness), "no standing grant is left"
    harness.store.reverse("m1", "t2", now=NOW + 4)  # a repeated reversal changes nothing
    assert TAG not in segments(harness)


def test_grants_undone_in_either_order(harness: Harness) -> None:
    harness.load("m1")
    harness.authorize(txn("t1", 20_000))
    harness.authorize(txn("t2", 30_000, time=NOW + 1))
    harness.store.reverse("m1", "t2", now=NOW + 2)
    assert TAG in segments(harness)
    # A release of the other hold (never captured) is the last undo.
    assert harness.store.release_expired_holds(NOW + 8 * DAY) == 1
    assert TAG not in segments(harness, now=NOW + 8 * DAY)


def test_a_segment_held_at_enrolment_survives_the_reversal(harness: Harness) -> None:
    harness.store.load_member(MemberState("m1", segments=frozenset({TAG, "vip"})), NOW - DAY)
    harness.authorize(txn("t1", 20_000))
    harness.store.reverse("m1", "t1", now=NOW + 1)
    assert segments(harness) == {TAG, "vip"}


def test_a_refund_in_full_keeps_the_tag_and_a_reversal_removes_it(harness: Harness) -> None:
    harness.load("m1")
    harness.authorize(txn("t1", 20_000), capture=True)
    harness.store.refund("m1", "t1", 20_000, refund_id="r1", now=NOW + 1)
    assert TAG in segments(harness)  # a refund gives value back; the tag stays earned
    harness.store.reverse("m1", "t1", now=NOW + 2)
    assert TAG not in segments(harness)


def test_a_tag_granted_again_after_its_removal_counts_from_one(harness: Harness) -> None:
    harness.load("m1")
    harness.authorize(txn("t1", 20_000))
    harness.store.reverse("m1", "t1", now=NOW + 1)
    assert TAG not in segments(harness)
    harness.authorize(txn("t2", 20_000, time=NOW + 2))
    harness.authorize(txn("t3", 20_000, time=NOW + 3))
    harness.store.reverse("m1", "t3", now=NOW + 4)
    assert TAG in segments(harness)
    harness.store.reverse("m1", "t2", now=NOW + 5)
    assert TAG not in segments(harness)
