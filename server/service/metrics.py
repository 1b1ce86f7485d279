"""Prometheus metrics of one server process, in a registry of its own.

A registry per server (not the global one) lets tests run several servers in one process;
``tessera serve`` exposes it on an HTTP port (each worker on its own: port + worker index).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric

LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tessera_requests", "gRPC calls by method and status code", ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tessera_request_seconds", "gRPC call latency by method", ["method"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.decisions = RuleDecisions()
        self.registry.register(self.decisions)
        self.redis_errors = Counter(
            "tessera_redis_errors", "calls that could not reach Redis", registry=self.registry
        )
        self.stand_in = Counter(
            "tessera_stand_in", "authorisations answered in stand-in", registry=self.registry
        )
        self.programme = Gauge(
            "tessera_programme", "the programme version this process decides with (1)",
            ["version"], registry=self.registry,
        )

    def active(self, version: str) -> None:
        """The process now decides with ``version`` (called on every swap)."""
        self.programme.clear()
        self.programme.labels(version).set(1)

    def children(self, method: str) -> tuple[Callable[[str], Any], Any]:
        """A method's request counter by code (children looked up once each) and its
        latency histogram child: what a call updates, without a ``labels`` lookup."""
        counters: dict[str, Any] = {}
        requests = self.requests

        def count(code: str) -> Any:
            child = counters.get(code)
            if child is None:
                child = counters[code] = requests.labels(method, code)
            return child

        return count, self.latency.labels(method)

    def decided(self, rules: Iterable[str]) -> None:
        """One authorisation applied ``rules``."""
        self.decisions.add(rules)

    def observe(self, method: str, code: str, seconds: float) -> None:
        self.requests.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)

    def serve(self, port: int, addr: str = "0.0.0.0") -> object:
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server


class RuleDecisions:
    """``tessera_decisions_total{rule}``: how many authorisations applied each rule.

    Counted on every authorisation's path, so kept as plain counts (``Counter.update``
    counts in C under the GIL: no lock, no increment lost between threads) and turned into
    a metric only when scraped.  A labelled prometheus counter's child costs a lock and
    several Python calls an increment, some 9k instructions: more than the walk spends on
    a rule."""

    NAME = "tessera_decisions"
    HELP = "applied rules in authorisations"
    # Rules come and go with programme versions: past this many names the counts start
    # again (a counter reset, which Prometheus's rate() takes in its stride).
    MAX_RULES = 100_000

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()

    def add(self, rules: Iterable[str]) -> None:
        counts = self._counts
        if len(counts) > self.MAX_RULES:
            counts.clear()
        counts.update(rules)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for rule, count in list(self._counts.items()):
            family.add_metric([rule], count)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.NAME, self.HELP, labels=["rule"])
