# cython: language_level=3
"""An authorisation's arguments for the authorise script, worked out from the decision on
the snapshot it was made on.

This is the first step of ``WalletStore.authorize`` and runs on the client while the payment
waits: it checks the decision against the programme, takes the redemption from the
snapshot's buckets and adds the credits (on copies), counts the limits, and writes the
record that capture, reversal and refund read, the answer a retry gets back and the
member's profile after the purchase.  Written as plain Python it was some 140k instructions
of small calls and dictionaries, and two to three times its time on a hot cache when it
runs right after the read's round trip, as it does (docs/benchmarks.md); here the lists
and dicts are typed, the checks are C functions, and each credit is built once in its
final shape.  docs/wallets.md describes what each argument means and ``lua/authorize.lua``
reads them in the order given here.
"""

import dataclasses
import hashlib
import operator
import random

import orjson

from tessera.engine.dumps import dumps, jsonable
from tessera.engine.model import Transaction

from ._purses import Purse
from .errors import (
    InsufficientBalance,
    InvalidAmount,
    InvalidRequest,
    LimitExceeded,
    MemberMismatch,
    NegativeAmount,
    UnknownRule,
    UnknownWallet,
)
from .keys import hold_entry

cdef object _DAY = 86_400
cdef object _MAX = 2**53 - 1  # exact in Redis' Lua numbers
cdef object _FOREVER = 99_999_999_999  # "never expires": far beyond any date, below 2**53
cdef str _NEVER = f"{_FOREVER}:0"  # the bucket of value available at once that never expires
cdef tuple _PERIODS = ("day", "week", "month", "ever")  # what a limit counts in
# Every field of a transaction, in declaration order: the canonical form that is hashed.
cdef object _txn_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Transaction)))


cpdef object whole(object value, str what):
    """``value`` if it is a whole number of 0 to 2**53 - 1, else the error that says why."""
    if type(value) is int and 0 <= value <= _MAX:
        return value
    if type(value) is not int:
        raise InvalidAmount(f"{what} must be a whole number, not {value!r}", field=what)
    if value < 0:
        raise NegativeAmount(f"{what} must not be negative ({value})", field=what)
    raise InvalidAmount(f"{what} exceeds 2**53 - 1", field=what)


cdef inline str _identifier(object value, str message):
    if not isinstance(value, str) or not value or len(<str>value) > 256:
        raise InvalidRequest(message)
    return <str>value


def check_member(member: object) -> str:
    return _identifier(member, "a member id is a non-empty string of at most 256 characters")


def check_txn_id(txn_id: object) -> str:
    return _identifier(
        txn_id, "a transaction id is a non-empty string of at most 256 characters"
    )


def payload_hash(txn, bint capture) -> str:
    """The idempotency fingerprint of an authorisation request: every field of the
    transaction in declaration order (a tuple serialises several times faster than the
    dataclass itself), and whether it was a sale."""
    body = dumps(_txn_fields(txn))
    return hashlib.blake2b(
        body + (b"|sale" if capture else b"|hold"), digest_size=16
    ).hexdigest()


cpdef list shares(object value, list funders):
    """``value`` split by weights (funder, weight), rounding down; the remainder to the
    first funder that is not the programme (as the walk does)."""
    cdef list lines
    cdef list line
    cdef list target = None
    if not funders or not value:
        return []
    total = 0
    for _, weight in funders:
        total += weight
    if total <= 0:
        return []
    lines = [[name, value * weight // total] for name, weight in funders]
    given = 0
    for line in lines:
        given += line[1]
        if target is None and line[0] != "program":
            target = line
    if target is None:
        target = lines[0]
    target[1] += value - given
    return [(line[0], line[1]) for line in lines]


cdef object _working(dict purses, object held, str name):
    """``purses[name]``, copied from the snapshot's purse (or empty) when first touched."""
    wallet = purses.get(name)
    if wallet is None:
        have = held.get(name)
        wallet = have.copy() if have is not None else Purse(name)
        purses[name] = wallet
    return wallet


cdef object _balance_after(dict after, dict totals, str name, object delta):
    """What wallet ``name`` holds in all (every bucket and the debt: what its ledger sums
    to) after ``delta``, kept in ``after`` from the snapshot's ``totals``: a credit adds its
    whole value to it whether it pays debt or fills a bucket, a redemption takes its value,
    so the sum need not be taken over a purse of many buckets at every line."""
    total = after.get(name)
    if total is None:
        total = totals.get(name, 0)
    total += delta
    after[name] = total
    return total


cdef str _bucket(object effect):
    expires, available = effect.expires_at, effect.available_at
    if expires is None and available is None:
        return _NEVER
    expires = _FOREVER if expires is None else whole(expires, "expires_at")
    available = 0 if available is None else whole(available, "available_at")
    if expires > _FOREVER:
        raise InvalidAmount("expires_at lies beyond the store's horizon")
    return f"{expires}:{available}"


cdef str _spend_mark(object snapshot, object state, object day, object amount):
    """The profile's ``spend`` after ``amount`` spent on ``day``: the 30-day and 12-month
    windows at the end of the last day anything was spent (the read subtracts the days that
    left them since, so it reads a few days, not the year)."""
    mark = snapshot.spend_mark
    if mark:
        last, s30, s12 = [int(part) for part in mark.split("|")]
        if day < last:  # a purchase dated before the last: the windows stay those of `last`
            s30 += amount if day > last - 30 else 0
            s12 += amount if day > last - 365 else 0
            return f"{last}|{s30}|{s12}"
    return f"{day}|{state.spend_30d + amount}|{state.spend_12m + amount}"


cdef class Preparer:
    """What a store checks decisions against (its programme's wallets, draws and rules, its
    version, its hold time), and :meth:`prepare` on them."""

    cdef object wallets
    cdef frozenset points
    cdef object draws
    cdef dict rules
    cdef object version
    cdef object hold_seconds
    cdef str inline
    cdef object tier_after

    def __init__(
        self, program, version, rules, hold_seconds, inline, tier_after
    ):
        self.wallets = program.wallets
        self.points = frozenset(
            name for name, wallet in program.wallets.items() if wallet.kind == "points"
        )
        self.draws = program.draws
        self.rules = dict(rules)
        self.version = version
        self.hold_seconds = hold_seconds
        self.inline = inline
        self.tier_after = tier_after

    def prepare(self, txn, decision, snapshot, bint capture):
        """Check ``decision`` (made on ``snapshot`` for ``txn``) and work out every change it
        makes: the authorise script's arguments, the budgets it spends, and the answer it
        stores (as the stored JSON reads back)."""
        cdef dict purses = {}
        cdef list lines = []
        cdef list check_fields = []  # the buckets the redemption takes from ...
        cdef list check_values = []  # ... and what the snapshot says they hold
        cdef list took = []
        cdef list fx = []
        cdef list tags = []
        cdef list budgets = []
        cdef dict limits = {}
        cdef dict lim
        cdef dict seen
        cdef dict number
        cdef dict credit
        cdef dict bud
        cdef list sets = []
        cdef list dels = []
        cdef list profile
        cdef list args

        member = check_member(txn.member)
        txn_id = check_txn_id(txn.txn_id)
        state = snapshot.state
        if decision.member != member or state.member != member:
            raise MemberMismatch(
                "the decision, the snapshot and the transaction name different members"
            )
        if decision.txn_id != txn_id:
            raise InvalidRequest(f"the decision is for {decision.txn_id!r}, not {txn_id!r}")
        version = decision.version
        if version != self.version:
            raise InvalidRequest(
                f"the decision was made by programme version {version!r},"
                f" this store runs {self.version!r}"
            )
        now = whole(txn.time, "time")
        if snapshot.now != now:
            raise InvalidRequest("the snapshot was read at another time than the transaction's")
        amount = whole(txn.amount, "amount")
        whole(decision.discount, "discount")
        whole(decision.redeemed, "redeemed")

        # Wallets: the redemption first, then the credits, on copies of the snapshot's
        # purses; ``purses`` in the order first touched: the script numbers wallets so.
        held_purses = snapshot.purses
        cdef dict totals = snapshot.totals  # what each wallet's ledger sums to, as read
        cdef dict after = {}  # ... and after each line of this authorisation
        sp = None
        redemption = decision.redemption
        if redemption is not None:
            name = self._wallet(redemption.wallet)
            money = whole(redemption.amount, "redemption.amount")
            points = whole(redemption.points, "redemption.points")
            value = points if name in self.points else money
            if value:
                wallet = _working(purses, held_purses, name)
                spent = wallet.spend(value, now)
                if spent is None:
                    raise InsufficientBalance(f"{name}: less than {value} spendable")
                took = spent
                left = wallet.buckets
                for bucket, part in took:  # each bucket once: what is left and its part
                    check_fields.append(f"{name}|{bucket}")
                    check_values.append(left[bucket] + part)
                sp = {"w": 1, "v": value}  # the first wallet touched
                lines.append(
                    [name, "redeem", "", -value, _balance_after(after, totals, name, -value), []]
                )
        for applied in decision.applied:
            if applied.rule not in self.rules:
                raise UnknownRule(f"unknown rule {applied.rule!r}", rule=applied.rule)
            self._credit(applied, purses, held_purses, after, totals, lines, fx, tags)
        wallets = list(purses)
        if fx:
            number = {name: i + 1 for i, name in enumerate(wallets)}
            for credit in fx:
                credit["w"] = number[credit["w"]]

        nonce = f"{random.getrandbits(48):012x}"  # one per attempt: reservation ids
        for usage in decision.usage:
            if usage.rule not in self.rules:
                raise UnknownRule(f"usage names unknown rule {usage.rule!r}", rule=usage.rule)
            delta, cap = whole(usage.delta, "usage.delta"), whole(usage.cap, "usage.cap")
            kind = usage.kind
            if kind != "count" and kind != "value":
                raise InvalidRequest(f"usage kind {kind!r} is not count or value")
            if not delta:
                continue
            scope = usage.scope
            if scope == "limit":
                if usage.period not in _PERIODS:
                    raise InvalidRequest(f"usage period {usage.period!r} is not one of {_PERIODS}")
                # One field a counter, whatever the period: it holds "<period key>|<used>",
                # so that a member's profile keeps one field per limit, not one per period.
                where = f"c:{usage.period}|{usage.rule}|{kind}"
                seen = limits.get(where)
                if seen is None:
                    limits[where] = {"f": where, "p": usage.key, "d": delta, "c": cap}
                else:  # two limits on one counter: it moves once, under the tighter cap
                    seen["d"], seen["c"] = max(seen["d"], delta), min(seen["c"], cap)
            elif scope == "budget":
                budgets.append(
                    {"r": usage.rule, "kind": kind, "id": f"{txn_id}#{nonce}", "d": delta, "c": cap}
                )
            else:
                raise InvalidRequest(f"usage scope {scope!r} is not limit or budget")

        segments = state.segments
        granted = sorted(set(tags))
        deadline = 0 if capture else now + self.hold_seconds
        day = now // _DAY
        last_purchase = state.last_purchase
        rec = {
            "txn": txn_id,
            "member": member,
            "amt": amount,
            "day": day,
            "time": now,
            "wallets": wallets,
            "fx": fx,
            "lim": list(limits.values()),
            "bud": budgets,
            "tags": granted,
            "prev_last": [last_purchase or 0, snapshot.last_txn],
            "hold": deadline,
            "took": took,
        }
        segs_after = ""
        if sp is not None:
            rec["sp"] = sp
        added = [tag for tag in granted if tag not in segments]
        if added:
            segments = segments | frozenset(added)
            segs_after = orjson.dumps(sorted(segments)).decode()
        tier = None
        if self.tier_after is not None:
            tier = self.tier_after(snapshot, amount, segments, now)
        if tier is not None:
            rec["tier"] = tier
        balances = dict(state.balances)
        for name, wallet in purses.items():
            if name in balances:
                balances[name] = wallet.spendable(now)
        answer = {
            "op": "authorize",
            "txn_id": txn_id,
            "member": member,
            "program_version": version,
            "amount": amount,
            "discount": decision.discount,
            "redeemed": decision.redeemed,
            "charged": decision.charged,
            "applied": jsonable(decision.applied),
            "skipped": jsonable(decision.skipped),
            "redemption": jsonable(redemption),
            "hold_until": deadline or None,
            "balances": balances,
            "status": "held" if deadline else "captured",
        }
        for wallet in purses.values():
            wallet.writes_into(sets, dels)
        # The profile after this purchase.  The script applies it only on the version the
        # snapshot read, so the snapshot's counters are the member's: every value can be
        # worked out here, and the limits checked here.
        profile = ["ver", snapshot.version + 1, "txns", state.txn_count + 1]
        if last_purchase is None or last_purchase < now:
            profile += ("last", now, "lastx", txn_id)
        if state.enrolled is None:
            profile += ("enrolled", now)
        spend_field, spend_value = "", 0  # the spend hash's field of this day, and its value
        if amount:
            if snapshot.days_in_profile:  # the layout before the spend hash, until expiry moves it
                profile += (f"d:{day}", snapshot.spend_today + amount)
            else:
                spend_field, spend_value = f"d:{day}", snapshot.spend_today + amount
                profile += ("spend", _spend_mark(snapshot, state, day, amount))
        if limits:
            used_of = snapshot.limits
            for where, lim in limits.items():
                key = lim["p"]
                used = used_of.get((key, where.split("|", 1)[1]), 0)
                if used + lim["d"] > lim["c"]:
                    raise LimitExceeded(f"{where} in {key}: {used} used of {lim['c']}")
                profile += (where, f"{key}|{used + lim['d']}")
        if tier:
            profile += ("tier", tier[1])
        if segs_after:
            profile += ("segs", segs_after)
        if granted:
            counts = snapshot.tag_counts
            before = state.segments
            for tag in granted:
                # How many standing grants a tag has (a segment the member had before any
                # grant counts as one): a reversal removes the tag only when it falls to 0.
                held = counts.get(tag)
                if held is None:
                    held = 1 if tag in before else 0
                profile += (f"tg:{tag}", held + 1)
        args = [
            txn_id,
            member,
            payload_hash(txn, capture),
            orjson.dumps(rec),
            orjson.dumps(answer),
            orjson.dumps(lines) if lines else "",
            hold_entry(member, txn_id),
            snapshot.version,
            now,
            deadline,
            self.inline,
            tier[1] if tier else "",
            nonce,
            len(sets) // 2,
            len(dels),
            len(check_fields),
            len(profile) // 2,
            len(budgets),
            spend_field,
            spend_value,
        ]
        args += sets
        args += dels
        args += check_fields
        args += check_values
        args += profile
        for bud in budgets:
            args += (bud["kind"], bud["d"], bud["c"])
        return args, budgets, answer

    cdef object _wallet(self, object name):
        """``name`` if it is one of the programme's wallets, else the error saying so."""
        if name not in self.wallets:
            raise UnknownWallet(f"unknown wallet {name!r}", wallet=name)
        return name

    cdef void _credit(
        self, object applied, dict purses, object held, dict after, dict totals,
        list lines, list fx, list tags,
    ) except *:
        """The wallet credits of one applied rule, each with its funders' shares, added to
        its wallet, its ledger line and its record entry (``w`` the wallet's name until
        :meth:`prepare` numbers them); a tag effect's segment into ``tags``."""
        cdef list fund
        for effect in applied.effects:
            kind = effect.type
            if kind == "cashback" or kind == "earn":
                name = self._wallet(effect.wallet)
                cashback = kind == "cashback"
                value = whole(effect.amount if cashback else effect.points, kind)
                if not value:
                    continue
                bucket = _bucket(effect)
                funders = applied.funders
                if len(funders) == 1:  # the usual case: one funder pays it all
                    fund = [[funders[0].funder, value]]
                else:
                    fund = [
                        [funder, share]
                        for funder, share in shares(
                            value,
                            [(f.funder, f.amount if cashback else f.points) for f in funders],
                        )
                    ]
            elif kind == "entries":
                if effect.draw not in self.draws:
                    raise UnknownWallet(f"unknown draw {effect.draw!r}", wallet=effect.draw)
                name = f"draw:{effect.draw}"
                value = whole(effect.points, "entries")
                bucket, fund = _NEVER, []
            elif kind == "tag":
                if not isinstance(effect.segment, str) or not effect.segment:
                    raise InvalidRequest("a tag effect names a segment")
                tags.append(effect.segment)
                continue
            elif kind == "discount":
                whole(effect.amount, "discount")
                continue
            else:
                raise InvalidRequest(f"effect type {kind!r} cannot be applied")
            if value:
                wallet = _working(purses, held, name)
                wallet.add(bucket, value)
                total = _balance_after(after, totals, name, value)
                lines.append([name, kind, applied.rule, value, total, fund])
                fx.append(
                    {"k": kind, "w": name, "r": applied.rule, "v": value, "f": bucket, "fund": fund}
                )
