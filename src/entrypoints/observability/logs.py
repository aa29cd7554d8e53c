"""Logging set-up: ``CHAT_LOG_FORMAT=text`` (the default) or ``json``, one object per line.

A JSON line has ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, and when the
record knows them ``event``, ``status``, ``duration_ms``, ``sid`` (a Socket.IO or Engine.IO
session id), ``method`` and ``path`` (the access log), and ``exc`` (a traceback). Callers
pass those as ``extra={...}``; nothing else of a record is written, so a value put on a
record for another purpose never reaches the output.

What never reaches the output: tokens and message texts (no logger call is given either,
and pymongo's command log, which holds the documents, stays off even at the debug level),
and query strings. uvicorn logs every WebSocket handshake with its path and query string,
and a client may put its token there (``?token=``: the server never reads it, see
``auth.find_token``, but clients do it): ``HideQueryStrings`` cuts query strings off every
record of uvicorn's loggers.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from chat_server.entrypoints.socketio.connection import Connection

_WEBSOCKETS_PACKAGE = f"{os.sep}websockets{os.sep}"
FIELDS = ("event", "status", "duration_ms", "sid", "method", "path")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for name in FIELDS:
            value = fields.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


def strip_query(value: str) -> str:
    """``/socket.io/?EIO=4&token=...`` -> ``/socket.io/``."""
    return value.split("?", 1)[0] if "?" in value else value


class HideQueryStrings(logging.Filter):
    """Removes query strings from the records of uvicorn's loggers (their arguments are
    the client address and the path with its query string), and drops the debug records
    of the websockets library, which uvicorn hands its logger: they dump request lines,
    headers (``Authorization``) and frames (tokens, message texts)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn"):
            if record.levelno < logging.INFO and _WEBSOCKETS_PACKAGE in record.pathname:
                return False
            if isinstance(record.args, tuple):
                record.args = tuple(strip_query(a) if isinstance(a, str) else a
                                    for a in record.args)
            elif not record.args and isinstance(record.msg, str):
                record.msg = strip_query(record.msg)
        return True


def configure_logging(level: str, log_format: str) -> None:
    """One handler on the root logger, to stderr; uvicorn's loggers propagate to it (the
    CLI gives uvicorn no logging configuration of its own)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter(TEXT_FORMAT))
    handler.addFilter(HideQueryStrings())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    # pymongo's command log (DEBUG) holds the documents written: message texts.
    logging.getLogger("pymongo.command").setLevel(max(root.level, logging.INFO))
    # uvicorn's access log prints query strings: never on (see access.AccessLog).
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False


def json_line(level: str, logger: str, message: str, **fields: Any) -> str:
    """A line in the JSON log format, for what is printed before or outside logging."""
    record = logging.LogRecord(logger, logging.getLevelName(level), "", 0, message, None, None)
    record.__dict__.update(fields)
    return JsonFormatter().format(record)


class EventLog:
    """The dispatcher's observer at ``CHAT_LOG_LEVEL=debug``: one line per event answered,
    with its name (a route's, or ``unknown``), status, duration and socket id."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("chat_server.events")

    def event_answered(self, conn: Connection, event: str, status: int, seconds: float
                       ) -> None:
        self._logger.debug("%s answered %d", event, status, extra={
            "event": event, "status": status, "duration_ms": round(seconds * 1000, 3),
            "sid": conn.sid})
