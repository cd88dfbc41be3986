"""Errors of the API, and the one place that turns them into RFC 9457 problem details.

Services raise these (or domain errors that subclass them); routers never build error
responses. :func:`install_error_handlers` maps every failure -- ours, FastAPI's request
validation, Starlette's routing errors and, as a safety net, anything unexpected -- to an
``application/problem+json`` body (:func:`error_response` is that mapping, also for the answers
made outside FastAPI's stack, by the decision fast lane)::

    {"type": "https://glassbox.dev/problems/not-found", "title": "Not found", "status": 404,
     "detail": "...", "instance": "urn:glassbox:request:<request id>", "errors": [...]}

Exceptions::

    ProblemError                  base: status, type_, title; detail, errors, headers
    ├── BadRequestError           400 the body cannot be parsed (malformed JSON)
    ├── UnauthorizedError         401 no valid credentials (``WWW-Authenticate: Bearer``)
    ├── ForbiddenError            403 authenticated, but this role may not do that
    ├── NotFoundError             404 no such resource (or none this caller may see)
    ├── MethodNotAllowedError     405 the path exists, the method does not
    ├── ConflictError             409 the resource's state forbids it (a case already claimed)
    ├── GoneError                 410 the data was erased (Art. 17) or has expired
    ├── PayloadTooLargeError      413 the body is over the size limit
    ├── InvalidRequestError       422 well-formed input with wrong values; field errors
    ├── TooManyRequestsError      429 over a rate limit (``Retry-After``: seconds to wait)
    ├── StoredDataError           500 sealed data in storage does not open (altered, moved)
    └── ServiceUnavailableError   503 a model or the log writer is not ready

A :class:`~api.core.crypto.DecryptionError` that reaches the handlers -- a sealed field that no
longer opens because someone changed the stored bytes -- is answered as a
:class:`StoredDataError`, and logged as an integrity alarm. Storage that has no space left --
``ENOSPC``/``EDQUOT`` from the OS, SQLite's ``SQLITE_FULL``, PostgreSQL's SQLSTATE 53100, as
they are or wrapped by SQLAlchemy -- is a :class:`ServiceUnavailableError` with ``Retry-After``
(see :func:`disk_full_reason`), logged as "the disk is full" at most once a minute.

The ``title``, ``detail`` and each field's ``message`` are in Spanish when ``Accept-Language``
prefers it (:mod:`api.core.problem_texts` holds every Spanish text); ``type``, field paths and
status never change with the language.

A ``detail`` must never echo request values: they may be personal data (an amount, a name, a
statement), and problem bodies end up in client logs and support tickets. Say *which field* is
wrong and *why*, never *what it contained*.
"""

from __future__ import annotations

import errno
import http
import logging
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.crypto import DecryptionError
from api.core.problem_texts import (
    Language,
    negotiate,
    pydantic_message,
    spanish_text,
    spanish_title,
)

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "REQUEST_ID_SCOPE_KEY",
    "BadRequestError",
    "ConflictError",
    "FieldProblem",
    "ForbiddenError",
    "GoneError",
    "InvalidRequestError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "Problem",
    "ProblemError",
    "ServiceUnavailableError",
    "StoredDataError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "disk_full_reason",
    "disk_full_response",
    "error_response",
    "install_error_handlers",
    "language_of",
    "log_integrity_alarm",
    "problem_body",
    "problem_response",
    "problem_responses",
    "request_id_of",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_BASE: Final = "https://glassbox.dev/problems/"
# Where the observability middleware keeps the request id in the ASGI scope; the error
# handlers put it in ``instance`` so a client's problem report finds the server's log line.
REQUEST_ID_SCOPE_KEY: Final = "glassbox.request_id"

_log = logging.getLogger("glassbox.errors")
_integrity_log = logging.getLogger("glassbox.integrity")


class FieldProblem(BaseModel):
    """One invalid input: where it is (dotted path) and what is wrong with it."""

    model_config = ConfigDict(frozen=True)

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details document (for OpenAPI and for clients)."""

    model_config = ConfigDict(frozen=True)

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldProblem] | None = None


class ProblemError(Exception):
    """Base class of the errors that become problem+json responses.

    Parameters
    ----------
    detail : str, optional
        A human explanation of this occurrence; the class's title when omitted. Never put
        request values in it.
    errors : sequence of FieldProblem or mapping, optional
        Field-level problems (``{"field": "features.amount", "message": "..."}``).
    headers : mapping of str to str, optional
        Extra response headers.
    """

    status: ClassVar[int] = 500
    type_: ClassVar[str] = PROBLEM_BASE + "internal-error"
    title: ClassVar[str] = "Internal error"
    default_headers: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldProblem | Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = (
            None
            if errors is None
            else [
                item if isinstance(item, FieldProblem) else FieldProblem.model_validate(item)
                for item in errors
            ]
        )
        self.headers = {**self.default_headers, **(headers or {})}
        super().__init__(self.detail)


class BadRequestError(ProblemError):
    """400: the request cannot be parsed at all."""

    status = 400
    type_ = PROBLEM_BASE + "bad-request"
    title = "Bad request"


class UnauthorizedError(ProblemError):
    """401: missing, malformed, unknown, revoked or expired credentials."""

    status = 401
    type_ = PROBLEM_BASE + "unauthorized"
    title = "Unauthorized"
    # RFC 9110 §11.6.1: a 401 carries a challenge naming the scheme to use.
    default_headers = MappingProxyType({"WWW-Authenticate": "Bearer"})


class ForbiddenError(ProblemError):
    """403: the caller is known, but its role may not do this."""

    status = 403
    type_ = PROBLEM_BASE + "forbidden"
    title = "Forbidden"


class NotFoundError(ProblemError):
    """404: no such resource, or none this caller may see."""

    status = 404
    type_ = PROBLEM_BASE + "not-found"
    title = "Not found"


class MethodNotAllowedError(ProblemError):
    """405: the path exists but does not accept this method."""

    status = 405
    type_ = PROBLEM_BASE + "method-not-allowed"
    title = "Method not allowed"


class ConflictError(ProblemError):
    """409: the resource's current state does not allow the request."""

    status = 409
    type_ = PROBLEM_BASE + "conflict"
    title = "Conflict"


class GoneError(ProblemError):
    """410: the data existed but was erased (Art. 17) or has expired."""

    status = 410
    type_ = PROBLEM_BASE + "gone"
    title = "Gone"


class PayloadTooLargeError(ProblemError):
    """413: the request body is over the size limit."""

    status = 413
    type_ = PROBLEM_BASE + "payload-too-large"
    title = "Payload too large"


class InvalidRequestError(ProblemError):
    """422: the input is well-formed but some values are not acceptable."""

    status = 422
    type_ = PROBLEM_BASE + "invalid-request"
    title = "Invalid request"


class TooManyRequestsError(ProblemError):
    """429: the caller is over its rate limit; ``Retry-After`` says when to try again.

    Parameters
    ----------
    detail : str
        Which limit (never whose: no key or person is named).
    retry_after : float
        Seconds until the next request would be let through; sent rounded up, at least 1
        (RFC 9110 §10.2.3: a whole number of seconds).
    """

    status = 429
    type_ = PROBLEM_BASE + "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(detail, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class StoredDataError(ProblemError):
    """500: stored data failed its integrity check (a sealed field does not open).

    Not a bug and not the caller's fault: the bytes in the database are not the ones glassbox
    wrote (or were moved between rows). The data is not shown, and the log entry it came from,
    if any, is what ``GET /v1/audit/verify`` names.
    """

    status = 500
    type_ = PROBLEM_BASE + "stored-data-integrity"
    title = "Stored data failed its integrity check"


class ServiceUnavailableError(ProblemError):
    """503: a dependency (a model, the log writer, the database) is not ready."""

    status = 503
    type_ = PROBLEM_BASE + "service-unavailable"
    title = "Service unavailable"


_BY_STATUS: Final[dict[int, type[ProblemError]]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        MethodNotAllowedError,
        ConflictError,
        GoneError,
        PayloadTooLargeError,
        InvalidRequestError,
        ServiceUnavailableError,
    )
}
# Starlette's own details ("Not Found", "There was an error parsing the body") are fixed
# texts, but anything raised as an HTTPException by a library could carry input; ours are used.
_ROUTING_DETAILS: Final[dict[int, str]] = {
    400: "The request body could not be parsed.",
    404: "No resource matches this path.",
    405: "This path does not accept this method.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Describe problem responses for OpenAPI (``APIRouter(responses=...)``).

    Parameters
    ----------
    *statuses : int
        The statuses a route or router may answer with a problem.

    Returns
    -------
    dict
        ``{status: {"model": Problem, "content": {"application/problem+json": {}}, ...}}``.
    """
    return {
        status: {
            "model": Problem,
            "description": http.HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


def request_id_of(scope: Mapping[str, Any]) -> str:
    """Return the id the observability middleware gave this request, or a fresh one.

    Parameters
    ----------
    scope : mapping
        The ASGI scope (``request.scope``).

    Returns
    -------
    str
        32 hex characters.
    """
    value = scope.get(REQUEST_ID_SCOPE_KEY)
    return value if isinstance(value, str) else uuid.uuid4().hex


def problem_body(
    *,
    status: int,
    type_: str,
    title: str,
    detail: str,
    request_id: str,
    errors: Sequence[FieldProblem] | None = None,
) -> dict[str, Any]:
    """Build a problem details document.

    Parameters
    ----------
    status : int
        The HTTP status.
    type_ : str
        The problem type URI.
    title : str
        The problem type's short summary.
    detail : str
        This occurrence's explanation (no request values).
    request_id : str
        The request's id; ``instance`` names it so the log line can be found.
    errors : sequence of FieldProblem, optional
        Field-level problems.

    Returns
    -------
    dict
        The JSON object.
    """
    body: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        # Not the request path: paths can carry identifiers a client would not want echoed.
        "instance": f"urn:glassbox:request:{request_id}",
    }
    if errors is not None:
        body["errors"] = [item.model_dump() for item in errors]
    return body


def problem_response(
    error: ProblemError, request_id: str, *, language: Language = "en"
) -> JSONResponse:
    """The problem+json response for an error (what the app's handler answers with).

    Parameters
    ----------
    error : ProblemError
        The error.
    request_id : str
        The request's id (``instance``).
    language : {"en", "es"}
        The language of ``title``, ``detail`` and the fields' messages (``Content-Language``
        says which); the type and the field paths are the same in both.

    Returns
    -------
    JSONResponse
        Status, headers and ``application/problem+json`` body of the error.
    """
    title, detail, errors = error.title, error.detail, error.errors
    headers = dict(error.headers)
    if language == "es":
        title, detail = spanish_title(title), spanish_text(detail)
        if errors is not None:
            errors = [
                FieldProblem(field=item.field, message=spanish_text(item.message))
                for item in errors
            ]
        headers["Content-Language"] = "es"
    body = problem_body(
        status=error.status,
        type_=error.type_,
        title=title,
        detail=detail,
        request_id=request_id,
        errors=errors,
    )
    return JSONResponse(
        body, status_code=error.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def language_of(scope: Mapping[str, Any]) -> Language:
    """The language a request's problem is answered in, from its ``Accept-Language``.

    Parameters
    ----------
    scope : mapping
        The ASGI scope.

    Returns
    -------
    {"en", "es"}
        Spanish when the request prefers it; English otherwise.
    """
    for name, value in scope.get("headers") or ():
        if name == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return "en"


def _field_path(loc: Sequence[int | str]) -> str:
    # ("body", "features", "amount") -> "features.amount"; query/path/header keep their origin
    # ("query.limit") so a client can tell a bad query parameter from a body field.
    parts = list(loc)
    if len(parts) > 1 and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(part) for part in parts)


def _validation_problem(exc: RequestValidationError, language: Language) -> ProblemError:
    raw = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in raw):
        # Syntax, not values: a 400, and the decoder's message and position are left out
        # because the document (which may hold personal data) is what they quote.
        return BadRequestError("The request body is not valid JSON.")
    # pydantic's "msg" describes the rule broken ("Input should be a valid integer"); its
    # "input" -- the value itself -- is deliberately dropped.
    errors = [
        FieldProblem(
            field=_field_path(error.get("loc", ())),
            message=(language == "es" and pydantic_message(error)) or str(error.get("msg", "")),
        )
        for error in raw
    ]
    count = len(errors)
    detail = f"The request has {count} invalid field{'s' if count != 1 else ''}."
    return InvalidRequestError(detail, errors=errors)


def _http_error_response(scope: Mapping[str, Any], exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers or {})
    problem_cls = _BY_STATUS.get(exc.status_code)
    if problem_cls is not None:
        detail = _ROUTING_DETAILS.get(exc.status_code)
        return problem_response(
            problem_cls(detail, headers=headers), request_id_of(scope), language=language_of(scope)
        )
    # A status without a problem type of ours: RFC 9457 §4.2.1 says "about:blank" with the
    # status phrase as title.
    try:
        phrase = http.HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    body = problem_body(
        status=exc.status_code,
        type_="about:blank",
        title=phrase,
        detail=phrase,
        request_id=request_id_of(scope),
    )
    return JSONResponse(
        body, status_code=exc.status_code, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def log_integrity_alarm(*, error_id: str) -> None:
    """Log the operator's alarm for one stored record whose sealed data does not open.

    Without the record's id (ids link to a person, so the logs keep none): the request id and
    the access line's route template lead to the record, and ``glassbox verify-log`` names a
    changed log entry.

    Parameters
    ----------
    error_id : str
        The request's id (what the client sees in ``instance`` or ``X-Request-ID``).
    """
    _integrity_log.error("sealed data failed its integrity check", extra={"error_id": error_id})


def _stored_data_response(scope: Mapping[str, Any]) -> JSONResponse:
    request_id = request_id_of(scope)
    log_integrity_alarm(error_id=request_id)
    detail = (
        "This record's sealed data does not open: it was altered in storage, so it is not "
        f"shown. The incident was logged with id {request_id}."
    )
    return problem_response(StoredDataError(detail), request_id, language=language_of(scope))


def error_response(scope: Mapping[str, Any], exc: BaseException) -> JSONResponse | None:
    """The problem+json answer to an error raised while serving a request; None for a bug.

    The one mapping behind the app's handlers (:func:`install_error_handlers`) and behind the
    answers given outside FastAPI's stack (the decision fast lane, :mod:`api.core.fastpath`),
    so that an error gets the same problem on either path: ours (:class:`ProblemError`),
    FastAPI's request validation (400 for a body that is not JSON, else 422 naming each
    field), Starlette's routing errors, sealed data that does not open (a
    :class:`~api.core.crypto.DecryptionError`: :class:`StoredDataError`, and an integrity
    alarm in the log) and a full disk (:func:`disk_full_response`).

    Parameters
    ----------
    scope : mapping
        The request's ASGI scope (its request id goes in ``instance``).
    exc : BaseException
        The error.

    Returns
    -------
    JSONResponse or None
        The problem response; None for any other error, which the safety net answers (500).
    """
    language = language_of(scope)
    if isinstance(exc, ProblemError):
        return problem_response(exc, request_id_of(scope), language=language)
    if isinstance(exc, RequestValidationError):
        return problem_response(
            _validation_problem(exc, language), request_id_of(scope), language=language
        )
    if isinstance(exc, StarletteHTTPException):
        return _http_error_response(scope, exc)
    if isinstance(exc, DecryptionError):
        return _stored_data_response(scope)
    return disk_full_response(scope, exc)


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    response = error_response(request.scope, exc)
    if response is None:
        raise exc  # a storage error that is not a full disk: on to the safety net
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The safety net: reached only by bugs. The id ties the client's report to the traceback
    # in the log; the client learns nothing about the failure itself.
    disk_full = disk_full_response(request.scope, exc)
    if disk_full is not None:  # a full disk behind some other error (a driver's own, raw)
        return disk_full
    error_id = request_id_of(request.scope)
    _log.error("unhandled error", extra={"error_id": error_id}, exc_info=exc)
    body = problem_body(
        status=500,
        type_=ProblemError.type_,
        title=ProblemError.title,
        detail=f"An unexpected error occurred; it was logged with id {error_id}.",
        request_id=error_id,
    )
    return JSONResponse(
        body,
        status_code=500,
        headers={"X-Request-ID": error_id},
        media_type=PROBLEM_MEDIA_TYPE,
    )


_NO_SPACE_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
_POSTGRESQL_DISK_FULL: Final = "53100"  # SQLSTATE disk_full
# Long enough for an operator to free space; short enough that clients come back soon after.
_DISK_FULL_RETRY_AFTER: Final = "60"
_DISK_FULL_DETAIL: Final = (
    "The service's storage is full, so nothing was saved; retry later. "
    "The incident was logged with id {error_id}."
)


def disk_full_reason(exc: BaseException) -> str | None:
    """Tell whether an error means the storage has no space left, and which storage said so.

    The error itself, the driver error SQLAlchemy wrapped (``orig``) and its causes are looked
    at, so it does not matter which layer raised it.

    Parameters
    ----------
    exc : BaseException
        Any error.

    Returns
    -------
    str or None
        ``"ENOSPC"`` or ``"EDQUOT"`` (the OS), ``"SQLITE_FULL"`` (SQLite's "database or disk is
        full"), ``"SQLSTATE 53100"`` (PostgreSQL's disk_full); None for any other error.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE_ERRNOS:
            return errno.errorcode[current.errno]
        if isinstance(current, sqlite3.Error) and (
            getattr(current, "sqlite_errorcode", -1) & 0xFF == sqlite3.SQLITE_FULL
            or "database or disk is full" in str(current)
        ):
            return "SQLITE_FULL"
        if getattr(current, "sqlstate", None) == _POSTGRESQL_DISK_FULL:  # psycopg's errors
            return f"SQLSTATE {_POSTGRESQL_DISK_FULL}"
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig or current.__cause__ or current.__context__
    return None


class _DiskFullAlarm:
    """Log "the disk is full" with its traceback at most once per ``every`` seconds.

    A full disk fails every request that writes: one ERROR line per minute says what is wrong
    (and how many more failed since the last one) instead of a traceback per request.
    """

    def __init__(self, *, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._since = 0

    def __call__(self, exc: BaseException, *, reason: str, error_id: str) -> None:
        with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last < self.every:
                self._since += 1
                return
            self._last, repeats, self._since = now, self._since, 0
        _log.error(
            "the disk is full (%s): nothing was saved, and requests that write answer 503 "
            "until space is freed",
            reason,
            extra={"error_id": error_id, "disk_full": reason, "repeats_not_logged": repeats},
            exc_info=exc,
        )


def disk_full_response(scope: Mapping[str, Any], exc: BaseException) -> JSONResponse | None:
    """The 503 problem for an error that means the storage is full; None for any other error.

    The transaction the error broke was rolled back by whoever held it (sessions in
    ``write_transaction``, the log writer), so the request left nothing behind. Logs the alarm
    (rate-limited, see :func:`install_error_handlers`).

    Parameters
    ----------
    scope : mapping
        The request's ASGI scope (its app holds the alarm's state).
    exc : BaseException
        The error.

    Returns
    -------
    JSONResponse or None
        503 ``application/problem+json`` with ``Retry-After``, or None.
    """
    reason = disk_full_reason(exc)
    if reason is None:
        return None
    error_id = request_id_of(scope)
    app = scope.get("app")
    alarm = getattr(getattr(app, "state", None), "disk_full_alarm", None)
    if not isinstance(alarm, _DiskFullAlarm):
        alarm = _DiskFullAlarm()  # an app without the handlers: logged every time
    alarm(exc, reason=reason, error_id=error_id)
    error = ServiceUnavailableError(
        _DISK_FULL_DETAIL.format(error_id=error_id),
        headers={"Retry-After": _DISK_FULL_RETRY_AFTER},
    )
    return problem_response(error, error_id)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error of the app to an ``application/problem+json`` response.

    Parameters
    ----------
    app : FastAPI
        The application.
    """
    # One handler (error_response decides) for every error it maps; a storage error is only
    # handled when it means a full disk, any other goes on to the safety net.
    for known in (
        ProblemError,
        RequestValidationError,
        StarletteHTTPException,
        DecryptionError,
        OSError,
        sqlite3.Error,
        DBAPIError,
    ):
        app.add_exception_handler(known, _known_error)
    app.state.disk_full_alarm = _DiskFullAlarm()
    # Registered for Exception, Starlette runs it in ServerErrorMiddleware (outermost), which
    # re-raises afterwards so the server and the test client still see the bug.
    app.add_exception_handler(Exception, _unexpected_error)
