"""Seeded, deterministic loyalty programmes, members and transactions for benchmarks and tests.

A benchmark of the matcher is only meaningful if the programme grows the way real ones do.
Real programmes do not add thousands of catch-all rules; they keep a bounded core of general
rules (tier bonuses, weekend and hour windows, basket promotions, welcome offers) and grow by
*targeted offers*: a merchant's own campaign, a terminal promotion, a bank's card-BIN offer,
a chain-wide offer on a merchant group, a short category campaign on a few MCCs.  The engine
indexes rules by those anchors, so a rule that names another merchant costs (almost) nothing.
This module generates exactly that shape, so that 100,000 rules stress the index rather than
a brute-force scan, and so that a realistic handful of rules match each transaction.

Everything here is a pure function of its arguments: the same seed gives byte-identical
programme text and equal transactions.  The *universe* the programmes and transactions share
(merchants, terminals, card BINs, SKUs and merchant groups) is built from a fixed seed, so a
programme of any size and seed talks about the same merchants the transactions visit.

Money is integer minor units (cents) throughout and time is epoch seconds UTC, as in
:mod:`tessera.engine.model`; nothing here needs the rules compiler.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import Template

from tessera.engine.model import BasketLine, MemberState, Redeem, Transaction

# ---- sizes and fixed parameters ------------------------------------------------------------

RULE_COUNTS = (100, 1_000, 10_000, 100_000)
"""The programme sizes the benchmarks compare (the target: 100k costs <= 10x of 1k)."""

CORE_RULES = 60
"""General rules in every programme with at least this many rules; the rest are offers."""

MEMBER_POOL = 10_000
"""Default number of members transactions are drawn from (``m-000000`` .. ``m-009999``)."""

OFFER_MERCHANTS = 20_000
"""Merchants that targeted offers may name (``M000000`` .. ``M019999``)."""

OTHER_MERCHANTS = 10_000
"""Merchants with no offer of their own: they get only the general rules, as in real life."""

CARD_BINS = 2_000
"""Distinct card BINs; few enough that BIN offers hit, many enough to stay selective."""

UTC_OFFSET = 3_600
"""Europe/Belgrade is UTC+1 for all of December and January (no DST change in the window)."""

WINDOW_START_DATE = dt.date(2026, 12, 1)
WINDOW_END_DATE = dt.date(2027, 1, 31)
_EPOCH = dt.date(1970, 1, 1)
_DAY = 86_400
WINDOW_START = (WINDOW_START_DATE - _EPOCH).days * _DAY - UTC_OFFSET
"""First second (epoch UTC) a generated transaction may carry: 2026-12-01T00:00 local."""
WINDOW_END = ((WINDOW_END_DATE - _EPOCH).days + 1) * _DAY - UTC_OFFSET
"""First second after the window (exclusive): 2027-02-01T00:00 local."""

_UNIVERSE_SEED = 20_261_201  # fixed: programmes and transactions must share one universe
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_GROUP_OFFERS = 400  # offers anchored on merchant groups stay few, as in real programmes
_MAX_MCC_OFFERS = 80  # category campaigns on MCCs are few and short (a week or two)

# ---- the catalogue: merchant kinds, categories, SKUs ---------------------------------------

# kind -> (mccs, categories sold, basket lines (lo, hi), traffic weight)
_KINDS: dict[str, tuple[tuple[int, ...], tuple[str, ...], tuple[int, int], int]] = {
    "cafe": ((5814,), ("coffee", "tea", "pastry", "sandwich", "juice"), (1, 4), 20),
    "restaurant": (
        (5812, 5813),
        ("main_course", "dessert", "wine", "beer", "soft_drink", "coffee"),
        (1, 8),
        10,
    ),
    "grocery": (
        (5411,),
        ("dairy", "bakery", "produce", "meat", "beverages", "snacks", "household", "coffee", "tea"),
        (2, 10),
        25,
    ),
    "fuel": ((5541, 5542), ("fuel", "car_wash", "snacks", "coffee", "beverages"), (1, 3), 10),
    "electronics": ((5732,), ("phones", "laptops", "accessories", "audio"), (1, 3), 4),
    "fashion": ((5651, 5691, 5661), ("apparel", "shoes", "fashion_accessories"), (1, 5), 7),
    "pharmacy": ((5912,), ("medicine", "cosmetics", "vitamins"), (1, 5), 8),
    "books": ((5942, 5943), ("books", "stationery"), (1, 4), 3),
    "department": ((5311,), ("household", "apparel", "toys", "cosmetics"), (1, 8), 5),
    "transit": ((4111, 4121), ("ticket",), (1, 2), 5),
    "online": ((5999, 5815), ("accessories", "apparel", "books", "toys", "audio"), (1, 5), 3),
}

# category -> (SKU prefix, unit price range in cents)
_CATEGORIES: dict[str, tuple[str, int, int]] = {
    "coffee": ("COF", 150, 450), "tea": ("TEA", 120, 350), "pastry": ("PAS", 100, 400),
    "sandwich": ("SAN", 300, 700), "juice": ("JUI", 200, 450),
    "main_course": ("MAI", 800, 2_500), "dessert": ("DES", 300, 900),
    "wine": ("WIN", 1_500, 6_000), "beer": ("BEE", 250, 600), "soft_drink": ("SOF", 150, 400),
    "dairy": ("DAI", 80, 500), "bakery": ("BAK", 50, 400), "produce": ("PRO", 50, 600),
    "meat": ("MEA", 300, 2_500), "beverages": ("BEV", 80, 600), "snacks": ("SNA", 80, 500),
    "household": ("HOU", 150, 2_000), "fuel": ("FUE", 2_000, 9_000),
    "car_wash": ("CAR", 500, 2_000), "phones": ("PHO", 15_000, 120_000),
    "laptops": ("LAP", 40_000, 200_000), "accessories": ("ACC", 500, 8_000),
    "audio": ("AUD", 2_000, 30_000), "apparel": ("APP", 1_500, 12_000),
    "shoes": ("SHO", 3_000, 15_000), "fashion_accessories": ("FAC", 800, 6_000),
    "medicine": ("MED", 300, 3_000), "cosmetics": ("COS", 500, 5_000),
    "vitamins": ("VIT", 500, 3_000), "books": ("BOO", 800, 4_000),
    "stationery": ("STA", 100, 1_500), "toys": ("TOY", 1_000, 8_000), "ticket": ("TIC", 100, 500),
}
_SKUS_PER_CATEGORY = 30

_CATEGORY_GROUPS: dict[str, tuple[str, ...]] = {
    "hot_drinks": ("coffee", "tea"),
    "groceries": ("dairy", "bakery", "produce", "meat", "beverages", "snacks", "household"),
    "fuel": ("fuel",),
    "electronics": ("phones", "laptops", "accessories", "audio"),
    "fashion": ("apparel", "shoes", "fashion_accessories"),
    "health": ("medicine", "vitamins", "cosmetics"),
    "dining": ("main_course", "dessert", "wine", "beer", "soft_drink"),
}

# merchant group -> (kinds it draws from, size range)
_MERCHANT_GROUPS: dict[str, tuple[tuple[str, ...], tuple[int, int]]] = {
    "coffee_partners": (("cafe",), (20, 50)),
    "bakery_cafes": (("cafe",), (5, 15)),
    "grocery_chain_a": (("grocery",), (20, 50)),
    "grocery_chain_b": (("grocery",), (10, 30)),
    "fuel_partners": (("fuel",), (15, 40)),
    "highway_fuel": (("fuel",), (5, 12)),
    "electronics_partners": (("electronics",), (5, 20)),
    "fashion_partners": (("fashion",), (10, 30)),
    "shoe_stores": (("fashion",), (5, 15)),
    "pharmacy_partners": (("pharmacy",), (10, 40)),
    "restaurant_partners": (("restaurant",), (15, 45)),
    "bar_partners": (("restaurant",), (5, 20)),
    "book_partners": (("books",), (5, 15)),
    "department_stores": (("department",), (5, 12)),
    "transit_partners": (("transit",), (5, 10)),
    "online_partners": (("online",), (10, 30)),
    "cashback_partners": (("cafe", "grocery", "restaurant", "pharmacy"), (30, 50)),
    "belgrade_partners": (("cafe", "restaurant", "fashion", "books"), (20, 50)),
    "novi_sad_partners": (("cafe", "restaurant", "grocery"), (10, 40)),
    "holiday_partners": (("fashion", "electronics", "department", "online", "books"), (20, 50)),
}

_FOREIGN_COUNTRIES = ("HU", "HR", "ME", "BA", "AT", "DE", "SI")
_CITIES = ("Belgrade", "Novi Sad", "Niš", "Kragujevac", "Subotica", "Zrenjanin", "Pančevo")
_SEGMENTS = ("vip", "student", "family", "commuter", "newsletter", "coffee_lover", "lapsed")
_TIER_THRESHOLDS = (("gold", 200_000), ("silver", 50_000), ("bronze", 0))  # spend_12m cents
_SPEND_BANDS = ((0, 49_999), (50_000, 199_999), (200_000, 1_000_000))  # bronze, silver, gold
_SPEND_BAND_WEIGHTS = (55, 30, 15)


# ---- the shared universe -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Merchant:
    """A merchant transactions can visit; offers may name it when ``index < OFFER_MERCHANTS``."""

    id: str
    kind: str
    mcc: int
    country: str
    terminals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Universe:
    """What programmes and transactions must agree on, built once from a fixed seed."""

    merchants: tuple[Merchant, ...]
    traffic: tuple[int, ...]  # cumulative weights for drawing a transaction's merchant
    offer_by_kind: Mapping[str, tuple[int, ...]]  # offer-merchant indexes of each kind
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # merchant groups, ids sorted
    skus: Mapping[str, tuple[tuple[str, int], ...]]  # category -> (sku, unit price)
    bins: tuple[str, ...]


@functools.cache
def universe() -> Universe:
    """Build the merchants, groups, catalogue and BINs every generator draws from.

    Cached because it is a constant: the fixed seed makes it identical in every process.
    """
    rng = random.Random(_UNIVERSE_SEED)
    kinds = list(_KINDS)
    kind_weights = [_KINDS[k][3] for k in kinds]
    merchants = []
    traffic = []
    total = 0
    by_kind: dict[str, list[int]] = {k: [] for k in kinds}
    for index in range(OFFER_MERCHANTS + OTHER_MERCHANTS):
        kind = rng.choices(kinds, kind_weights)[0]
        merchants.append(_make_merchant(rng, index, kind))
        total += _traffic_weight(rng, index)
        traffic.append(total)
        if index < OFFER_MERCHANTS:
            by_kind[kind].append(index)
    offer_by_kind = {k: tuple(v) for k, v in by_kind.items()}
    groups = tuple(_make_groups(rng, merchants, offer_by_kind))
    skus = {cat: _make_skus(rng, cat) for cat in _CATEGORIES}
    bins = tuple(sorted({_card_bin(rng) for _ in range(CARD_BINS)}))
    return Universe(tuple(merchants), tuple(traffic), offer_by_kind, groups, skus, bins)


def _make_merchant(rng: random.Random, index: int, kind: str) -> Merchant:
    """One merchant: a domestic shop with 1-4 terminals, sometimes abroad (cross-border)."""
    mcc = rng.choice(_KINDS[kind][0])
    country = "RS" if rng.random() < 0.9 else rng.choice(_FOREIGN_COUNTRIES)
    merchant_id = f"M{index:06d}"
    terminals = tuple(f"T{index:06d}-{t}" for t in range(1, rng.randint(1, 4) + 1))
    return Merchant(merchant_id, kind, mcc, country, terminals)


def _card_bin(rng: random.Random) -> str:
    """A six-digit Visa (4...) or Mastercard (5...) issuer prefix."""
    return f"{rng.choice('45')}{rng.randrange(10**5):05d}"


def _traffic_weight(rng: random.Random, index: int) -> int:
    """Busy chain stores get more traffic; merchants without offers get somewhat less."""
    weight = 10 if rng.random() < 0.05 else 2
    return weight if index < OFFER_MERCHANTS else weight // 2


def _make_groups(
    rng: random.Random, merchants: Sequence[Merchant], by_kind: Mapping[str, Sequence[int]]
) -> Iterable[tuple[str, tuple[str, ...]]]:
    """~20 inline merchant groups of 5-50 offer merchants, each drawn from fitting kinds."""
    for name, (kinds, (low, high)) in _MERCHANT_GROUPS.items():
        pool = sorted(i for k in kinds for i in by_kind[k])
        chosen = rng.sample(pool, min(len(pool), rng.randint(low, high)))
        yield name, tuple(sorted(merchants[i].id for i in chosen))


def _make_skus(rng: random.Random, category: str) -> tuple[tuple[str, int], ...]:
    """A category's SKUs with fixed unit prices, rounded to whole 10 cents like shelf prices."""
    prefix, low, high = _CATEGORIES[category]
    return tuple(
        (f"{prefix}-{j:03d}", rng.randint(low // 10, high // 10) * 10)
        for j in range(1, _SKUS_PER_CATEGORY + 1)
    )


# ---- text helpers --------------------------------------------------------------------------


def money(cents: int) -> str:
    """Render minor units as a rules-language money literal (``1250`` -> ``12.50``)."""
    return f"{cents // 100}.{cents % 100:02d}"


def _quoted(values: Iterable[str]) -> str:
    return "{" + ", ".join(f'"{v}"' for v in values) + "}"


def _weekday_set(rng: random.Random, low: int, high: int) -> str:
    days = sorted(rng.sample(range(7), rng.randint(low, high)))
    return "{" + ", ".join(_WEEKDAYS[d] for d in days) + "}"


# ---- the programme -------------------------------------------------------------------------


def generate_program(n_rules: int, seed: int = 7) -> str:
    """Return ``.rules`` source for a programme with exactly ``n_rules`` rules.

    The first ``min(n_rules, CORE_RULES)`` rules are the general core; the rest are targeted
    offers anchored on a merchant, terminal, card BIN, merchant group or small MCC set, so
    the programme grows the way real ones do.  The text passes the parser and the checker.
    With one seed a larger programme is a smaller one plus more offers at the end (past the
    first comment line), so benchmarks of different sizes compare like with like.
    """
    if n_rules < 0:
        raise ValueError("n_rules must not be negative")
    rng = random.Random(seed)
    parts = [_header(n_rules, seed)]
    core = min(n_rules, CORE_RULES)
    parts.extend(_core_rules(rng, core))
    offers = _OfferMaker(rng)
    parts.extend(offers.rule(i) for i in range(n_rules - core))
    return "\n".join(parts)


def _header(n_rules: int, seed: int) -> str:
    """Programme settings, groups, wallets, draws and tiers: the same for every size."""
    lines = [
        f"# A synthetic loyalty programme by bench/workload.py: {n_rules} rules, seed {seed}.",
        "program tessera_bench",
        "  currency EUR",
        "  timezone Europe/Belgrade",
        "  points_value 100 points = 1.00",
        "  earn_on net",
        "",
    ]
    for name, ids in universe().groups:
        lines.append(f"merchant_group {name} = {_quoted(ids)}")
    lines.append("")
    for name, cats in _CATEGORY_GROUPS.items():
        lines.append(f"category_group {name} = {_quoted(cats)}")
    lines += [
        "",
        "wallet points points expire 365d pending 14d",
        "wallet cashback money spend_at cashback_partners",
        "wallet credit money spend_on groceries",
        "wallet giftcard money",
        "",
        "draw winter_draw",
        "draw new_year_draw",
        "",
        "tier bronze default",
        "tier silver when spend_12m >= 500.00",
        "tier gold when spend_12m >= 2000.00",
        "",
    ]
    return "\n".join(lines)


# Placeholders the core templates share; each core rule draws its own values, so the seed
# varies thresholds and rates without changing which attributes a rule reads.
_CORE_CHOICES: dict[str, tuple[str, ...]] = {
    "pct": ("3%", "5%", "10%"),
    "small_pct": ("1%", "2%", "2.5%"),
    "cap": ("2.00", "3.00", "5.00"),
    "big_cap": ("10.00", "15.00", "25.00"),
    "mult": ("1", "2", "3"),
    "pts": ("50", "100", "200"),
    "amt": ("10.00", "15.00", "20.00", "25.00"),
    "big": ("100.00", "150.00", "200.00"),
    "lim": ("1", "2", "3"),
    "ent": ("1", "2"),
}

# The bounded core of general rules, most typical first (a 20-rule programme gets the first
# 20).  Together they exercise every construct of the language; most are selective enough
# that a transaction matches a few of them, and one (base_earn) matches nearly everything.
_CORE_TEMPLATES: tuple[str, ...] = (
    """rule base_earn
  when amount >= 1.00
  then earn 1 points per 1.00 into points""",
    """rule welcome
  priority 100
  when member.txn_count = 0
  then earn 500 points into points and tag "new_member"
  limit 1 per member ever
  stop""",
    """rule silver_bonus
  when tier = silver
  then earn 1 points per 2.00 into points""",
    """rule gold_bonus
  priority 5
  when tier = gold
  then earn $mult points per 1.00 into points and cashback $small_pct cap $cap into cashback""",
    """rule weekend_coffee
  priority 10
  active 2026-12-01 .. 2027-01-31
  when mcc in {5812, 5814}
   and weekday in {sat, sun}
   and hour in 7..11
   and amount >= 5.00
   and tier >= silver
  then discount 10% cap 3.00
   and earn 2 points per 1.00 into points
  limit 3 per member per day
  budget 10000.00
  funded_by merchant 50%, program 50%""",
    """rule tea_basket
  when basket.qty(category in hot_drinks) >= 2 and channel = pos
  then cashback 5% of basket.amount(category in hot_drinks) into cashback
  group drinks exclusive""",
    """rule coffee_multibuy
  when basket.qty(category in hot_drinks) >= 3
  then entries $ent into draw winter_draw
  group drinks exclusive""",
    """rule breakfast
  when hour in 7..9 and mcc in {5812, 5814}
  then discount $pct cap $cap
  limit 1 per member per day""",
    """rule weekday_lunch
  when hour in 12..14 and weekday in {mon, tue, wed, thu, fri} and mcc = 5812
   and amount >= $amt
  then cashback 3% into cashback""",
    """rule big_spender
  when amount >= $big
  then earn $pts points into points""",
    """rule huge_basket
  when amount >= 500.00
  then cashback 10.00 into cashback
  limit 2 per member per month""",
    """rule app_bonus
  when channel = app
  then earn 50 points into points
  limit 1 per member per day""",
    """rule ecom_discount
  when channel = ecom and amount in 50.00..300.00
  then discount 5% cap 10.00
  budget 50000.00""",
    """rule grocery_credit
  when basket.amount(category in groceries) >= 20.00
  then cashback 2% of basket.amount(category in groceries) into credit""",
    """rule fuel_points
  when basket.has(category in fuel) and mcc in {5541, 5542}
  then earn 2 points per 1.00 of basket.amount(category in fuel) into points""",
    """rule electronics_cashback
  when basket.amount(category in electronics) >= 200.00 and tier >= silver
  then cashback $pct of basket.amount(category in electronics) cap 50.00 into cashback""",
    """rule sku_promo
  when basket.has(sku in {"COF-001", "COF-002", "TEA-001"})
  then discount 0.50
  limit 1 per member per day
  funded_by partner roaster 100%""",
    """rule holiday_entries
  active 2026-12-20 .. 2026-12-31
  when amount >= 30.00
  then entries $ent into draw winter_draw""",
    """rule christmas_week
  when date in 2026-12-20..2026-12-31 and tier >= silver
  then earn $pts points into points
  limit 1 per member per day""",
    """rule new_year_eve
  active 2026-12-31T18:00 .. 2027-01-01T06:00
  when mcc in {5812, 5813}
  then cashback 5% into cashback and entries 1 into draw new_year_draw""",
    """rule vip_boost
  when "vip" in member.segments
  then earn 1 points per 1.00 into points""",
    """rule student_books
  when "student" in member.segments and mcc in {5942, 5943}
  then discount 10% cap 5.00""",
    """rule novi_sad_grocery
  when member.attr.city = "Novi Sad" and mcc = 5411
  then cashback $small_pct into cashback""",
    """rule senior_days
  when member.attr.age >= 65 and weekday in {tue, wed}
  then discount 5% cap $cap""",
    """rule young_app
  when member.attr.age in 18..25 and channel = app
  then earn 30 points into points
  limit 1 per member per week""",
    """rule winback
  when member.days_since_last >= 120 and member.txn_count > 0
  then earn 300 points into points
  limit 1 per member per month""",
    """rule loyal_year
  when member.days_enrolled >= 730 and amount >= $big
  then earn 25 points into points
  limit 1 per member per week""",
    """rule points_rich_draw
  when balance(points) >= 1000 and channel = app
  then entries 1 into draw winter_draw
  limit 1 per member per day""",
    """rule low_month_nudge
  when member.spend_30d < 50.00 and amount >= 25.00
  then earn 50 points into points
  limit 1 per member per week""",
    """rule high_value_tag
  when member.spend_12m >= 5000.00
  then tag "high_value"
  limit 1 per member ever""",
    """rule monday_coffee
  when (mcc in {5812, 5814} or basket.has(category in hot_drinks)) and weekday = mon
  then earn 20 points into points""",
    """rule bronze_online
  when not (channel = pos) and amount >= 15.00 and tier = bronze
  then earn 10 points into points""",
    """rule cross_border
  when country != "RS"
  then earn 1 points per 2.00 into points""",
    """rule foreign_currency
  when currency != "EUR" and amount >= 10.00
  then cashback 1% cap 2.00 into cashback""",
    """rule family_pharmacy
  when mcc = 5912 and "family" in member.segments
  then cashback 3% into cashback""",
    """rule fashion_weekend
  when mcc in {5651, 5691, 5661} and weekday in {fri, sat} and amount >= 40.00
  then discount 10% cap $big_cap
  funded_by merchant 50%, program 50%""",
    """rule dinner_points
  when mcc = 5812 and hour in 18..22 and amount >= 25.00
  then earn 3 points per 1.00 into points
  group dining exclusive""",
    """rule gold_dining
  priority 20
  when mcc in {5812, 5813} and tier = gold
  then earn 5 points per 1.00 into points
  group dining exclusive""",
    """rule night_owl
  when hour in 0..4
  then earn 10 points into points""",
    """rule happy_half_hour
  when hour = 17 and minute in 0..29 and mcc = 5813
  then discount 15% cap 4.00""",
    """rule partner_points
  when merchant in cashback_partners
  then earn $mult points per 1.00 into points""",
    """rule breakfast_combo
  when basket.has(category = "pastry") and basket.has(category in hot_drinks)
  then discount 0.50""",
    """rule produce_week
  when basket.qty(category = "produce") >= 5
  then earn 25 points into points""",
    """rule premium_item
  when basket.has(unit_price >= 500.00)
  then earn 500 points into points
  limit 1 per member per month""",
    """rule laptop_bundle
  when basket.has(category in electronics and unit_price >= 300.00)
   and basket.has(category = "accessories")
  then discount 5% of basket.amount(category = "accessories") cap 20.00""",
    """rule giftcard_bonus
  when mcc = 5311 and amount >= 50.00
  then cashback 2.50 into giftcard""",
    """rule december_multiplier
  active 2026-12-01 .. 2026-12-24
  when tier >= silver and amount >= 20.00
  then earn 1 points per 1.00 into points
  budget 200000 uses""",
    """rule january_sale
  active 2027-01-02 .. 2027-01-15
  when mcc in {5651, 5691, 5661, 5732}
  then cashback 4% cap 20.00 into cashback
  budget 20000.00""",
    """rule review_large
  priority 200
  when amount >= 5000.00
  then tag "review"
  stop""",
    """rule app_draw
  when channel = app and amount >= 20.00
  then entries 1 into draw winter_draw
  limit $lim per member per week""",
    """rule commuter_transit
  when "commuter" in member.segments and mcc in {4111, 4121}
  then cashback 5% into cashback""",
    """rule coffee_lover_tag
  when basket.qty(category in hot_drinks) >= 5
  then tag "coffee_lover"
  limit 1 per member ever""",
    """rule coffee_lover_reward
  when "coffee_lover" in member.segments and basket.has(category in hot_drinks)
  then discount 5% of basket.amount(category in hot_drinks) cap 2.00""",
    """rule grocery_cap
  when mcc = 5411 and amount >= 50.00
  then cashback 2% into cashback
  limit 10.00 value per member per month""",
    """rule sunday_fuel
  when weekday = sun and mcc in {5541, 5542}
  then discount 3% cap 3.00
  funded_by merchant 50%, program 50%""",
    """rule newcomer_month
  when member.days_enrolled <= 30 and amount >= 10.00
  then earn 100 points into points
  limit 1 per member per week""",
    """rule gold_weekend
  when tier = gold and weekday in {sat, sun} and channel != ecom
  then cashback 2% cap 5.00 into cashback""",
    """rule bronze_nudge
  when tier = bronze and member.spend_12m in 400.00..499.99
  then earn 100 points into points
  limit 1 per member per month""",
    """rule non_vip_draw
  when amount >= 50.00 and not ("vip" in member.segments) and mcc not in {5541, 5542}
   and channel != pos
  then entries 1 into draw new_year_draw
  limit 1 per member per week""",
    """rule weekend_double
  when weekday in {sat, sun} and amount >= $amt and tier != bronze
  then earn 1 points per 1.00 into points""",
)
assert len(_CORE_TEMPLATES) == CORE_RULES


def _core_rules(rng: random.Random, count: int) -> list[str]:
    """The first ``count`` general rules, with seed-drawn thresholds and rates."""
    out = []
    for template in _CORE_TEMPLATES[:count]:
        values = {key: rng.choice(options) for key, options in _CORE_CHOICES.items()}
        out.append(Template(template).substitute(values) + "\n")
    return out


class _OfferMaker:
    """Writes targeted offers: an anchor, 0-3 extra conditions, effects and modifiers.

    The anchor (a merchant, terminal, card BIN, merchant group or small MCC set) is always
    a top-level conjunct, which is what lets the engine index the offer by it.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.world = universe()
        self.group_offers = 0
        self.mcc_offers = 0

    def rule(self, number: int) -> str:
        rng = self.rng
        conds = [self._anchor()]
        broad = conds[0].startswith(("mcc", "card_bin"))
        extra = rng.choice(_EXTRA_COUNTS)
        if broad:
            extra = max(extra, 2)  # broad anchors carry more conditions, like real campaigns
        kinds = dict.fromkeys(rng.sample(_EXTRA_KINDS, extra))  # "amount" may come twice
        conds.extend(self._extra(kind) for kind in kinds)
        lines = [f"rule offer_{number:06d}"]
        if rng.random() < 0.2:
            lines.append(f"  priority {rng.choice((1, 5, 10, 15, 30))}")
        if conds[0].startswith("mcc"):
            lines.append(f"  active {self._short_window()}")
        elif rng.random() < 0.9:
            lines.append(f"  active {self._window()}")
        lines.append("  when " + "\n   and ".join(conds))
        lines.append("  then " + "\n   and ".join(self._effects()))
        lines.extend(self._modifiers(conds[0], number))
        return "\n".join(lines) + "\n"

    # -- anchors
    def _anchor(self) -> str:
        """Pick what the offer is about; capped kinds fall back to a single merchant."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            if self.group_offers < _MAX_GROUP_OFFERS:
                self.group_offers += 1
                return f"merchant in {rng.choice(self.world.groups)[0]}"
        elif roll < 0.08:
            if self.mcc_offers < _MAX_MCC_OFFERS:
                self.mcc_offers += 1
                mccs = rng.choice(_KIND_MCCS)
                return "mcc in {" + ", ".join(str(m) for m in mccs) + "}"
        elif roll < 0.12:
            return f'card_bin = "{rng.choice(self.world.bins)}"'
        elif roll < 0.20:
            merchant = self.world.merchants[rng.randrange(OFFER_MERCHANTS)]
            return f'terminal = "{rng.choice(merchant.terminals)}"'
        elif roll >= 0.80:
            return self._merchant_set()
        return f'merchant = "M{rng.randrange(OFFER_MERCHANTS):06d}"'

    def _merchant_set(self) -> str:
        """A small chain: 2-4 merchants of one kind, as a franchise's offer would name."""
        rng = self.rng
        pool = self.world.offer_by_kind[rng.choice(("cafe", "grocery", "restaurant", "fashion"))]
        picks = sorted({pool[rng.randrange(len(pool))] for _ in range(rng.randint(2, 4))})
        return f"merchant in {_quoted(f'M{i:06d}' for i in picks)}"

    # -- extra conditions
    def _extra(self, kind: str) -> str:
        rng = self.rng
        if kind == "amount":
            return f"amount >= {money(rng.choice((500, 1_000, 1_500, 2_000, 3_000, 5_000)))}"
        if kind == "weekday":
            return f"weekday in {_weekday_set(rng, 2, 5)}"
        if kind == "hour":
            start = rng.randint(6, 18)
            return f"hour in {start}..{min(23, start + rng.randint(2, 6))}"
        if kind == "channel":
            return rng.choice(("channel = pos", "channel = app", "channel in {app, ecom}"))
        if kind == "tier":
            return rng.choice(("tier >= silver", "tier = gold", "tier = bronze"))
        if kind == "country":
            return rng.choice(('country = "RS"', 'country != "RS"'))
        if kind == "segment":
            return f'"{rng.choice(_SEGMENTS)}" in member.segments'
        if kind == "basket":
            return rng.choice((
                "basket.qty(category in hot_drinks) >= 2",
                "basket.amount(category in groceries) >= 20.00",
                "basket.has(category in electronics)",
            ))
        return f"(channel = app or amount >= {money(rng.choice((2_000, 4_000)))})"

    # -- effects and modifiers
    def _effects(self) -> list[str]:
        rng = self.rng
        effects = [self._effect()]
        if rng.random() < 0.15:
            effects.append(rng.choice((
                "entries 1 into draw winter_draw", "tag \"offer_responder\"",
                f"earn {rng.choice((50, 100, 250))} points into points",
            )))
        return effects

    def _effect(self) -> str:
        rng = self.rng
        roll = rng.random()
        pct = rng.choice(("2%", "3%", "5%", "7.5%", "10%", "15%"))
        cap = money(rng.choice((200, 300, 500, 1_000, 2_000)))
        if roll < 0.30:
            return f"discount {pct} cap {cap}"
        if roll < 0.38:
            return f"discount {money(rng.choice((50, 100, 200)))}"
        if roll < 0.62:
            return f"cashback {pct} cap {cap} into cashback"
        if roll < 0.68:
            return f"cashback {money(rng.choice((100, 200, 500)))} into giftcard"
        if roll < 0.88:
            return f"earn {rng.choice((1, 2, 3, 5))} points per 1.00 into points"
        return f"earn {rng.choice((50, 100, 200, 500))} points into points"

    def _modifiers(self, anchor: str, number: int) -> list[str]:
        rng = self.rng
        out = []
        if rng.random() < 0.5:
            period = rng.choice(("day", "week", "month", "ever"))
            out.append(f"  limit {rng.choice((1, 2, 3, 5))} per member per {period}")
        roll = rng.random()
        if roll < 0.15:
            out.append(f"  budget {money(rng.choice((50_000, 100_000, 500_000)))}")
        elif roll < 0.30:
            out.append(f"  budget {rng.choice((100, 500, 1_000, 5_000))} uses")
        if anchor.startswith(("merchant", "terminal")) and rng.random() < 0.7:
            out.append(f"  funded_by {rng.choice(_MERCHANT_FUNDING)}")
        elif anchor.startswith("card_bin"):
            out.append(f"  funded_by partner bank_{number % 7} 60%, program 40%")
        if rng.random() < 0.1:
            out.append(f"  group offers_{number % 97} exclusive")
        if rng.random() < 0.005:
            out.append("  stop")
        return out

    def _window(self) -> str:
        """Mostly live in Dec 2026-Jan 2027, but a good share lie outside: inactive offers."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.25:
            start, days = WINDOW_START_DATE, 61
        elif roll < 0.60:
            start = WINDOW_START_DATE + dt.timedelta(days=rng.randrange(55))
            days = rng.randint(3, 40)
        elif roll < 0.75:
            start = WINDOW_START_DATE + dt.timedelta(days=rng.randrange(-45, 50))
            days = rng.randint(30, 60)
        elif roll < 0.88:
            start = dt.date(2026, 9, 1) + dt.timedelta(days=rng.randrange(70))
            days = rng.randint(7, 20)
        else:
            start = dt.date(2027, 2, 1) + dt.timedelta(days=rng.randrange(90))
            days = rng.randint(7, 45)
        return _window_text(start, days)

    def _short_window(self) -> str:
        """A category campaign: one to two weeks somewhere in Dec 2026-Jan 2027."""
        start = WINDOW_START_DATE + dt.timedelta(days=self.rng.randrange(55))
        return _window_text(start, self.rng.randint(3, 14))


def _window_text(start: dt.date, days: int) -> str:
    end = start + dt.timedelta(days=days - 1)
    return f"{start.isoformat()} .. {end.isoformat()}"


_KIND_MCCS = tuple(mccs for mccs, _cats, _lines, _weight in _KINDS.values())
_EXTRA_COUNTS = (0, 1, 1, 1, 2, 2, 2, 3, 3)  # extra conditions on an offer, besides its anchor
_MERCHANT_FUNDING = ("merchant 100%", "merchant 70%, program 30%", "merchant 50%, program 50%")
_EXTRA_KINDS = (
    "amount", "amount", "weekday", "hour", "channel", "tier", "country", "segment", "basket",
    "either",
)


# ---- members -------------------------------------------------------------------------------


def member_id(index: int) -> str:
    """The id of pool member ``index``; transactions and member states agree on it."""
    return f"m-{index:06d}"


def generate_members(n: int = MEMBER_POOL, seed: int = 13) -> list[MemberState]:
    """Member states for pool members ``0 .. n-1``, as the wallet store would hold them.

    Tiers follow the programme's thresholds on ``spend_12m`` so that a tier the engine
    recomputes agrees with the one stored; a few members are brand new (``txn_count = 0``)
    so the welcome rule has someone to greet.
    """
    rng = random.Random(seed)
    return [_member(rng, i) for i in range(n)]


def _member(rng: random.Random, index: int) -> MemberState:
    new = rng.random() < 0.03
    low, high = rng.choices(_SPEND_BANDS, _SPEND_BAND_WEIGHTS)[0]
    spend_12m = 0 if new else rng.randint(low, high)
    txn_count = 0 if new else rng.randint(1, 400)
    lapsed = rng.random() < 0.1
    since = rng.randint(90, 300) if lapsed else rng.randint(0, 20)
    last = None if new else WINDOW_START - since * _DAY - rng.randrange(_DAY)
    enrolled = (last or WINDOW_START) - rng.randint(0 if new else 7, 30 if new else 5 * 365) * _DAY
    segments = frozenset(s for s in _SEGMENTS if rng.random() < 0.12)
    return MemberState(
        member=member_id(index),
        tier=next(name for name, floor in _TIER_THRESHOLDS if spend_12m >= floor),
        segments=segments,
        txn_count=txn_count,
        spend_30d=0 if new else min(spend_12m, rng.randint(0, 40_000)),
        spend_12m=spend_12m,
        last_purchase=last,
        enrolled=enrolled,
        attrs={"city": rng.choice(_CITIES), "age": rng.randint(18, 85)},
        balances=_balances(rng, new),
        entries={"winter_draw": rng.randint(0, 5)} if rng.random() < 0.2 else {},
    )


def _balances(rng: random.Random, new: bool) -> dict[str, int]:
    """Spendable balances of every wallet the programme declares (points, then cents)."""
    if new:
        return {"points": 0, "cashback": 0, "credit": 0, "giftcard": 0}
    return {
        "points": rng.randint(0, 5_000),
        "cashback": rng.randint(0, 2_000),
        "credit": rng.randint(0, 1_000),
        "giftcard": rng.choice((0, 0, 0, 2_000, 5_000)),
    }


def members_by_id(members: Iterable[MemberState]) -> dict[str, MemberState]:
    """Index member states by id, for :func:`member_for`."""
    return {m.member: m for m in members}


def member_for(txn: Transaction, members: Mapping[str, MemberState]) -> MemberState:
    """The state of ``txn``'s member; an unknown member starts empty, as the spec says."""
    state = members.get(txn.member)
    return state if state is not None else MemberState(member=txn.member)


# ---- transactions --------------------------------------------------------------------------


def generate_transactions(
    n: int, seed: int = 11, member_pool: int = MEMBER_POOL
) -> list[Transaction]:
    """``n`` realistic transactions in time order over Dec 2026-Jan 2027.

    Merchants are drawn from the shared universe with busy stores weighted up, baskets fit
    the merchant's kind, and members come from the first ``member_pool`` ids (some far more
    active than others), matching :func:`generate_members`.  About 7% ask to redeem.
    """
    if member_pool <= 0:
        raise ValueError("the member pool must not be empty")
    rng = random.Random(seed)
    world = universe()
    picks = rng.choices(range(len(world.merchants)), cum_weights=world.traffic, k=n)
    times = sorted(_moment(rng) for _ in range(n))
    return [
        _transaction(rng, world, f"t-{seed}-{i:07d}", times[i], world.merchants[m], member_pool)
        for i, m in enumerate(picks)
    ]


def _moment(rng: random.Random) -> int:
    """A purchase time: busier at weekends and before Christmas, and at meal and rush hours."""
    while True:
        day = rng.randrange((WINDOW_END_DATE - WINDOW_START_DATE).days + 1)
        date = WINDOW_START_DATE + dt.timedelta(days=day)
        busy = 3 if date.weekday() >= 5 else 2
        busy += 2 if dt.date(2026, 12, 15) <= date <= dt.date(2026, 12, 24) else 0
        if rng.randrange(5) < busy:
            break
    hour = rng.choice(_HOURS)  # local; WINDOW_START is local midnight as epoch UTC
    return WINDOW_START + day * _DAY + hour * 3_600 + rng.randrange(3_600)


def _table(weighted: Iterable[tuple[object, int]]) -> tuple:
    """Expand (value, weight) pairs so that ``rng.choice`` draws by weight, cheaply."""
    return tuple(value for value, weight in weighted for _ in range(weight))


_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 3, 8, 10, 8, 6, 7, 10, 9, 6, 6, 8, 10, 10, 9, 7, 5, 3, 2)
_HOURS = _table(enumerate(_HOUR_WEIGHTS))  # peaks at breakfast, lunch and after work
_QTYS = _table(((1, 60), (2, 20), (3, 10), (4, 6), (5, 4)))
_CHANNELS = _table((("pos", 75), ("ecom", 12), ("app", 13)))


def _transaction(
    rng: random.Random, world: Universe, txn_id: str, time: int, merchant: Merchant, pool: int
) -> Transaction:
    member_index = min(pool - 1, int(pool * rng.random() ** 1.6))  # heavy users dominate
    card_slot = rng.randrange(2)
    basket = _basket(rng, world, merchant.kind)
    amount = sum(line.amount for line in basket)
    channel = _channel(rng, merchant.kind)
    return Transaction(
        txn_id=txn_id,
        time=time,
        amount=amount,
        member=member_id(member_index),
        currency=_currency(rng, merchant.country),
        merchant=merchant.id,
        terminal=rng.choice(merchant.terminals),
        mcc=merchant.mcc,
        channel=channel,
        country=merchant.country,
        card=f"c-{member_index:06d}-{card_slot}",
        card_bin=world.bins[(member_index * 7_919 + card_slot * 104_729) % len(world.bins)],
        basket=basket,
        redeem=_redeem(rng, amount) if rng.random() < 0.07 else None,
    )


def _basket(rng: random.Random, world: Universe, kind: str) -> tuple[BasketLine, ...]:
    """1-10 lines of distinct SKUs from the categories the merchant sells; qty 1-5."""
    _mccs, categories, (low, high), _weight = _KINDS[kind]
    lines: dict[str, BasketLine] = {}
    for _ in range(rng.randint(low, high)):
        category = rng.choice(categories)
        sku, price = rng.choice(world.skus[category])
        qty = rng.choice(_QTYS)
        lines.setdefault(sku, BasketLine(sku, category, qty, price))
    return tuple(lines.values())


def _channel(rng: random.Random, kind: str) -> str:
    if kind == "online":
        return rng.choice(("ecom", "ecom", "app"))
    return rng.choice(_CHANNELS)


def _currency(rng: random.Random, country: str) -> str:
    """Mostly EUR; domestic shops sometimes settle in RSD, cross-border ones in USD."""
    roll = rng.random()
    if country == "RS":
        return "RSD" if roll < 0.06 else "EUR"
    return "USD" if roll < 0.15 else "EUR"


def _redeem(rng: random.Random, amount: int) -> Redeem:
    """A redemption request: a fixed value, some points, or as much as the wallet allows."""
    roll = rng.random()
    if roll < 0.4:
        return Redeem("points", points=rng.choice((100, 200, 500, 1_000)) if roll < 0.3 else None)
    if roll < 0.65:
        return Redeem("cashback", amount=min(amount, rng.choice((100, 200, 500))))
    if roll < 0.85:
        return Redeem("giftcard")
    return Redeem("credit", amount=min(amount, rng.choice((200, 500))))
