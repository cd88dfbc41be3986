"""Structured logs: one JSON object per line, with no personal data in them (SPEC §8).

:func:`configure_logging` makes the standard :mod:`logging` emit one JSON object per line
(:class:`JsonFormatter`), written to stderr off the event loop (:class:`LineWriter`). An error's
message is logged redacted (:func:`redact_error_message`): messages quote values, and values may
be personal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import traceback
import weakref
from collections import deque
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import orjson

__all__ = [
    "JsonFormatter",
    "LineWriter",
    "configure_logging",
    "redact_error_message",
]

# What every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


# An error's message is logged redacted (redact_error_message) and cut at this length; of its
# stack, the frames nearest the failure are kept.
_MAX_ERROR_MESSAGE: Final = 1000
_MAX_FRAMES: Final = 12
# SQLAlchemy appends the statement's bound values, and a link, to a driver's message.
_SQL_PARAMETERS: Final = re.compile(
    r"\s*\[parameters: .*?(?=\s*\(Background on this error|\Z)", re.DOTALL
)
_SQL_BACKGROUND: Final = re.compile(r"\s*\(Background on this error at: [^)]*\)")
# A quoted literal; a double-quoted name after "constraint", "relation" ... is an identifier
# in a database's message, and says which constraint or table failed: it is kept.
_QUOTED: Final = re.compile(
    r"(?P<kind>\b(?:constraint|relation|column|table|index|schema|type|sequence|function"
    r"|trigger|database|role)\s+)?(?P<quoted>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")",
    re.IGNORECASE,
)
_IDENTIFIER: Final = re.compile(r'"[A-Za-z_][A-Za-z0-9_.$]*"')
# PostgreSQL's DETAIL quotes the row: "Key (email)=(...) already exists", "Failing row contains".
_ROW_VALUES: Final = (
    (re.compile(r"\)=\(.*\)"), ")=(?)"),
    (re.compile(r"(Failing row contains )\(.*\)"), r"\1(?)"),
)
_REDACTIONS: Final = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    # Keys, tokens, base64: long words that mix letters and digits.
    (re.compile(r"(?<![\w-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Za-z])[\w+/=-]{20,}"), "<token>"),
    (re.compile(r"\d+[.,]\d+|\d{4,}"), "<num>"),
)


def redact_error_message(message: str) -> str:
    """An error's message with every literal that could be personal data replaced.

    Quoted strings become ``'?'``, e-mail addresses ``<email>``, hex ids ``<hex>``, long
    letter-and-digit words (keys, tokens) ``<token>``, decimals and numbers of four digits or
    more ``<num>``; SQLAlchemy's ``[parameters: ...]`` goes entirely, the SQL statement's shape
    stays. Best effort: a bare word (a name in a message that does not quote it) gets through,
    which is why glassbox's own messages never carry values.

    Parameters
    ----------
    message : str
        ``str(exc)``.

    Returns
    -------
    str
        The redacted message, at most 1,000 characters.
    """
    text = _SQL_BACKGROUND.sub("", _SQL_PARAMETERS.sub("", message))

    def quoted(match: re.Match[str]) -> str:
        kind, literal = match.group("kind") or "", match.group("quoted")
        if kind and _IDENTIFIER.fullmatch(literal):
            return match.group(0)
        return f"{kind}{literal[0]}?{literal[0]}"

    text = _QUOTED.sub(quoted, text)
    for pattern, replacement in (*_ROW_VALUES, *_REDACTIONS):
        text = pattern.sub(replacement, text)
    return text if len(text) <= _MAX_ERROR_MESSAGE else text[: _MAX_ERROR_MESSAGE - 1] + "…"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message and the record's extra fields.

    An exception is rendered as its type, its message redacted (:func:`redact_error_message`:
    messages quote values -- a database error quotes the row's parameters -- and values may be
    personal) and the frames nearest the failure as ``module:function:line``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render a record.

        Parameters
        ----------
        record : logging.LogRecord
            The record.

        Returns
        -------
        str
            A single line of JSON.
        """
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            payload["error"] = _describe(record.exc_info[1])
        try:
            return orjson.dumps(payload, default=str).decode("utf-8")
        except orjson.JSONEncodeError:  # what orjson refuses (an int over 64 bits ...)
            return json.dumps(payload, default=str, ensure_ascii=False)


def _message_of(exc: BaseException) -> str:
    try:
        return redact_error_message(str(exc))
    except Exception:  # an exception whose __str__ fails must not lose the log line
        return "<unprintable>"


def _describe(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    frames = [
        f"{frame.f_globals.get('__name__', frame.f_code.co_filename)}:"
        f"{frame.f_code.co_qualname}:{lineno}"
        for frame, lineno in traceback.walk_tb(exc.__traceback__)
    ]
    described: dict[str, Any] = {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "message": _message_of(exc),
        # The innermost frames: where it failed, and the calls of ours that led there.
        "stack": frames[-_MAX_FRAMES:],
    }
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        described["cause"] = f"{type(cause).__module__}.{type(cause).__qualname__}"
        described["cause_message"] = _message_of(cause)
    return described


class LineWriter(logging.Handler):
    """Format each record on the thread that logs it; write the lines from a thread of its own.

    A write to stderr releases the GIL, and on the event loop every release is a hand-over:
    the decision log's writer thread, which always waits for the GIL under load, takes it, and
    the loop waits to get it back -- once per request for the access line alone. Here the
    line is made at once (its values are those of the moment it was logged) and queued; a
    thread writes what has queued every ``interval`` seconds, in one write. A record at
    WARNING or above is written at once, after every line queued before it, and closing the
    handler (``logging.shutdown`` at exit does) writes what is left.

    Parameters
    ----------
    stream : TextIO
        Where the lines go (stderr).
    interval : float
        Seconds between two writes of the queued lines.
    """

    def __init__(self, stream: TextIO, *, interval: float = 0.05) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self._pending: deque[str] = deque()
        self._write_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = self._start()
        _line_writers.add(self)

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._write_forever, name="glassbox-log-lines")
        thread.daemon = True
        thread.start()
        return thread

    def _write_forever(self) -> None:
        while not self._closed.wait(self.interval):
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record's line (write it, and what is queued, at WARNING and above).

        Parameters
        ----------
        record : logging.LogRecord
            The record.
        """
        try:
            line = self.format(record)
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)
            return
        self._pending.append(line)
        if record.levelno >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        """Write every queued line now, in order."""
        with self._write_lock:
            lines: list[str] = []
            pending = self._pending
            while pending:
                lines.append(pending.popleft())
            if not lines:
                return
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr is gone (closed pipe): there is nowhere left to log to

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._closed.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()
        super().close()

    def _after_fork(self) -> None:
        # Only the forking thread exists in the child: the writing thread starts anew there.
        self._write_lock = threading.Lock()
        self._pending.clear()  # the parent's lines: the parent writes them
        if not self._closed.is_set():
            self._thread = self._start()


_line_writers: weakref.WeakSet[LineWriter] = weakref.WeakSet()


def _restart_line_writers() -> None:
    for writer in list(_line_writers):
        writer._after_fork()


os.register_at_fork(after_in_child=_restart_line_writers)


def configure_logging(level: int | str = "INFO") -> None:
    """Send the root logger's records to stderr as JSON lines.

    Idempotent: calling it again replaces the handler it installed, and leaves other handlers
    (pytest's capture, say) alone. Run uvicorn with ``access_log=False`` and ``log_config=None``
    next to it: uvicorn's own access line contains the query string.

    Parameters
    ----------
    level : int or str
        The root level (``"INFO"``, ``logging.DEBUG`` ...).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_glassbox", False):
            root.removeHandler(handler)
            handler.close()
    handler = LineWriter(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._glassbox = True  # type: ignore[attr-defined]  # marks the handler we own
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx logs every request's full URL at INFO -- query strings included -- on the
    # outgoing calls (webhooks) the service makes.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
