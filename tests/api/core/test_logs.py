"""JSON log lines: extras kept, error messages redacted, written in order off the logging thread."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from api.core.logs import JsonFormatter, LineWriter, configure_logging, redact_error_message

DISTINCT = "Zebulon-Quaintance-7731"  # stands for a name, an email, an amount ...


def test_the_json_formatter_keeps_extras_and_redacts_exception_messages() -> None:
    logger = logging.getLogger("glassbox.test")
    try:
        raise ValueError(f"bad value {DISTINCT!r} for zebulon@example.org")
    except ValueError:
        record = logger.makeRecord(
            "glassbox.test",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("once",),
            sys.exc_info(),
            extra={"request_id": "r1", "duration_ms": 1.5},
        )
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "failed once"
    assert entry["logger"] == "glassbox.test"
    assert entry["level"] == "ERROR"
    assert entry["ts"].endswith("Z")
    assert entry["request_id"] == "r1" and entry["duration_ms"] == 1.5
    assert entry["error"]["type"] == "builtins.ValueError"
    assert entry["error"]["message"] == "bad value '?' for <email>"
    (frame,) = entry["error"]["stack"]
    assert frame.startswith(
        f"{__name__}:{test_the_json_formatter_keeps_extras_and_redacts_exception_messages.__name__}:"
    )
    assert DISTINCT not in line and "zebulon" not in line


@pytest.mark.parametrize(
    ("message", "redacted"),
    [
        (
            "invalid literal for int() with base 10: 'Zebulon'",
            "invalid literal for int() with base 10: '?'",
        ),
        ('He wrote "Zebulon was here"', 'He wrote "?"'),
        ("mail zebulon.q+x@example.org now", "mail <email> now"),
        ("no decision 0190a1b2c3d4e5f60718293a4b5c6d7e", "no decision <hex>"),
        ("uuid 123e4567-e89b-12d3-a456-426614174000", "uuid <hex>"),
        ("amount 731.4159 card 4111111111111111 at 12 of 3", "amount <num> card <num> at 12 of 3"),
        ("key gbx_admin_AbCdEfGh12345678901234", "key <token>"),
        (
            'duplicate key value violates unique constraint "uq_api_key_key_hash"\n'
            "DETAIL:  Key (key_hash)=(9f86d081884c7d65) already exists.",
            'duplicate key value violates unique constraint "uq_api_key_key_hash"\n'
            "DETAIL:  Key (key_hash)=(?) already exists.",
        ),
        (
            'new row for relation "decision" violates check constraint "ck_x"\n'
            "DETAIL:  Failing row contains (Zebulon, 12).",
            'new row for relation "decision" violates check constraint "ck_x"\n'
            "DETAIL:  Failing row contains (?).",
        ),
    ],
)
def test_error_messages_lose_their_literals(message: str, redacted: str) -> None:
    assert redact_error_message(message) == redacted


def test_a_database_error_keeps_its_statement_and_loses_its_parameters() -> None:
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        connection.execute(text("INSERT INTO person VALUES (1, :name)"), {"name": DISTINCT})
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        connection.execute(
            text("INSERT INTO person (id, name) VALUES (:id, :name)"),
            {"id": 77310042, "name": DISTINCT},
        )
    assert DISTINCT in str(caught.value)  # SQLAlchemy's own message quotes the row
    redacted = redact_error_message(str(caught.value))
    assert redacted == (
        "(sqlite3.IntegrityError) UNIQUE constraint failed: person.name\n"
        "[SQL: INSERT INTO person (id, name) VALUES (?, ?)]"
    )


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quieted = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, previous in quieted.items():
            logging.getLogger(name).setLevel(previous)


def test_configure_logging_installs_one_json_handler(root_logger: logging.Logger) -> None:
    configure_logging("debug")
    configure_logging("INFO")
    ours = [h for h in root_logger.handlers if getattr(h, "_glassbox", False)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert root_logger.level == logging.INFO
    assert logging.getLogger("httpx").level == logging.WARNING


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "glassbox.test", "levelno": level, "msg": message})
    record.levelname = logging.getLevelName(level)
    record.__dict__.update(extra)
    return record


def test_queued_lines_are_written_in_order_with_the_values_they_had_when_logged() -> None:
    stream = io.StringIO()
    writer = LineWriter(stream, interval=3600)  # only flush() and close() write here
    writer.setFormatter(JsonFormatter())
    try:
        state = {"status": 201}
        writer.handle(_record("first", status=state["status"]))
        state["status"] = 500
        writer.handle(_record("second"))
        assert stream.getvalue() == ""  # queued, not written on the logging thread
        writer.flush()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(line["message"], line.get("status")) for line in lines] == [
            ("first", 201),
            ("second", None),
        ]
    finally:
        writer.close()


def test_a_warning_is_written_at_once_after_what_was_queued_and_close_writes_the_rest() -> None:
    stream = io.StringIO()
    writer = LineWriter(stream, interval=3600)
    writer.setFormatter(JsonFormatter())
    writer.handle(_record("queued"))
    writer.handle(_record("trouble", logging.WARNING))
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "queued",
        "trouble",
    ]
    writer.handle(_record("last"))
    writer.close()
    assert stream.getvalue().splitlines()[-1].startswith('{"ts"')
    assert json.loads(stream.getvalue().splitlines()[-1])["message"] == "last"


class _SignallingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed = threading.Event()

    def flush(self) -> None:
        super().flush()
        self.flushed.set()


def test_the_writing_thread_writes_queued_lines_without_being_asked() -> None:
    stream = _SignallingStream()
    writer = LineWriter(stream, interval=0.01)
    writer.setFormatter(JsonFormatter())
    try:
        writer.handle(_record("in the background"))
        assert stream.flushed.wait(timeout=10)
        assert json.loads(stream.getvalue())["message"] == "in the background"
    finally:
        writer.close()
