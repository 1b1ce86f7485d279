"""The gRPC service: authorisation for switches, members, rules management (docs/service.md)."""

from .app import Service, create_server
from .config import MARKETER, SWITCH, Principal, ServiceConfig
from .redis_client import redis_client

__all__ = [
    "MARKETER",
    "SWITCH",
    "Principal",
    "Service",
    "ServiceConfig",
    "create_server",
    "redis_client",
]
