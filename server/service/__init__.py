"""The gRPC service: authorisation for switches, members, rules management (docs/service.md)."""

from .app import Service, create_server, redis_client
from .config import MARKETER, SWITCH, Principal, ServiceConfig

__all__ = [
    "MARKETER",
    "SWITCH",
    "Principal",
    "Service",
    "ServiceConfig",
    "create_server",
    "redis_client",
]
