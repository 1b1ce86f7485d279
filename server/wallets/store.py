"""Hot wallets in Redis: authorise, capture, reverse and refund, exactly once.

:class:`WalletStore` keeps every member's wallets, counters, limits, authorisations and
ledger in Redis, under one hash tag per member, and changes them only through Lua scripts
(``lua/``): one script per operation on a member, so that each is atomic, runs in one
Cluster slot, and validates everything before its first write.  docs/wallets.md is the
design; in short:

* :meth:`WalletStore.snapshot` reads all the engine decides on, with the member's
  *version*; :meth:`WalletStore.authorize` applies a decision only if the version is still
  the same (else :class:`StateChanged`: read and decide again), and only once per
  transaction id (a retry gets the stored answer; another payload under the same id is
  refused).  :func:`authorize_transaction` is read → match → walk → authorise with retries.
* An authorisation is a hold until :meth:`~WalletStore.capture`; :meth:`~WalletStore.reverse`
  undoes it exactly (or leaves a tombstone when it comes first);
  :meth:`~WalletStore.refund` claws back rewards and restores redeemed value in proportion.
* Every change of a balance is a ledger entry; :meth:`~WalletStore.verify` proves that the
  balances are the sums of their ledgers.

Money is minor units and points whole points, as integers below 2**53 everywhere.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
import redis
import redis.cluster
from tessera.engine import program as P
from tessera.engine.compiler import CompiledProgram
from tessera.engine.counters import period_key
from tessera.engine.decision import Decision
from tessera.engine.errors import InternalError, TesseraError
from tessera.engine.fastclass import fast_constructor
from tessera.engine.model import MemberState, Transaction
from tessera.engine.tiers import TierRater
from tessera.engine.timezone import local_seconds
from tessera.engine.walk import Walker

from ._prepare import Preparer, check_member, check_txn_id
from ._prepare import whole as _whole
from ._purses import Purse, purses
from ._read import MemberReader
from .direct import batch_sender, direct_capable, script_sender
from .errors import (
    AmountExceedsRemaining,
    BudgetExhausted,
    InvalidRequest,
    InvalidStatus,
    MemberMismatch,
    PayloadMismatch,
    RecordChanged,
    StateChanged,
    StoreUnavailable,
    UnknownTransaction,
    UnknownWallet,
    WalletError,
    error_for,
)
from .estimates import BudgetEstimates
from .keys import SLOTS, Keys, hold_entry, parse_hold_entry, slot_tags

DAY = 86_400
HOLD_SECONDS = 7 * DAY  # how long an uncaptured authorisation holds before it is released
RECORD_RETENTION = 400 * DAY  # how long an authorisation's record answers retries
BUDGET_ESTIMATE_SECONDS = 1.0  # how old a budget figure a decision may take (estimates.py)
# Each script runs with the libraries it needs in front of it.
LIBRARIES = {
    "authorize": ("lib",),
    "claim": ("lib",),
    "tombstone": ("lib",),
    "read": ("lib",),
    "fence": ("lib",),
    "retire": ("lib",),
}
SCRIPTS = (
    "authorize",
    "lifecycle",
    "tombstone",
    "claim",
    "budget",
    "read",
    "expire",
    "verify",
    "load",
    "fence",
    "retire",
)
RECORD_RETRIES = 8
_SHARD_BATCH = 2_048


# ---- values the store hands out ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A member as the engine decides on it, read at ``now``, and the version it had."""

    state: MemberState
    version: int
    now: int
    limits: Mapping[tuple[str, str], int]  # (period key, "rule|kind") -> used
    stored_tier: str | None  # the tier on record (``state.tier`` may be computed)
    last_txn: str  # the transaction that set ``state.last_purchase`` ("" if none)
    totals: Mapping[str, int]  # every bucket, pending ones too: what the ledger sums to
    purses: Mapping[str, Purse]  # the buckets themselves (authorise works on copies)
    tag_counts: Mapping[str, int] = field(default_factory=dict)  # standing grants per tag
    spend_today: int = 0  # the spend of the UTC day of ``now``
    spend_mark: str = ""  # the profile's "spend": "<day>|<30 days>|<12 months>" ("" none)
    days_in_profile: bool = False  # spend days kept in the profile (the layout before)


# Every read builds a member's state and its snapshot, and an authorisation of a programme
# with tiers one state more: filled in slot by slot, positionally, every field given.
_member_state = fast_constructor(MemberState)
_snapshot = fast_constructor(Snapshot)


class RedisCounters:
    """The walk's :class:`~tessera.engine.counters.Counters`, from a snapshot and budgets read."""

    __slots__ = ("budgets", "snapshot")

    def __init__(
        self, snapshot: Snapshot, budgets: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.snapshot = snapshot
        self.budgets = budgets or {}

    def limit_used(self, member: str, rule: str, kind: str, period: str, key: str) -> int:
        # Authorise checks every cap again on the snapshot, which the script's version check
        # holds to: a count missing here cannot overspend.
        return self.snapshot.limits.get((key, f"{rule}|{kind}"), 0)

    def budget_used(self, rule: str, kind: str) -> int:
        return self.budgets.get((rule, kind), 0)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change of one balance: a line of the journal record of one operation."""

    id: str  # "<record>/<line>": the cursor for paging
    record: str  # the journal record's stream id: time-ordered, one per operation
    line: int
    time: int
    txn: str
    op: str  # authorize | capture | reverse | release | refund | expire | load
    kind: str  # redeem | cashback | earn | entries | clawback | restore | expire | opening
    rule: str
    wallet: str
    delta: int
    balance: int  # the wallet's balance after this entry
    funders: tuple[tuple[str, int], ...]


@dataclass(slots=True)
class VerifyReport:
    members: int = 0
    entries: int = 0
    budgets: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class ReconcileReport:
    """What one budget reconciliation did."""

    checked: int = 0  # reservations seen
    recent: int = 0  # younger than the grace period: left alone
    owned: int = 0  # owned by their authorisation and right
    lowered: int = 0  # owned, lowered to what the authorisation still uses
    released: int = 0  # orphans: fenced and released
    released_amount: int = 0  # units given back to budgets in all


@dataclass(slots=True)
class PruneReport:
    """What one retention run did."""

    checked: int = 0  # records and tombstones seen
    kept: int = 0  # live holds, within retention, or gone meanwhile
    removed: int = 0  # removed, with their claims
    fences: int = 0  # fence entries past retention, removed


@dataclass(slots=True)
class _Auth:
    """An authorisation as stored: status line, record, and progress of its lifecycle."""

    status: str
    seq: int
    payload: str
    record: dict[str, Any] | None
    took: list[list[Any]]
    progress: dict[str, Any]
    results: dict[str, bytes]


# ---- the store ----------------------------------------------------------------------------


def _lua(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _funders_json(shares: Sequence[tuple[str, int]], sign: int = 1) -> str:
    if not shares:
        return ""
    return orjson.dumps([[name, sign * share] for name, share in shares]).decode()


class WalletStore:
    """Members' wallets, counters and ledgers in Redis (a server or a Cluster).

    ``client`` is a ``redis.Redis`` or ``redis.cluster.RedisCluster`` (bytes replies).  On a
    single node the keys of a transaction's claim and of campaign budgets are changed inside
    the member's script; on a Cluster they live in other slots, so the store reserves and
    releases them around it (see docs/wallets.md).
    """

    def __init__(
        self,
        client: redis.Redis | redis.cluster.RedisCluster,
        compiled: CompiledProgram,
        *,
        namespace: str = "",
        hold_seconds: int = HOLD_SECONDS,
        limit_retention: int = 400 * DAY,
        record_retention: int = RECORD_RETENTION,
        budget_estimate_seconds: float = BUDGET_ESTIMATE_SECONDS,
    ) -> None:
        self.client = client
        self.cluster = isinstance(client, redis.cluster.RedisCluster)
        self.inline = "1" if not self.cluster else "0"
        self.compiled = compiled
        self.program = compiled.program
        self.keys = Keys(self.program.name, namespace)
        # The hold index's shard tags (16,384 by trial hashing, 0.1-1.6 s once a process):
        # built with the programme, not inside the first authorisation's deadline.
        slot_tags()
        self.hold_seconds = hold_seconds
        self.limit_retention = limit_retention
        if record_retention <= hold_seconds:
            raise InvalidRequest("record_retention must be longer than hold_seconds")
        self.record_retention = record_retention
        # What this process last saw of each budget (see estimates.py); 0 reads every time.
        self.budget_estimates = BudgetEstimates(budget_estimate_seconds)
        program = self.program
        self.wallet_names: tuple[str, ...] = (
            *program.wallets,
            *(f"draw:{d}" for d in program.draws),
        )
        self._rules: dict[str, P.Rule] = {rule.name: rule for rule in program.rules}
        self._periods = sorted({limit.period for rule in program.rules for limit in rule.limits})
        self._period_day: tuple[int | None, tuple[str, ...]] = (None, ())
        self._rate_tier = TierRater(program)
        self._top_tier = program.tiers[-1].name if program.tiers else None
        self._tiers = bool(program.tiers)
        self._tier_rank = program.tier_rank  # a property that builds the dict each time
        self._scripts = {
            name: client.register_script(
                "\n".join(_lua(part) for part in (*LIBRARIES.get(name, ("lib", "wallets")), name))
            )
            for name in SCRIPTS
        }
        self._send = {name: script_sender(client, script) for name, script in self._scripts.items()}
        self._batch = batch_sender(client)
        # A client that sends a batch on one connection reads a member in one MULTI (the
        # read script and the wallets hash beside it, _read); any other reads in the script.
        self._read_in_multi = not self.cluster and (
            direct_capable(client) or hasattr(client, "exchange_many")
        )
        self._member_reader = MemberReader(
            self.wallet_names, _member_state, _snapshot, self._rate_tier if self._tiers else None
        )
        self._preparer = Preparer(
            program,
            compiled.version,
            self._rules,
            hold_seconds,
            self.inline,
            self._tier_after if self._tiers else None,
        )

    # ---- plumbing
    def _run(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        return self._sent(self._send[name], keys, args)

    @staticmethod
    def _sent(send: Callable[..., Any], *args: Any) -> Any:
        """``send(*args)``, Redis's errors as the store's."""
        try:
            return send(*args)
        except redis.ResponseError as exc:
            raise _translate(exc) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {exc}") from None
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        except TypeError as exc:  # an argument hiredis cannot pack: a bug of the store
            raise InternalError(f"redis: {exc}") from None

    def _call(self, method: str, *args: object, **kwargs: object) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except redis.ResponseError as exc:
            raise InternalError(f"redis {method}: {exc}") from None
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from None

    def _member_keys(self, member: str, txn_id: str) -> list[str]:
        tag = self.keys.tag(member)  # the same names as Keys' methods, built once
        return [
            f"{tag}:p",
            f"{tag}:a:{txn_id}",
            f"{tag}:l",
            self.keys.hold_index(member),
            f"{tag}:tiers",
            f"{tag}:w",
            f"{tag}:s",
        ]

    def _check_wallet(self, name: str | None) -> str:
        if name not in self.program.wallets:
            raise UnknownWallet(f"unknown wallet {name!r}", wallet=name)
        return name

    _check_member = staticmethod(check_member)
    _check_txn_id = staticmethod(check_txn_id)

    # ---- reading a member ------------------------------------------------------------------
    def period_keys(self, now: int) -> tuple[str, ...]:
        """The limit periods (day, week, month, ever) the programme counts in at ``now``.

        Every read picks the member's limit counters with them; the keys change once a local
        day, and working them out (a date, its ISO week, the strings) costs more than the
        picking, so the last day's are kept (one tuple, replaced whole: safe between
        threads)."""
        local_days = local_seconds(self.program.timezone, now) // DAY
        day, keys = self._period_day
        if day != local_days:
            keys = tuple([period_key(period, local_days) for period in self._periods])
            self._period_day = (local_days, keys)
        return keys

    def snapshot(self, member: str, now: int) -> Snapshot:
        """One consistent read of everything the compiled programme needs for ``member``."""
        self._check_member(member)
        _whole(now, "now")
        keys = [self.keys.profile(member), self.keys.wallets(member), self.keys.spend(member)]
        reply = self._read(keys, now)
        current = self.period_keys(now)
        snap = self._member_reader.read(member, now, reply, current)  # _read.pyx
        return snap if snap is not None else self.snapshot_of(member, now, reply, current)

    def snapshot_of(
        self, member: str, now: int, reply: Sequence[Any], current: tuple[str, ...]
    ) -> Snapshot:
        """The snapshot of a read's ``reply`` (the limit periods ``current`` at ``now``): the
        reference of the compiled reader, and what decodes a reply that is not plain bytes.

        The profile's own fields give the limit counters of the current periods (named
        ones, "c:<period>|<rule>|<kind>" holding "<period key>|<used>", and those of the
        layout before them, "l:<period key>|<rule>|<kind>", until their named successor is
        written) and the spend days the layout before the spend hash kept in it ("d:<day>"),
        which add to the script's sums."""
        s30, s12, s1, raw_profile, raw_wallets = reply
        s30, s12, s1 = int(s30), int(s12), int(s1)
        if not isinstance(raw_profile, dict):  # flat (RESP2), not a map (RESP3, callbacks)
            raw_profile = dict(zip(raw_profile[::2], raw_profile[1::2], strict=True))
        profile = {_text(name): _text(value) for name, value in raw_profile.items()}
        today = now // DAY
        limits: dict[tuple[str, str], int] = {}
        older: dict[tuple[str, str], int] = {}
        old_days = 0
        for name, value in profile.items():
            head = name[:2]
            if head == "c:":
                key, bar, used = value.partition("|")
                _, named, counter = name[2:].partition("|")
                if bar and named and key in current:
                    limits[(key, counter)] = int(used)
            elif head == "l:":
                key, bar, counter = name[2:].partition("|")
                if bar and key in current:
                    older[(key, counter)] = int(value)
            elif head == "d:":
                old_days += 1
                day, amount = int(name[2:]), int(value)
                if day == today:
                    s1 += amount
                if day <= today:
                    s30 += amount if day > today - 30 else 0
                    s12 += amount if day > today - 365 else 0
        for counter, used in older.items():
            limits.setdefault(counter, used)
        held = purses(raw_wallets)
        balances, entries, wallet_totals = {}, {}, {}
        for name in self.wallet_names:
            wallet = held.get(name)
            total = wallet.total if wallet else 0
            wallet_totals[name] = total
            if name.startswith("draw:"):
                entries[name[5:]] = total
            else:
                balances[name] = wallet.spendable(now) if wallet else 0
        stored_tier = profile.get("tier") or None
        state = _member_state(
            member,
            stored_tier,
            frozenset(orjson.loads(profile["segs"])) if "segs" in profile else frozenset(),
            int(profile.get("txns", 0)),
            int(s30),
            int(s12),
            int(profile["last"]) if "last" in profile else None,
            int(profile["enrolled"]) if "enrolled" in profile else None,
            orjson.loads(profile["attrs"]) if "attrs" in profile else {},
            balances,
            entries,
        )
        if stored_tier is None and self.program.tiers:
            # A member without a tier on record has the one its counters earn.
            state.tier = self._rate_tier(state, now)
        return _snapshot(
            state,
            int(profile.get("ver", 0)),
            now,
            limits,
            stored_tier,
            profile.get("lastx", ""),
            wallet_totals,
            held,
            {name[3:]: int(value) for name, value in profile.items() if name[:3] == "tg:"},
            int(s1),
            profile.get("spend", ""),
            bool(old_days),
        )

    def _read(self, keys: list[str], now: int) -> list[Any]:
        """The read's reply: the spend sums of the read script, the profile and the wallets
        hashes read beside it in the same MULTI where the client can send one (one round
        trip, one consistent view either way)."""
        if not self._read_in_multi:
            return self._run("read", keys, [now, "1"])  # type: ignore[no-any-return]
        script = self._scripts["read"]
        for attempt in range(2):
            evalsha = ("EVALSHA", script.sha, len(keys), *keys, now, "0")
            batch = [("MULTI",), evalsha, ("HGETALL", keys[0]), ("HGETALL", keys[1]), ("EXEC",)]
            done = self._sent(self._batch, batch)[4]
            if isinstance(done, redis.ResponseError):
                raise _translate(done)
            sums, profile, wallets = done
            if not isinstance(sums, Exception):
                return [*sums, profile, wallets]
            if attempt or not isinstance(sums, redis.exceptions.NoScriptError):
                raise _translate(sums) if isinstance(sums, redis.ResponseError) else sums
            # The server forgot the script (restart, fail-over): load it and read again.
            script.sha = self._call("script_load", script.script)
        raise AssertionError("unreachable")  # pragma: no cover

    def member_state(self, member: str, now: int) -> tuple[MemberState, int]:
        """The member as the engine sees it at ``now``, and its version."""
        snap = self.snapshot(member, now)
        return snap.state, snap.version

    def counters(self, snapshot: Snapshot, matched: Iterable[int] = ()) -> RedisCounters:
        """Counters for the walk: the snapshot's limits and the budgets of ``matched`` rules
        (read now)."""
        rules = self.program.rules
        wanted = [rules[i] for i in matched if rules[i].budget is not None]
        return RedisCounters(snapshot, self.budgets_used(rule.name for rule in wanted))

    def unread_counters(self, snapshot: Snapshot, matched: Iterable[int]) -> RedisCounters | None:
        """Counters that take the budgets of ``matched`` rules as unused, when this process
        saw each of them lately with room left (None: read them, :meth:`counters`).  A
        decision made on them stands only if ``budget_estimates.fits`` it (estimates.py)."""
        rules = self.program.rules
        caps = [
            ((rules[i].name, budget.kind), budget.cap)
            for i in matched
            if (budget := rules[i].budget) is not None
        ]
        if caps and not self.budget_estimates.room(caps):
            return None
        return RedisCounters(snapshot)

    def budgets_used(self, rule_names: Iterable[str]) -> dict[tuple[str, str], int]:
        pairs = []
        for name in rule_names:
            budget = self._rules[name].budget
            assert budget is not None
            pairs.append((name, budget.kind))
        if not pairs:
            return {}
        try:
            if len(pairs) == 1:
                values = [self.client.hget(self.keys.budget(pairs[0][0]), pairs[0][1])]
            else:
                pipe = self.client.pipeline(transaction=False)
                for name, kind in pairs:
                    pipe.hget(self.keys.budget(name), kind)
                values = pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {exc}") from None
        used = {pair: int(value or 0) for pair, value in zip(pairs, values, strict=True)}
        self.budget_estimates.read(used)
        return used

    # ---- authorise -----------------------------------------------------------------------
    def authorize(
        self, txn: Transaction, decision: Decision, snapshot: Snapshot, *, capture: bool = False
    ) -> dict[str, Any]:
        """Apply ``decision`` (made on ``snapshot``) to the member, once.

        Returns the stored result: the decision with the balances after it and the status
        (``held``, or ``captured`` with ``capture=True``).  The same request again returns
        the same result; :class:`StateChanged` (and its kinds) asks for a new decision.
        """
        args, budgets, answer = self._prepare(txn, decision, snapshot, capture)
        member, txn_id = txn.member, txn.txn_id
        k = self.keys
        keys = self._member_keys(member, txn_id)
        try:
            if not self.cluster:
                keys.append(k.claim(txn_id))
                for b in budgets:
                    keys.append(k.budget(b["r"]))
                reply = self._run("authorize", keys, args)
            else:
                keys.append(k.fences(member))
                # Reservations carry the store's clock (when they were made), which is what
                # reconciliation's grace period is measured on.
                reply = self._authorize_on_cluster(
                    member, txn_id, keys, args, budgets, int(time.time())
                )
        except BudgetExhausted:
            self.budget_estimates.forget()
            raise
        return self._answered(reply, budgets, answer)

    def _answered(
        self, reply: Sequence[Any], budgets: Sequence[Mapping[str, Any]], answer: dict[str, Any]
    ) -> dict[str, Any]:
        """The answer of an authorise script's reply, the budgets a new one spent noted."""
        if budgets and len(reply) == 1:
            self.budget_estimates.spent(((b["r"], b["kind"]), b["d"]) for b in budgets)
        return _answer(reply, answer)

    def authorize_many(
        self, items: Sequence[tuple[Transaction, Decision, Snapshot]], *, capture: bool = False
    ) -> list[dict[str, Any] | TesseraError]:
        """Authorise several decisions in one round trip (pipelined); per item, the result
        or the error.  Each is still its own atomic script; on a Cluster they go one by one."""
        if self.cluster:
            out: list[dict[str, Any] | TesseraError] = []
            for txn, decision, snapshot in items:
                try:
                    out.append(self.authorize(txn, decision, snapshot, capture=capture))
                except TesseraError as exc:
                    out.append(exc)
            return out
        calls: list[tuple[int, list[str], list[object], dict[str, Any], list[dict[str, Any]]]]
        calls = []
        results: list[dict[str, Any] | TesseraError | None] = [None] * len(items)
        for i, (txn, decision, snapshot) in enumerate(items):
            try:
                args, budgets, answer = self._prepare(txn, decision, snapshot, capture)
            except TesseraError as exc:
                results[i] = exc
                continue
            keys = [*self._member_keys(txn.member, txn.txn_id), self.keys.claim(txn.txn_id)]
            for b in budgets:
                keys.append(self.keys.budget(b["r"]))
            calls.append((i, keys, args, answer, budgets))
        script = self._scripts["authorize"]
        for attempt in range(2):
            sha = script.sha
            try:
                replies = self._batch(
                    [("EVALSHA", sha, len(keys), *keys, *args) for _, keys, args, _, _ in calls]
                )
            except redis.RedisError as exc:
                raise StoreUnavailable(f"redis: {exc}") from None
            missing = []
            for call, reply in zip(calls, replies, strict=True):
                i = call[0]
                if isinstance(reply, redis.exceptions.NoScriptError) and attempt == 0:
                    missing.append(call)
                elif isinstance(reply, redis.ResponseError):
                    results[i] = error = _translate(reply)
                    if isinstance(error, BudgetExhausted):
                        self.budget_estimates.forget()
                elif isinstance(reply, Exception):
                    results[i] = StoreUnavailable(f"redis: {reply}")
                else:
                    results[i] = self._answered(reply, call[4], call[3])
            if not missing:
                break
            # The server forgot the script (restart, fail-over): load it, send those again.
            script.sha = self._call("script_load", script.script)
            calls = missing
        return [r if r is not None else InternalError("no reply") for r in results]

    def _authorize_on_cluster(
        self,
        member: str,
        txn_id: str,
        keys: list[str],
        args: list[object],
        budgets: list[dict[str, Any]],
        now: int,
    ) -> Sequence[Any]:
        self._run("claim", [self.keys.claim(txn_id)], [member, "claim"])
        reserved: list[dict[str, Any]] = []
        try:
            for b in budgets:
                self._set_reservation(b, member, b["d"], now)
                reserved.append(b)
            reply = self._run("authorize", keys, args)
        except BaseException:
            self._release(reserved, member, now)
            raise
        if len(reply) > 1:  # a replay
            self._release(reserved, member, now)  # this attempt's reservations, not the original's
        return reply

    def _set_reservation(
        self, b: Mapping[str, Any], member: str, delta: int, now: int, mode: str = "set"
    ) -> int:
        """Set (or with ``mode="lower"`` only lower) a reservation; what it held before."""
        return int(
            self._run(
                "budget",
                [self.keys.budget(b["r"])],
                [b["id"], member, b["kind"], delta, b["c"], now, mode],
            )
        )

    def _release(self, reserved: Iterable[Mapping[str, Any]], member: str, now: int) -> None:
        for b in reserved:
            # If this fails the budget stays spent (never overspent) until reconciliation.
            with contextlib.suppress(WalletError):
                self._set_reservation(b, member, 0, now)

    def _prepare(
        self, txn: Transaction, decision: Decision, snapshot: Snapshot, capture: bool
    ) -> tuple[list[object], list[dict[str, Any]], dict[str, Any]]:
        """Check a decision and work out every change it makes on the snapshot: the
        authorise script's arguments, the budgets it spends, and the answer it stores
        (compiled: ``_prepare.pyx``)."""
        return self._preparer.prepare(txn, decision, snapshot, capture)

    def _tier_after(
        self, snapshot: Snapshot, amount: int, segments: frozenset[str], now: int
    ) -> list[str] | None:
        """The tier change this purchase earns: upgrades at once, downgrades never here.

        Computed in Python on the snapshot plus this purchase; the version check makes the
        snapshot the state the script applies to.
        """
        if not self.program.tiers:
            return None
        stored = snapshot.stored_tier
        if stored is not None and stored == self._top_tier:
            return None
        state = snapshot.state
        after = _member_state(
            state.member,
            stored,
            segments,
            state.txn_count + 1,
            state.spend_30d + amount,
            state.spend_12m + amount,
            now,
            state.enrolled or now,
            state.attrs,
            state.balances,
            state.entries,
        )
        best = self._rate_tier(after, now)
        ranks = self._tier_rank
        if best is not None and (stored is None or ranks[best] > ranks.get(stored, -1)):
            return [stored or "", best]
        return None

    # ---- the lifecycle of an authorisation ---------------------------------------------------
    def capture(
        self, member: str, txn_id: str, amount: int | None = None, *, now: int
    ) -> dict[str, Any]:
        """Make a hold final; a smaller ``amount`` releases the rest in proportion."""
        self._check_member(member)
        self._check_txn_id(txn_id)
        for _ in range(RECORD_RETRIES):
            auth = self._load(member, txn_id)
            done = auth.results.get("o:cap")
            if done is not None:
                stored = orjson.loads(done)
                if amount is not None and stored["captured"] != amount:
                    raise PayloadMismatch(f"{txn_id} was captured for {stored['captured']}")
                return stored
            if auth.status != "held":
                raise InvalidStatus(
                    f"{txn_id} is {_status_name(auth.status)}, not held", status=auth.status
                )
            rec = auth.record
            assert rec is not None
            total = rec["amt"]
            captured = total if amount is None else _whole(amount, "amount")
            if captured > total:
                raise AmountExceedsRemaining(
                    f"capture of {captured} exceeds the authorised {total}"
                )
            progress = dict(auth.progress, cap=captured)
            plan = self._plan(
                auth,
                progress,
                total - captured,
                full=False,
                op="capture",
                status="captured",
                allowed=("held",),
            )
            body = {
                "op": "capture",
                "txn_id": txn_id,
                "member": member,
                "amount": total,
                "captured": captured,
                "released": total - captured,
            }
            try:
                return self._apply(member, txn_id, auth, plan, progress, body, "o:cap", now)
            except RecordChanged:
                continue
        raise RecordChanged(f"{txn_id} kept changing; try again")

    def reverse(self, member: str, txn_id: str, *, now: int) -> dict[str, Any]:
        """Undo every effect of an authorisation, exactly and once.

        A reversal that arrives before its authorisation leaves a tombstone: the
        authorisation, when it comes, is declined (:class:`ReversedBeforeAuthorization`).
        """
        return self._undo(member, txn_id, now, op="reverse", field="o:rev")

    def _undo(self, member: str, txn_id: str, now: int, *, op: str, field: str) -> dict[str, Any]:
        self._check_member(member)
        self._check_txn_id(txn_id)
        for _ in range(RECORD_RETRIES):
            auth = self._load(member, txn_id, missing_ok=op == "reverse")
            if auth is None:
                result = self._tombstone(member, txn_id, now)
                if result is not None:
                    return result
                continue
            done = auth.results.get(field)
            if done is not None:
                return orjson.loads(done)
            if op == "release" and auth.status != "held":
                raise InvalidStatus(f"{txn_id} is no longer held")
            if auth.status in ("reversed", "released"):
                # Undone already (released, or reversed): answer, change nothing.
                plan = self._empty_plan(op, auth.status, (auth.status,))
                progress = auth.progress
            else:
                progress = dict(auth.progress, ret=auth.record["amt"] if auth.record else 0)
                status = "released" if op == "release" else "reversed"
                plan = self._plan(
                    auth,
                    progress,
                    progress["ret"],
                    full=True,
                    op=op,
                    status=status,
                    allowed=("held", "captured", "refunded"),
                )
            body = {"op": op, "txn_id": txn_id, "member": member, "early": False}
            try:
                return self._apply(member, txn_id, auth, plan, progress, body, field, now)
            except RecordChanged:
                continue
        raise RecordChanged(f"{txn_id} kept changing; try again")

    def _tombstone(self, member: str, txn_id: str, now: int) -> dict[str, Any] | None:
        body = orjson.dumps(
            {
                "op": "reverse",
                "txn_id": txn_id,
                "member": member,
                "early": True,
                "balances": {},
                "shortfall": {},
                "status": "reversed",
            }
        )
        keys = [self.keys.auth(member, txn_id)]
        if self.cluster:
            self._run("claim", [self.keys.claim(txn_id)], [member, "claim"])
        else:
            keys.append(self.keys.claim(txn_id))
        reply = self._run("tombstone", keys, [txn_id, member, body, self.inline, now])
        if _text(reply[0]) == "exists":
            return None  # the authorisation got there first: reverse it instead
        return orjson.loads(reply[1])

    def refund(
        self, member: str, txn_id: str, amount: int, *, refund_id: str, now: int
    ) -> dict[str, Any]:
        """Refund part of what was captured: earned rewards are clawed back and redeemed value
        restored in proportion (cumulatively, rounding toward zero, so that refunds in several
        steps never return more than was given).  Idempotent by ``refund_id``."""
        self._check_member(member)
        self._check_txn_id(txn_id)
        self._check_txn_id(refund_id)
        amount = _whole(amount, "amount")
        field = f"o:ref:{refund_id}"
        for _ in range(RECORD_RETRIES):
            auth = self._load(member, txn_id)
            done = auth.results.get(field)
            if done is not None:
                stored = orjson.loads(done)
                if stored["amount"] != amount:
                    raise PayloadMismatch(f"refund {refund_id!r} was for {stored['amount']}")
                return stored
            if auth.status not in ("captured", "refunded"):
                raise InvalidStatus(
                    f"{txn_id} is {_status_name(auth.status)}: only a captured "
                    "transaction can be refunded",
                    status=auth.status,
                )
            progress = dict(auth.progress)
            captured = progress["cap"]
            refunded = progress["refunded"]
            if amount > captured - refunded:
                raise AmountExceedsRemaining(
                    f"refund of {amount} exceeds the {captured - refunded} left of {txn_id}",
                    remaining=captured - refunded,
                )
            progress["refunded"] = refunded + amount
            progress["refunds"] = dict(progress["refunds"], **{refund_id: amount})
            status = "refunded" if progress["refunded"] == captured else "captured"
            plan = self._plan(
                auth,
                progress,
                progress["ret"] + amount,
                full=False,
                op="refund",
                status=status,
                allowed=("captured", "refunded"),
            )
            body = {
                "op": "refund",
                "refund_id": refund_id,
                "txn_id": txn_id,
                "member": member,
                "amount": amount,
                "refunded": progress["refunded"],
                "remaining": captured - progress["refunded"],
            }
            try:
                return self._apply(member, txn_id, auth, plan, progress, body, field, now)
            except RecordChanged:
                continue
        raise RecordChanged(f"{txn_id} kept changing; try again")

    # ---- budget reconciliation (Cluster) ---------------------------------------------------
    def reconcile_budgets(self, now: int | None = None, grace: int = 300) -> ReconcileReport:
        """Settle budget reservations that a client crash left behind (docs/wallets.md).

        Every reservation made more than ``grace`` seconds before ``now`` (the store's clock
        by default) is checked against the authorisation of its transaction, in the member's
        slot: one the authorisation does not own is *fenced* there (the attempt that made it
        can no longer apply) and then released; one it owns is lowered to what the record
        still uses (a reversal or refund whose release did not happen).  A reservation is
        never raised, so a budget is never over-spent, and no orphan under-spends it for
        longer than one run.  On a single node nothing can be orphaned: every reservation
        is owned and already right.
        """
        now = int(time.time()) if now is None else _whole(now, "now")
        report = ReconcileReport()
        for rule in self.program.rules:
            if rule.budget is None:
                continue
            kind, cap = rule.budget.kind, rule.budget.cap
            key = self.keys.budget(rule.name)
            try:
                found = list(self.client.hscan_iter(key, match="*#*", count=1000))
            except redis.RedisError as exc:
                raise StoreUnavailable(f"redis: {exc}") from None
            for raw_id, raw in found:
                rid = _text(raw_id)
                delta, stamp, member = _text(raw).split("|", 2)
                report.checked += 1
                if int(stamp) > now - grace:
                    report.recent += 1
                    continue
                txn_id = rid.rsplit("#", 1)[0]
                reply = self._run(
                    "fence",
                    [self.keys.auth(member, txn_id), self.keys.fences(member)],
                    [rid, now],
                )
                b = {"r": rule.name, "kind": kind, "id": rid, "c": cap}
                if _text(reply[0]) == "fenced":
                    self._set_reservation(b, member, 0, now, mode="lower")
                    report.released += 1
                    report.released_amount += int(delta)
                    continue
                j = int(reply[1]) - 1
                rec = orjson.loads(reply[2])
                progress = orjson.loads(reply[3]) if reply[3] else _fresh_progress(rec)
                still = rec["bud"][j]["d"] - progress["bud"][j]
                if int(delta) > still:
                    self._set_reservation(b, member, still, now, mode="lower")
                    report.lowered += 1
                    report.released_amount += int(delta) - still
                else:
                    report.owned += 1
        return report

    # ---- retention ------------------------------------------------------------------------
    def prune_records(self, now: int, *, batch: int = 1_000) -> PruneReport:
        """Remove authorisation records, tombstones and claims past ``record_retention``.

        A record goes when it is not a live hold and its last operation (authorise,
        capture, refund, reversal, release; a tombstone's reversal) is at least
        ``record_retention`` seconds before ``now``: by then no retry, capture, refund or
        reversal of it may come (the retention must outlast the switch's retry and
        chargeback windows).  A retry that comes later anyway is a new transaction.  The
        budget reservations it owns are folded into their budgets' ``settled`` totals
        first, so what they used stays used.  Fences older than the retention go too.
        Scans the key space (a background job, not a hot path).
        """
        now = _whole(now, "now")
        cutoff = now - self.record_retention
        report = PruneReport()
        prefix = f"{self.keys.ns}{{m:"
        try:
            for raw in self.client.scan_iter(match=f"{prefix}*}}:a:*", count=batch):
                key = _text(raw)
                head, sep, txn_id = key[len(prefix) :].partition("}:a:")
                if not sep:
                    continue
                report.checked += 1
                outcome = self._retire(head, txn_id, cutoff)
                if outcome == "dropped":
                    report.removed += 1
                else:
                    report.kept += 1
            for raw in self.client.scan_iter(match=f"{prefix}*}}:x", count=batch):
                fences = self._call("hgetall", raw)
                stale = [rid for rid, at in fences.items() if int(at) <= cutoff]
                if stale:
                    self._call("hdel", raw, *stale)
                    report.fences += len(stale)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {exc}") from None
        return report

    def _retire(self, member: str, txn_id: str, cutoff: int) -> str:
        auth_key = self.keys.auth(member, txn_id)
        keys = [auth_key] if self.cluster else [auth_key, self.keys.claim(txn_id)]
        reply = self._run("retire", keys, [cutoff, member, self.inline, "mark"])
        outcome = _text(reply[0])
        if outcome == "fold":
            rec = orjson.loads(reply[1])
            progress = orjson.loads(reply[2]) if reply[2] else _fresh_progress(rec)
            for j, bud in enumerate(rec["bud"]):
                b = {**bud, "c": self._budget_cap(bud["r"])}
                # What the record still uses stays used: lower the reservation to that (it
                # may be higher after a crash), then make it part of the settled total.
                self._set_reservation(b, member, bud["d"] - progress["bud"][j], cutoff, "lower")
                self._set_reservation(b, member, 0, cutoff, "fold")
            outcome = _text(self._run("retire", keys, [cutoff, member, self.inline, "drop"])[0])
        if outcome == "dropped" and self.cluster:
            # The claim lives in its own slot.  Should this process die first, the claim
            # stays: it only refuses the id to other members, as it did before.
            self._run("claim", [self.keys.claim(txn_id)], [member, "drop"])
        return outcome

    def _budget_cap(self, rule_name: str) -> int:
        budget = self._rules[rule_name].budget
        assert budget is not None
        return budget.cap

    # ---- the periodic job ------------------------------------------------------------------
    def housekeeping(self, now: int, *, reconcile_grace: int = 300) -> dict[str, Any]:
        """The store's periodic work, in one call: release holds past their deadline,
        reconcile budget reservations, and remove records past their retention.  ``now`` is
        the clock of the job.  :class:`~tessera.server.wallets.maintenance.Maintenance`
        runs it every few minutes."""
        released = self.release_expired_holds(now)
        reconciled = self.reconcile_budgets(now, grace=reconcile_grace)
        pruned = self.prune_records(now)
        return {"released": released, "reconciled": reconciled, "pruned": pruned}

    def release_expired_holds(self, now: int, limit: int | None = None) -> int:
        """Release (undo, like a reversal) every hold whose deadline has passed; how many."""
        released = 0
        for member, txn_id in self._due_holds(now):
            try:
                self._undo(member, txn_id, now, op="release", field="o:rel")
            except InvalidStatus:
                continue
            released += 1
            if limit is not None and released >= limit:
                break
        return released

    def _due_holds(self, now: int) -> list[tuple[str, str]]:
        """Holds past their deadline, from every shard of the index (pipelined)."""
        due: list[tuple[str, str]] = []
        shards = [self.keys.hold_shard(slot) for slot in range(SLOTS)]
        try:
            for start in range(0, SLOTS, _SHARD_BATCH):
                pipe = self.client.pipeline(transaction=False)
                for key in shards[start : start + _SHARD_BATCH]:
                    pipe.zrangebyscore(key, "-inf", now)
                for found in pipe.execute():
                    due.extend(parse_hold_entry(_text(entry)) for entry in found)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {exc}") from None
        return due

    # ---- lifecycle plumbing
    def _load(self, member: str, txn_id: str, missing_ok: bool = False) -> _Auth:
        raw = self._call("hgetall", self.keys.auth(member, txn_id))
        if not raw:
            if missing_ok:
                return None  # type: ignore[return-value]
            owner = self._call("get", self.keys.claim(txn_id))
            if owner is not None and _text(owner) != member:
                raise MemberMismatch(f"{txn_id} belongs to another member")
            raise UnknownTransaction(f"{txn_id} is not known for member {member!r}")
        fields = {_text(k): v for k, v in raw.items()}
        status, seq, payload = _text(fields["s"]).split("|", 2)
        record = orjson.loads(fields["r"]) if "r" in fields else None
        if status == "tomb" and not member:
            raise InternalError("tombstone without member")  # pragma: no cover
        progress = orjson.loads(fields["p"]) if "p" in fields else _fresh_progress(record)
        took = record.get("took", []) if record else []
        results = {name: value for name, value in fields.items() if name.startswith("o:")}
        return _Auth(status, int(seq), payload, record, took, progress, results)

    def _empty_plan(self, op: str, status: str, allowed: Sequence[str]) -> dict[str, Any]:
        return {
            "op": op,
            "status": status,
            "from": list(allowed),
            "wallets": [],
            "claws": [],
            "restores": [],
            "lim": [],
            "bud": [],
            "unhold": False,
            "bump": False,
        }

    def _plan(
        self,
        auth: _Auth,
        progress: dict[str, Any],
        returned: int,
        *,
        full: bool,
        op: str,
        status: str,
        allowed: Sequence[str],
    ) -> dict[str, Any]:
        """What to take back so that ``returned`` of the amount counts as given back.

        Each reward and the redemption are returned cumulatively: after ``returned`` of
        ``amount``, ``value * returned // amount`` of a value is back (all of it with
        ``full``), and this step takes the difference to what was back before.  Progress
        is updated in place.
        """
        rec = auth.record
        if rec is None or auth.status == "tomb":
            raise InvalidStatus("the transaction was reversed before it was authorised")
        plan = self._empty_plan(op, status, allowed)
        total = rec["amt"]

        def part(value: int) -> int:
            if full or (total and returned >= total):
                return value
            return value * returned // total if total else 0

        index: dict[str, int] = {}

        def slot(name: str) -> int:
            if name not in index:
                plan["wallets"].append(name)
                index[name] = len(plan["wallets"])
            return index[name]

        backs = list(progress["fx"])
        for i, fx in enumerate(rec["fx"]):
            target = part(fx["v"])
            step = target - backs[i]
            if step > 0:
                shares = fx["fund"]
                moved = _delta_shares(shares, fx["v"], backs[i], target)
                plan["claws"].append(
                    {
                        "w": slot(rec["wallets"][fx["w"] - 1]),
                        "v": step,
                        "f": fx["f"],
                        "r": fx["r"],
                        "fund": _funders_json(moved, -1),
                    }
                )
                backs[i] = target
        progress["fx"] = backs

        sp = rec.get("sp")
        if sp is not None:
            target = part(sp["v"])
            step = target - progress["sp"]
            if step > 0:
                restored = dict(progress["rb"])
                parts, left = [], step
                for bucket, took in reversed(auth.took):
                    room = took - restored.get(bucket, 0)
                    put = min(room, left)
                    if put > 0:
                        parts.append([bucket, put])
                        restored[bucket] = restored.get(bucket, 0) + put
                        left -= put
                    if not left:
                        break
                if left:
                    raise InternalError(f"{rec['txn']}: restore exceeds what was redeemed")
                plan["restores"].append(
                    {"w": slot(rec["wallets"][sp["w"] - 1]), "b": parts, "r": "", "fund": ""}
                )
                progress["sp"], progress["rb"] = target, restored

        lim_back = list(progress["lim"])
        for j, lim in enumerate(rec["lim"]):
            kind = lim["f"].rsplit("|", 1)[1]
            target = lim["d"] if full else (part(lim["d"]) if kind == "value" else 0)
            if target > lim_back[j]:
                back = target - lim_back[j]
                if "p" in lim:
                    plan["lim"].append({"f": lim["f"], "p": lim["p"], "d": back})
                else:  # recorded before counters were named: give back in both layouts
                    plan["lim"].append({"f": lim["f"], "d": back})
                    named, key = _named_counter(lim["f"])
                    plan["lim"].append({"f": named, "p": key, "d": back})
                lim_back[j] = target
        progress["lim"] = lim_back

        bud_back = list(progress["bud"])
        for j, bud in enumerate(rec["bud"]):
            target = bud["d"] if full else (part(bud["d"]) if bud["kind"] == "value" else 0)
            if target > bud_back[j]:
                plan["bud"].append(
                    {
                        "r": bud["r"],
                        "kind": bud["kind"],
                        "id": bud["id"],
                        "d": bud["d"] - target,
                        "c": bud["c"],
                    }
                )
                bud_back[j] = target
        progress["bud"] = bud_back

        spend_target = total if full else min(returned, total)
        if spend_target > progress["spend"]:
            plan["spend"] = [f"d:{rec['day']}", spend_target - progress["spend"]]
            progress["spend"] = spend_target
        progress["ret"] = max(progress["ret"], returned)
        if full:
            plan["txns"] = True
            plan["last"] = [rec["txn"], *self._last_before(rec)]
            if "tier" in rec:
                plan["tier"] = rec["tier"]
            plan["tags"] = rec["tags"]
        plan["unhold"] = hold_entry(rec["member"], rec["txn"]) if auth.status == "held" else False
        plan["bump"] = bool(
            full
            or plan["claws"]
            or plan["restores"]
            or plan["lim"]
            or plan["bud"]
            or "spend" in plan
        )
        return plan

    def _last_before(self, rec: Mapping[str, Any]) -> list[Any]:
        """The last purchase before ``rec``'s that still stands (skipping undone ones)."""
        stamp, txn_id = rec["prev_last"]
        seen = {rec["txn"]}
        while txn_id and txn_id not in seen:
            seen.add(txn_id)
            earlier = self._load(rec["member"], txn_id, missing_ok=True)
            if (
                earlier is None
                or earlier.record is None
                or earlier.status not in ("reversed", "released")
            ):
                break
            stamp, txn_id = earlier.record["prev_last"]
        return [stamp, txn_id]

    def _apply(
        self,
        member: str,
        txn_id: str,
        auth: _Auth,
        plan: dict[str, Any],
        progress: dict[str, Any],
        body: dict[str, Any],
        field: str,
        now: int,
    ) -> dict[str, Any]:
        keys = self._member_keys(member, txn_id)
        if not self.cluster:
            for b in plan["bud"]:
                keys.append(self.keys.budget(b["r"]))
        args = [
            txn_id,
            member,
            auth.seq,
            _whole(now, "now"),
            orjson.dumps(plan),
            orjson.dumps(progress),
            orjson.dumps(body),
            field,
            self.inline,
        ]
        outcome, result = self._run("lifecycle", keys, args)
        if self.cluster and _text(outcome) == "ok":
            # Lowering a reservation never fails; if this process dies first, the budget stays
            # spent (never overspent) until reconciliation (docs/wallets.md).
            for b in plan["bud"]:
                self._set_reservation(b, member, b["d"], now)
        return orjson.loads(result)

    # ---- expiry, ledger, verification ----------------------------------------------------------
    def expire(self, member: str, now: int) -> dict[str, int]:
        """Remove what has expired from the member's wallets; what went, by wallet."""
        self._check_member(member)
        keys = [
            self.keys.profile(member),
            self.keys.ledger(member),
            self.keys.wallets(member),
            self.keys.spend(member),
        ]
        oldest = (
            local_seconds(self.program.timezone, _whole(now, "now")) - self.limit_retention
        ) // DAY
        cuts = [period_key(period, oldest) for period in ("day", "week", "month")]
        flat = self._run("expire", keys, [now, *cuts])
        return {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    def ledger(self, member: str, before: str | None = None, limit: int = 50) -> list[LedgerEntry]:
        """Up to ``limit`` entries of the member's ledger, newest first, older than the entry
        whose id is ``before`` (each page's last id is the next page's ``before``)."""
        self._check_member(member)
        record, _, line = (before or "").partition("/")
        out: list[LedgerEntry] = []
        if record and line:
            # The rest of a journal record the previous page stopped inside.
            rows = self._call("xrange", self.keys.ledger(member), record, record)
            out.extend(_entries(rows, below=int(line)))
        top = f"({record}" if record else "+"
        while len(out) < limit:
            rows = self._call(
                "xrevrange", self.keys.ledger(member), top, "-", count=max(limit - len(out), 1)
            )
            if not rows:
                break
            out.extend(_entries(rows))
            top = f"({_text(rows[-1][0])}"
        return out[:limit]

    def verify(self, member: str | None = None) -> VerifyReport:
        """Check that balances equal the sums of their ledgers (one member, or every member
        and every budget)."""
        report = VerifyReport()
        members = [member] if member is not None else self.members()
        for name in members:
            keys = [self.keys.ledger(name), self.keys.wallets(name)]
            reply = self._run("verify", keys, list(self.wallet_names))
            report.members += 1
            report.entries += int(reply[0])
            report.problems.extend(f"member {name!r}: {_text(p)}" for p in reply[1:])
        if member is None:
            for rule in self.program.rules:
                if rule.budget is None:
                    continue
                kind = rule.budget.kind
                fields = self._call("hgetall", self.keys.budget(rule.name))
                used = int(fields.get(kind.encode(), 0))
                total = int(fields.get(b"settled", 0)) + sum(
                    int(_text(v).split("|", 1)[0]) for k, v in fields.items() if b"#" in k
                )
                report.budgets += 1
                if used != total:
                    report.problems.append(
                        f"budget {rule.name!r}: {used} used but its reservations and settled"
                        f" total sum to {total}"
                    )
        return report

    def members(self) -> list[str]:
        """Every member with a profile (scans the key space: for verification, not hot paths)."""
        try:
            found = {
                _text(key)
                for key in self.client.scan_iter(match=self.keys.profile_pattern(), count=1000)
            }
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {exc}") from None
        return sorted(self.keys.member_of(key) for key in found)

    # ---- enrolment, inspection ------------------------------------------------------------
    def enrol(
        self,
        member: str,
        now: int,
        *,
        tier: str | None = None,
        segments: Iterable[str] = (),
        attrs: Mapping[str, str | int] | None = None,
    ) -> None:
        """A new member with nothing yet."""
        self.load_member(
            MemberState(member, tier, frozenset(segments), attrs=dict(attrs or {})), now
        )

    def load_member(self, state: MemberState, now: int) -> None:
        """Enrol a member with an opening state: counters, tier, opening balances (ledger
        entries ``load``), spend (30 days at ``now``, the rest of 12 months 31 days earlier)."""
        member = self._check_member(state.member)
        now = _whole(now, "now")
        if state.tier is not None and state.tier not in self.program.tier_rank:
            raise InvalidRequest(f"unknown tier {state.tier!r}")
        values = {
            "txns": str(_whole(state.txn_count, "txn_count")),
            "enrolled": str(
                _whole(state.enrolled if state.enrolled is not None else now, "enrolled")
            ),
            "segs": orjson.dumps(sorted(state.segments)).decode(),
            "attrs": orjson.dumps(state.attrs).decode(),
        }
        if state.tier is not None:
            values["tier"] = state.tier
        if state.last_purchase is not None:
            values["last"] = str(_whole(state.last_purchase, "last_purchase"))
        opening = [
            (self._check_wallet(name), _whole(amount, f"balances.{name}"))
            for name, amount in state.balances.items()
        ]
        for draw, entries in state.entries.items():
            if draw not in self.program.draws:
                raise UnknownWallet(f"unknown draw {draw!r}", wallet=draw)
            opening.append((f"draw:{draw}", _whole(entries, f"entries.{draw}")))
        opening = [(name, amount) for name, amount in opening if amount]
        s30 = _whole(state.spend_30d, "spend_30d")
        s12 = max(_whole(state.spend_12m, "spend_12m"), s30)
        days = {}
        if s30:
            days[f"d:{now // DAY}"] = str(s30)
        if s12 > s30:
            days[f"d:{now // DAY - 31}"] = str(s12 - s30)
        if days:
            values["spend"] = f"{now // DAY}|{s30}|{s12}"
        keys = [
            self.keys.profile(member),
            self.keys.ledger(member),
            self.keys.tiers(member),
            self.keys.wallets(member),
            self.keys.spend(member),
        ]
        profile = {"order": sorted(values), "values": values, "days": days}
        balances = [[name, amount] for name, amount in opening]
        self._run("load", keys, [now, orjson.dumps(profile), orjson.dumps(balances)])

    def authorization(self, member: str, txn_id: str) -> dict[str, Any] | None:
        """An authorisation as stored (status, record, progress), for inspection."""
        auth = self._load(member, txn_id, missing_ok=True)
        if auth is None:
            return None
        return {
            "status": auth.status,
            "seq": auth.seq,
            "record": auth.record,
            "progress": auth.progress,
            "took": auth.took,
            "results": {k: orjson.loads(v) for k, v in auth.results.items()},
        }

    def tier_history(self, member: str) -> list[tuple[int, str, str, str]]:
        """Tier changes: (time, tier, txn id, operation)."""
        out = []
        for raw in self._call("lrange", self.keys.tiers(member), 0, -1):
            stamp, rest = _text(raw).split("|", 1)
            tier, rest = rest.split("|", 1)
            txn, op = rest.rsplit("|", 1)
            out.append((int(stamp), tier, txn, op))
        return out


# ---- helpers ----------------------------------------------------------------------------------


def _named_counter(field: str) -> tuple[str, str]:
    """The named counter ("c:<period>|<rule>|<kind>") and the period key of a limit
    counter of the layout before them ("l:<period key>|<rule>|<kind>")."""
    key, counter = field[2:].split("|", 1)
    if key == "ever":
        period = "ever"
    elif "W" in key:
        period = "week"
    else:
        period = "day" if len(key) == 10 else "month"
    return f"c:{period}|{counter}", key


def _answer(reply: Sequence[Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The answer of the authorise script: on ``ok`` the one the store sent (the script
    stored it and need not send it back), on ``replay`` the one stored before."""
    return orjson.loads(reply[1]) if len(reply) > 1 else answer


def _translate(exc: redis.ResponseError) -> Exception:
    message = str(exc)
    if not message.startswith("TSR "):
        return InternalError(f"redis: {message}")
    code, _, rest = message[4:].partition(" ")
    rest = rest.split(" script: ", 1)[0]
    return error_for(code, rest)


def _entries(rows: Sequence[Any], below: int | None = None) -> list[LedgerEntry]:
    """The lines of journal records (newest record first), each record's last line first."""
    out = []
    for record_id, raw in rows:
        record = _text(record_id)
        f = {_text(k): _text(v) for k, v in raw.items()}
        stamp, txn, op = int(f["time"]), f["txn"], f["op"]
        lines = orjson.loads(f["lines"])
        for index in range(min(len(lines), below if below is not None else len(lines)) - 1, -1, -1):
            wallet, kind, rule, delta, balance, funders = lines[index]
            out.append(
                LedgerEntry(
                    f"{record}/{index}",
                    record,
                    index,
                    stamp,
                    txn,
                    op,
                    kind,
                    rule,
                    wallet,
                    delta,
                    balance,
                    tuple((n, v) for n, v in funders),
                )
            )
    return out


def _status_name(status: str) -> str:
    return "reversed before it was authorised" if status == "tomb" else status


def _fresh_progress(record: Mapping[str, Any] | None) -> dict[str, Any]:
    record = record or {}
    return {
        "cap": record.get("amt", 0) if not record.get("hold") else None,
        "ret": 0,
        "refunded": 0,
        "refunds": {},
        "fx": [0] * len(record.get("fx", ())),
        "sp": 0,
        "rb": {},
        "lim": [0] * len(record.get("lim", ())),
        "bud": [0] * len(record.get("bud", ())),
        "spend": 0,
    }


def _delta_shares(
    shares: Sequence[Sequence[Any]], value: int, before: int, after: int
) -> list[tuple[str, int]]:
    """Funders' parts of taking ``value``'s share from ``before`` to ``after`` back.

    Cumulative like the amounts: at ``back`` each funder has ``share * back // value`` back,
    the rounding remainder on the first funder that is not the programme, so the parts of
    all steps add up to each funder's share exactly.
    """
    if not shares or not value:
        return []

    def cumulative(back: int) -> list[int]:
        parts = [share * back // value for _, share in shares]
        target = next((i for i, (name, _) in enumerate(shares) if name != "program"), 0)
        parts[target] += back - sum(parts)
        return parts

    old, new = cumulative(before), cumulative(after)
    return [(name, new[i] - old[i]) for i, (name, _) in enumerate(shares)]


def decide_on_snapshot(
    compiled: CompiledProgram, walker: Walker, store: WalletStore, txn: Transaction
) -> tuple[Decision, Snapshot]:
    """Read the member once and decide on what was read: what Quote answers and what
    authorise then writes (if the state has not moved meanwhile)."""
    snapshot = store.snapshot(txn.member, txn.time)
    matched = compiled.match(txn, snapshot.state)
    # Budgets as unused first: kept if each budget spent has room by this process's
    # estimate, so a budgeted rule costs no read of its budget (estimates.py says why the
    # decision is then the one a read would give, or one the write refuses).
    counters = store.unread_counters(snapshot, matched)
    if counters is not None:
        decision = walker.decide(txn, snapshot.state, matched, counters)
        if store.budget_estimates.fits(decision):
            return decision, snapshot
    decision = walker.decide(txn, snapshot.state, matched, store.counters(snapshot, matched))
    return decision, snapshot


def authorize_transaction(
    compiled: CompiledProgram,
    walker: Walker,
    store: WalletStore,
    txn: Transaction,
    retries: int = 3,
    *,
    capture: bool = False,
    before_write: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Read → match → walk → authorise, deciding again when the member's state moved.

    ``before_write`` runs just before each write and may raise to write nothing (the gRPC
    service checks the call's deadline there).  Returns the stored result (the same one
    for every retry of the same transaction).
    """
    attempt = 0
    while True:
        decision, snapshot = decide_on_snapshot(compiled, walker, store, txn)
        if before_write is not None:
            before_write()
        try:
            return store.authorize(txn, decision, snapshot, capture=capture)
        except StateChanged:
            if attempt >= retries:
                raise
            attempt += 1
            # Someone else changed this member: let them finish before reading again.
            time.sleep(random.random() * 0.002 * attempt)
