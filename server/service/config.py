"""What a server is configured with: tokens and roles, limits, TLS, Redis, metrics."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from tessera.engine.errors import TesseraError
from tessera.server.wallets.store import (
    BUDGET_ESTIMATE_SECONDS,
    DAY,
    HOLD_SECONDS,
    RECORD_RETENTION,
)

SWITCH, MARKETER = "switch", "marketer"


class ConfigError(TesseraError):
    """A configuration that cannot be used (bad tokens file, TLS files missing)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a bearer token stands for and what it may call."""

    name: str
    roles: frozenset[str]


@dataclass(slots=True)
class ServiceConfig:
    """Settings of one server process (every worker gets the same)."""

    tokens: dict[str, Principal] = field(default_factory=dict)
    namespace: str = ""
    max_message_bytes: int = 1 << 20  # requests (and rules uploads) above this are refused
    # The least time a call must have left to write (the moving estimate of the write's
    # latency decides above it): less, and it is DEADLINE_EXCEEDED with nothing written.
    min_write_seconds: float = 0.0005
    redis_timeout: float = 0.25  # a Redis call that takes longer counts as unreachable
    auto_enrol: bool = True  # a card nobody holds enrols a member on its first purchase
    threads: int = 16
    metrics_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None  # require client certificates signed by this CA
    erase_secret: bytes = b""
    poll_seconds: float = 1.0  # how often each process reads the active version anyway
    # How often the wallet store's housekeeping runs (release holds past their time,
    # reconcile budget reservations, drop records past retention); 0 turns it off.
    housekeeping_seconds: float = 60.0
    # How long an authorisation holds until housekeeping releases it uncaptured; it must
    # end before the authorisation's record is dropped (400 days), or a late capture could
    # not find it.
    hold_seconds: int = HOLD_SECONDS
    # How old a budget figure a decision may take instead of reading it (0: always read).
    budget_estimate_seconds: float = BUDGET_ESTIMATE_SECONDS

    def __post_init__(self) -> None:
        size = self.max_message_bytes
        if type(size) is not int or not 1 << 10 <= size <= 1 << 26:
            raise ConfigError(f"max_message_bytes: {size!r} is not between 1 KiB and 64 MiB")
        if type(self.hold_seconds) is not int or not 0 < self.hold_seconds < RECORD_RETENTION:
            raise ConfigError(
                f"hold_seconds: {self.hold_seconds!r} is not a whole number of seconds"
                f" above 0 and below {RECORD_RETENTION // DAY} days"
            )
        if not 0 <= self.budget_estimate_seconds <= 60:
            raise ConfigError(
                f"budget_estimate_seconds: {self.budget_estimate_seconds!r} is not between"
                " 0 and 60"
            )


def load_tokens(source: str | Mapping[str, object]) -> dict[str, Principal]:
    """Tokens from JSON: ``{"TOKEN": {"name": "acme-switch", "roles": ["switch"]}}``."""
    data = orjson.loads(source) if isinstance(source, str) else source
    if not isinstance(data, dict):
        raise ConfigError("tokens: expected a JSON object of token -> {name, roles}")
    out = {}
    for token, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("roles"), list):
            raise ConfigError(f"tokens: {spec!r} needs a name and a list of roles")
        out[str(token)] = Principal(str(spec.get("name", "")), frozenset(spec["roles"]))
    return out


def tokens_from_file(path: str) -> dict[str, Principal]:
    try:
        with open(path, "rb") as handle:
            return load_tokens(handle.read().decode())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"tokens file {path}: {exc}") from None


def development_tokens(path: str) -> dict[str, Principal]:
    """Tokens for a server started with none configured: made once, kept in ``path`` (0600)."""
    if os.path.exists(path):
        return tokens_from_file(path)
    data = {
        secrets.token_urlsafe(24): {"name": "local-switch", "roles": [SWITCH]},
        secrets.token_urlsafe(24): {"name": "local-marketer", "roles": [MARKETER]},
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return load_tokens(data)
