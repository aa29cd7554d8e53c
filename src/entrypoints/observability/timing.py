"""Instrumentation at the adapter boundary, chosen by the container when metrics are on:
``TimedRepository`` times every storage call, ``MeteredRateLimiter`` counts refusals."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from chat_server.application.ports import RateKind, RateLimiter
from chat_server.domain.model import UserRef
from chat_server.entrypoints.observability.metrics import ServiceMetrics


class TimedRepository:
    """A storage adapter seen through a proxy that times its coroutine methods.

    Every attribute is the adapter's; a coroutine method is wrapped once, on first use,
    and kept on the proxy, so later calls cost one extra frame and two clock reads. The
    labels are the repository's name in the container and the method name: code, never
    data. A call that raises counts in ``chat_storage_errors_total`` by exception class.
    """

    def __init__(self, inner: object, name: str, metrics: ServiceMetrics) -> None:
        self._inner = inner
        self._name = name
        self._metrics = metrics

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if attr.startswith("_") or not inspect.iscoroutinefunction(value):
            return value
        timed = self._timed(attr, value)
        setattr(self, attr, timed)  # found without __getattr__ from now on
        return timed

    def _timed(self, method: str, call: Callable[..., Coroutine[Any, Any, Any]]
               ) -> Callable[..., Coroutine[Any, Any, Any]]:
        labels = (self._name, method)
        observe = self._metrics.storage_seconds.observe
        errors = self._metrics.storage_errors
        clock = time.perf_counter

        @functools.wraps(call)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                errors.inc((*labels, type(exc).__name__))
                raise
            finally:
                observe(labels, clock() - started)

        return timed

    def __repr__(self) -> str:
        return f"TimedRepository({self._inner!r})"


class MeteredRateLimiter:
    """The rate limiter, counting the requests it refuses by bucket kind."""

    def __init__(self, inner: RateLimiter, metrics: ServiceMetrics) -> None:
        self._inner = inner
        self._refused = metrics.rate_limited
        self._labels = {kind: (kind.value,) for kind in RateKind}

    async def acquire(self, user: UserRef, kind: RateKind) -> bool:
        allowed = await self._inner.acquire(user, kind)
        if not allowed:
            self._refused.inc(self._labels[kind])
        return allowed

    async def acquire_each(self, user: UserRef, kinds: tuple[RateKind, ...]) -> RateKind | None:
        refused = await self._inner.acquire_each(user, kinds)
        if refused is not None:
            self._refused.inc(self._labels[refused])
        return refused

    async def charge(self, user: UserRef, kind: RateKind, tokens: int) -> None:
        await self._inner.charge(user, kind, tokens)


def metered_limiter(limiter: RateLimiter, metrics: ServiceMetrics | None) -> RateLimiter:
    return limiter if metrics is None else MeteredRateLimiter(limiter, metrics)


if TYPE_CHECKING:  # mypy proves here that the metered limiter is a rate limiter
    def _conforms(limiter: RateLimiter, metrics: ServiceMetrics) -> None:
        checked: RateLimiter = MeteredRateLimiter(limiter, metrics)
        del checked
