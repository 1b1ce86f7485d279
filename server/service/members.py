"""Cards, consents and erasure: what the service keeps about members beside the wallet store.

The wallet store (``server/wallets``) owns a member's wallets, counters and ledger; it has no
notion of cards, consents or erasure, so this module adds them under its own key suffixes
(``svc:``) next to the member's keys, in the member's Cluster slot:

* ``{c:<card>}`` -> the member holding the card (many cards to one member; a card moves
  between members only by being unlinked first);
* ``{m:<member>}:svc:cards`` (set), ``{m:<member>}:svc:consents`` (hash);
* ``{m:<member>}:svc:erased`` -> the opaque id the member's ledger is known by after erasure.

Erasure removes the personal data the service and the store keep for a member (custom
attributes, segments, cards, consents); the ledger, balances and totals stay, reported under
the opaque id.  Member ids are expected to be pseudonymous programme ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import orjson
import redis
from tessera.engine.errors import InputError

from .errors import AlreadyExists, NotFound, Unavailable

_LINK = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return owner end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return ''
"""

_UNLINK = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return owner or ''
"""


class MemberDirectory:
    """Card links, consents and erasure marks in Redis."""

    def __init__(self, client: redis.Redis, namespace: str = "") -> None:
        self.client = client
        self.ns = namespace
        self._link = client.register_script(_LINK)
        self._unlink = client.register_script(_UNLINK)

    def _card_key(self, card: str) -> str:
        return f"{self.ns}{{c:{card}}}"

    def _member_key(self, member: str, what: str) -> str:
        return f"{self.ns}{{m:{member}}}:svc:{what}"

    @staticmethod
    def check(value: str, field: str) -> str:
        if not value:
            raise InputError(field, "is required", "missing_field")
        if len(value) > 256:
            raise InputError(field, "longer than 256 characters", "invalid_value")
        return value

    def member_for_card(self, card: str) -> str | None:
        try:
            owner = self.client.get(self._card_key(card))
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None
        return owner.decode() if owner else None

    def link(self, member: str, card: str) -> None:
        """Link ``card`` to ``member``; a card held by another member is refused."""
        try:
            # The card key and the member's set lie in different slots on a Cluster: the card
            # key decides ownership, the set follows it (a crash between leaves a link the
            # set misses, repaired by linking again).
            owner = self._link(keys=[self._card_key(card), self._member_key(member, "cards")],
                               args=[member, card]) if self._single_slot() else self._link2(
                member, card)
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None
        if owner:
            raise AlreadyExists(f"card {card!r} is linked to another member", card=card)

    def _single_slot(self) -> bool:
        return not hasattr(self.client, "nodes_manager")

    def _link2(self, member: str, card: str) -> bytes:
        ok = self.client.set(self._card_key(card), member, nx=True)
        if not ok:
            owner = self.client.get(self._card_key(card))
            if owner and owner.decode() != member:
                return owner
        self.client.sadd(self._member_key(member, "cards"), card)
        return b""

    def unlink(self, member: str, card: str) -> None:
        try:
            if self._single_slot():
                self._unlink(keys=[self._card_key(card), self._member_key(member, "cards")],
                             args=[member, card])
            else:
                if self.member_for_card(card) == member:
                    self.client.delete(self._card_key(card))
                self.client.srem(self._member_key(member, "cards"), card)
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None

    def cards(self, member: str) -> list[str]:
        try:
            found = self.client.smembers(self._member_key(member, "cards"))
            return sorted(c.decode() for c in found)
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None

    def set_consents(self, member: str, consents: Mapping[str, bool]) -> None:
        if not consents:
            return
        try:
            self.client.hset(
                self._member_key(member, "consents"),
                mapping={k: "1" if v else "0" for k, v in consents.items()},
            )
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None

    def consents(self, member: str) -> dict[str, bool]:
        try:
            raw = self.client.hgetall(self._member_key(member, "consents"))
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None
        return {k.decode(): v == b"1" for k, v in raw.items()}

    def erased(self, member: str) -> str | None:
        try:
            raw = self.client.get(self._member_key(member, "erased"))
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None
        return raw.decode() if raw else None

    def erase(self, member: str, profile_key: str, secret: bytes = b"") -> str:
        """Forget a member's personal data; the opaque id its ledger is known by from now on."""
        digest = hashlib.blake2b(member.encode(), key=secret[:64], digest_size=12)
        opaque = "anon-" + digest.hexdigest()
        try:
            for card in self.cards(member):
                self.unlink(member, card)
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(self._member_key(member, "consents"), self._member_key(member, "cards"))
            # The store's profile keeps custom attributes and segments: the personal part.
            pipe.hset(profile_key, mapping={"attrs": orjson.dumps({}), "segs": orjson.dumps([])})
            pipe.set(self._member_key(member, "erased"), opaque)
            pipe.execute()
        except redis.RedisError as exc:
            raise Unavailable(f"redis: {exc}") from None
        return opaque

    def link_all(self, member: str, cards: Iterable[str]) -> None:
        for i, card in enumerate(cards):
            self.link(member, self.check(card, f"cards[{i}]"))

    def require_member(self, member: str, exists: bool) -> None:
        if not exists:
            raise NotFound(f"no member {member!r}", member=member)
