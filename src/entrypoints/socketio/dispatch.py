"""One dispatch path for every client event: rate limit, route, parse, run, answer.

Domain errors become status codes in one table (``ERRORS``); anything else is logged once
and answered with a 500 without internals. ``Dispatcher.answer`` is the one place where the
rule "the socket that asks learns the outcome exactly once" (PROTOCOL.md section 4) is
decided, from the events the use case actually produced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

from chat_server.application.bus import EventPublisher
from chat_server.application.events import Event, Outcome
from chat_server.application.ports import RateKind, RateLimiter
from chat_server.domain.errors import InvalidInput
from chat_server.entrypoints.errors import DOMAIN_ERRORS, INVALID, domain_field_errors, lookup
from chat_server.entrypoints.socketio import payloads, wire
from chat_server.entrypoints.socketio.connection import Connection
from chat_server.entrypoints.socketio.notifier import Asker, reaches
from chat_server.entrypoints.socketio.routes import ReplyKind, Route
from chat_server.entrypoints.socketio.server import ChatSocketServer

logger = logging.getLogger("chat_server.gateway")

RATE_LIMITED_NOTICE_S = 1.0
REQUEST_COST_BYTES = 16_384


class RateLimited(Exception):
    pass


class UnknownEvent(Exception):
    pass


ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    payloads.PayloadError: INVALID,
    UnknownEvent: (400, "Unknown event"),
    RateLimited: (429, "Too many requests"),
    **DOMAIN_ERRORS,
}


def field_errors(exc: Exception) -> list[dict[str, str]] | None:
    if isinstance(exc, payloads.PayloadError):
        return exc.errors
    if isinstance(exc, InvalidInput):
        return domain_field_errors(exc)
    if isinstance(exc, UnknownEvent):
        return [{"field": "event", "message": f"{str(exc)[:100]!r} is not an event of this namespace"}]
    return None


def status_of(exc: Exception) -> tuple[int, str]:
    return lookup(ERRORS, exc)


class EventObserver(Protocol):
    """Told of every event answered (metrics, the debug log): ``event`` is the name of a
    route, or ``unknown``; ``seconds`` from dispatching it to answering it."""

    def event_answered(self, conn: Connection, event: str, status: int, seconds: float
                       ) -> None: ...


class Dispatcher:
    def __init__(
        self, sio: ChatSocketServer, routes: Mapping[str, Mapping[str, Route]],
        limiter: RateLimiter, publisher: EventPublisher,
        request_cost_bytes: int = REQUEST_COST_BYTES,
        observers: Sequence[EventObserver] = (),
    ) -> None:
        self._sio = sio
        self._routes = routes
        self._limiter = limiter
        self._publisher = publisher
        self._cost_bytes = request_cost_bytes
        self._observers = tuple(observers)

    async def handle(self, conn: Connection, ack_id: int | None, name: str, args: list[Any]
                     ) -> None:
        caller = conn.caller
        started, status = time.perf_counter(), 200
        try:
            route = self._routes[conn.namespace].get(name)
            if route is None:
                if not await self._limiter.acquire(conn.user, RateKind.REQUEST):
                    raise RateLimited()
                raise UnknownEvent(name)
            # The request bucket, then the route's own: one step (one Redis round trip).
            if await self._limiter.acquire_each(conn.user, route.buckets) is not None:
                raise RateLimited()
            result = await route.run(route.parse(caller, args[0] if args else None))
            outcome = result if isinstance(result, Outcome) else Outcome(result)
            event, body = route.present(caller, outcome.result)
            await self.answer(conn, ack_id, outcome.events, event, body, route.reply)
            if route.weighted:
                # One token per request, plus one per request_cost_bytes of answer: a client
                # asking for large answers (and never reading them) runs dry quickly.
                extra = len(orjson.dumps(body)) // self._cost_bytes
                if extra:
                    await self._limiter.charge(conn.user, RateKind.REQUEST, extra)
        except Exception as exc:
            status = status_of(exc)[0]
            await self.answer_error(conn, ack_id, name, exc)
        if self._observers:
            self._observed(conn, name, status, time.perf_counter() - started)

    def _observed(self, conn: Connection, name: str, status: int, seconds: float) -> None:
        event = name if name in self._routes[conn.namespace] else "unknown"
        for observer in self._observers:
            observer.event_answered(conn, event, status, seconds)

    async def answer(
        self, conn: Connection, ack_id: int | None, events: Sequence[Event], reply_event: str,
        body: wire.Envelope, kind: ReplyKind,
    ) -> None:
        """The asker learns the outcome exactly once.

        A SHARED reply is what the events tell the asker's user: when the asker gave an ack,
        the events are published skipping it and the ack carries the reply; without an ack
        the events reach it like the user's other devices, and the reply is emitted to it
        only when none of the events reaches it (nothing was published, or not to it).
        A CALLER reply is the asker's alone: always emitted to it (and acked). An ACK reply
        is only the ack.
        """
        acked = ack_id is not None
        skip_asker = acked and kind is ReplyKind.SHARED
        await self._publisher.publish(events, Asker(conn.sid) if skip_asker else None)
        if ack_id is not None:
            await self._sio.send_ack(conn.eio_sid, conn.namespace, ack_id, body)
        if kind is ReplyKind.CALLER or (
            kind is ReplyKind.SHARED and not acked
            and not any(reaches(e, conn.user, conn.namespace) for e in events)
        ):
            await self._sio.emit(reply_event, body, to=conn.sid, namespace=conn.namespace)

    async def answer_error(
        self, conn: Connection, ack_id: int | None, event: str, exc: Exception
    ) -> None:
        body = self.error_body(conn, event, exc)
        if ack_id is not None:
            await self._sio.send_ack(conn.eio_sid, conn.namespace, ack_id, body)
        if isinstance(exc, RateLimited):
            now = time.monotonic()
            if now - conn.last_rate_notice < RATE_LIMITED_NOTICE_S:
                return
            conn.last_rate_notice = now
        await self._sio.emit("appError", body, to=conn.sid, namespace=conn.namespace)

    async def emit_error(self, conn: Connection, event: str, exc: Exception) -> None:
        await self._sio.emit("appError", self.error_body(conn, event, exc), to=conn.sid,
                             namespace=conn.namespace)

    @staticmethod
    def error_body(conn: Connection, event: str, exc: Exception) -> wire.Envelope:
        status, message = status_of(exc)
        fields = {"event": event[:100], "status": status, "sid": conn.sid}  # JSON logs
        if status == 500:
            logger.error("event %r of %s failed", event[:100], conn.user, exc_info=exc,
                         extra=fields)
        elif status == 503:
            logger.warning("event %r of %s: storage unavailable: %s", event[:100], conn.user, exc,
                           extra=fields)
        return wire.error_envelope(status, message, event[:100], field_errors(exc))
