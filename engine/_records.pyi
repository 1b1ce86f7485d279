"""Types of the compiled constructors of the decision's dataclasses (engine/_records.pyx)."""

from .decision import Applied, Decision, EffectResult, FunderLine, Redemption, Skipped, Usage

def effect(
    type: str,
    amount: int,
    points: int,
    wallet: str | None,
    draw: str | None,
    segment: str | None,
    available_at: int | None,
    expires_at: int | None,
) -> EffectResult: ...
def funder_line(funder: str, amount: int, points: int) -> FunderLine: ...
def applied(
    rule: str, effects: list[EffectResult], value: int, funders: list[FunderLine]
) -> Applied: ...
def applied_one(
    rule: str, effect: EffectResult, value: int, funder: str, amount: int, points: int
) -> Applied: ...
def applied_unfunded(rule: str, effect: EffectResult) -> Applied: ...
def skipped(rule: str, reason: str, detail: str) -> Skipped: ...
def usage(
    scope: str, rule: str, kind: str, period: str, key: str, delta: int, cap: int
) -> Usage: ...
def decision(
    txn_id: str,
    member: str,
    version: str,
    amount: int,
    discount: int,
    redeemed: int,
    applied: list[Applied],
    skipped: list[Skipped],
    usage: list[Usage],
    redemption: Redemption | None,
    balances: dict[str, int],
    time: int,
) -> Decision: ...
def plain(obj: object) -> dict[str, object]: ...
def jsonable(obj: object) -> object: ...
