"""Key names of the wallet store.

Every key of one member carries the hash tag ``{m:<member id>}``, so that all of a member's
keys live in one Redis Cluster slot and every operation on a member is one script.  A
campaign budget lives under ``{b:<programme>:<rule>}`` and a transaction id's owner under
``{t:<txn id>}``: both lie in other slots and are only touched inside a member's script on a
single node (see docs/wallets.md, "Budgets on Cluster").

The index of holds is sharded by slot: the shard of a member is a key whose hash tag hashes
to the member's own slot, so that a member's script may update it.
"""

from __future__ import annotations

from binascii import crc_hqx
from functools import cache

SLOTS = 16_384


def slot_of(tag: str) -> int:
    """The Redis Cluster slot of a hash tag (the text between the braces)."""
    return crc_hqx(tag.encode(), 0) % SLOTS


@cache
def slot_tags() -> tuple[str, ...]:
    """For each slot, a short tag (``h<n>``) that hashes to it: the hold index shards."""
    tags: list[str | None] = [None] * SLOTS
    missing, n = SLOTS, 0
    while missing:
        tag = f"h{n}"
        slot = crc_hqx(tag.encode(), 0) % SLOTS
        if tags[slot] is None:
            tags[slot] = tag
            missing -= 1
        n += 1
    return tuple(tag for tag in tags if tag is not None)


def hold_entry(member: str, txn_id: str) -> str:
    """A hold in the index: ``<length of member>:<member><txn id>`` (both may hold any text)."""
    return f"{len(member)}:{member}{txn_id}"


def parse_hold_entry(entry: str) -> tuple[str, str]:
    size, rest = entry.split(":", 1)
    return rest[: int(size)], rest[int(size) :]


class Keys:
    """Key names under an optional ``namespace`` prefix (outside the braces)."""

    def __init__(self, program: str, namespace: str = "") -> None:
        self.program = program
        self.ns = namespace

    # ---- a member's keys: {m:<id>}
    def tag(self, member: str) -> str:
        return f"{self.ns}{{m:{member}}}"

    def profile(self, member: str) -> str:
        """Hash: version, tier, segments, counters, custom attributes; the spend windows
        (``spend``: ``<epoch day>|<30 days>|<12 months>``) and limit counters
        (``c:<period>|<rule>|<kind>`` holding ``<period key>|<used>``)."""
        return f"{self.tag(member)}:p"

    def spend(self, member: str) -> str:
        """Hash of spend per UTC day: ``d:<epoch day>`` -> minor units (366 days kept)."""
        return f"{self.tag(member)}:s"

    def wallets(self, member: str) -> str:
        """Hash of every wallet's buckets: ``<wallet>|<expires_at>:<available_at>`` -> amount,
        and ``<wallet>|debt``."""
        return f"{self.tag(member)}:w"

    def ledger(self, member: str) -> str:
        """Stream of journal records, one per operation, with a line per change of a balance."""
        return f"{self.tag(member)}:l"

    def auth(self, member: str, txn_id: str) -> str:
        """Hash of one authorisation: status, record, results of each operation."""
        return f"{self.tag(member)}:a:{txn_id}"

    def tiers(self, member: str) -> str:
        """List of tier changes: ``time|tier|txn|op``."""
        return f"{self.tag(member)}:tiers"

    def fences(self, member: str) -> str:
        """Hash (Cluster): budget reservation ids that reconciliation released as orphans ->
        when; the member's authorise script refuses an attempt whose reservation is here."""
        return f"{self.tag(member)}:x"

    def hold_index(self, member: str) -> str:
        """The shard of the index of holds that lies in the member's slot."""
        return self.hold_shard(slot_of(f"m:{member}"))

    def hold_shard(self, slot: int) -> str:
        """Sorted set of the holds of one slot's members: :func:`hold_entry` -> deadline."""
        return f"{self.ns}{{{slot_tags()[slot]}}}:holds"

    def member_of(self, profile_key: str) -> str:
        """The member id in a profile key (inverse of :meth:`profile`)."""
        prefix = f"{self.ns}{{m:"
        if not (profile_key.startswith(prefix) and profile_key.endswith("}:p")):
            raise ValueError(f"not a profile key: {profile_key!r}")
        return profile_key[len(prefix) : -3]

    def profile_pattern(self) -> str:
        return f"{self.ns}{{m:*}}:p"

    # ---- keys in other slots
    def budget(self, rule: str) -> str:
        """Hash: kind (count | value) -> used, and the reservations that add up to it:
        reservation id (``<txn>#<nonce>``) -> ``delta|time|member``."""
        return f"{self.ns}{{b:{self.program}:{rule}}}"

    def claim(self, txn_id: str) -> str:
        """String: the member a transaction id belongs to."""
        return f"{self.ns}{{t:{txn_id}}}"
