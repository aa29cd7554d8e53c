"""Counters and histograms cheap enough for the message path, exported by prometheus-client.

prometheus-client's own ``Counter`` and ``Histogram`` take a lock per update (about 1 and
2 µs on the benchmark machine); these are a dictionary update and a ``bisect``. They are
updated and read on the event loop only (the service is one asyncio thread; a scrape runs
on the loop too), so they need no lock. Label values are bounded by whoever observes:
every caller passes values from a fixed set (event names known to the routes, status codes
of the error table, repository method names), never a user id, chat id or token.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0)


class LabeledCounter:
    """A counter family: ``inc(labels)`` adds one to the child with these label values."""

    __slots__ = ("_help", "_labels", "_name", "values")

    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        self._name = name
        self._help = help_text
        self._labels = tuple(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        values = self.values
        values[labels] = values.get(labels, 0.0) + amount

    def collect(self) -> Metric:
        family = CounterMetricFamily(self._name, self._help, labels=self._labels)
        for labels, value in sorted(self.values.items()):
            family.add_metric(labels, value)
        return family


class _Series:
    __slots__ = ("buckets", "count", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size  # per bucket, not cumulative; the last one is +Inf
        self.count = 0
        self.total = 0.0


class LabeledHistogram:
    """A histogram family of durations in seconds."""

    __slots__ = ("_bounds", "_help", "_labels", "_name", "series")

    def __init__(self, name: str, help_text: str, labels: Sequence[str],
                 buckets: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        self._name = name
        self._help = help_text
        self._labels = tuple(labels)
        self._bounds = tuple(sorted(buckets))
        self.series: dict[tuple[str, ...], _Series] = {}

    def observe(self, labels: tuple[str, ...], seconds: float) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = _Series(len(self._bounds) + 1)
        # bisect_left: a value equal to a bound falls in that bound's bucket (le is <=).
        series.buckets[bisect.bisect_left(self._bounds, seconds)] += 1
        series.count += 1
        series.total += seconds

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self._name, self._help, labels=self._labels)
        for labels, series in sorted(self.series.items()):
            cumulative, running = [], 0
            for bound, count in zip((*self._bounds, float("inf")), series.buckets, strict=True):
                running += count
                cumulative.append((_bound(bound), running))
            family.add_metric(labels, cumulative, sum_value=series.total)
        return family


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)
