"""Errors of the rights domain, mapped to problem+json by the one handler in ``api.core``.

Exceptions::

    ConflictError (409)
    └── RectificationRefusedError    the decision cannot be rectified now (says why)
    InvalidRequestError (422)
    └── ErasureNotConfirmedError     an erasure without ``{"confirm": true}``
"""

from __future__ import annotations

from api.core.errors import PROBLEM_BASE, ConflictError, InvalidRequestError

__all__ = ["ErasureNotConfirmedError", "RectificationRefusedError"]


class RectificationRefusedError(ConflictError):
    """A rectification of a decision that is superseded, under review, or about a person who
    restricted processing."""

    type_ = PROBLEM_BASE + "rectification-refused"
    title = "Rectification refused"


class ErasureNotConfirmedError(InvalidRequestError):
    """An erasure cannot be undone: it needs the explicit confirmation of the person."""

    def __init__(self) -> None:
        super().__init__(
            'An erasure cannot be undone: confirm it by sending {"confirm": true}.',
            errors=[
                {"field": "confirm", "message": "must be true to confirm the erasure"},
            ],
        )
