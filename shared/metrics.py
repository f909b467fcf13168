"""Prometheus metrics for the gateway and the cloud, read from their live counters at scrape time.

Each service builds its own CollectorRegistry (no library-global registry), with one collector
that turns the service's own stats into metric families when /metrics is scraped, so there is no
second set of counters to keep in step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Reading:
    name: str
    help: str
    kind: str  # counter | gauge
    value: Callable[[], float]


class Readings(Collector):
    def __init__(self, readings: Iterable[Reading]) -> None:
        self.readings = tuple(readings)

    def collect(self) -> Iterator[Metric]:
        for r in self.readings:
            family = (CounterMetricFamily if r.kind == "counter" else GaugeMetricFamily)(r.name, r.help)
            family.add_metric([], float(r.value()))
            yield family


def registry(readings: Iterable[Reading]) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=True)
    reg.register(Readings(readings))
    return reg


def handler(reg: CollectorRegistry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(reg), headers={"Content-Type": CONTENT_TYPE})

    return metrics
