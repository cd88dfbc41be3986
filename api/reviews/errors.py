"""Errors of the review domain, mapped to problem+json by the one handler in ``api.core``.

Exceptions::

    NotFoundError (404)
    ├── CaseNotFoundError            no such case for this caller
    ConflictError (409)
    ├── CaseStateError               the case's state does not allow the step
    ├── CaseAlreadyOpenError         the decision is already under an open case
    ├── AlreadyDecidedByHumanError   the decision was already resolved by a person
    └── CaseClaimedError             another reviewer holds the case
    ForbiddenError (403)
    ├── NotAssigneeError             only the reviewer who claimed the case may do that
    └── SecondReviewerError          the approver must not be the proposer
    InvalidRequestError (422)
    └── ReviewInputError             a field of the request is not acceptable (names it)
"""

from __future__ import annotations

from api.core.errors import ConflictError, ForbiddenError, InvalidRequestError, NotFoundError

__all__ = [
    "AlreadyDecidedByHumanError",
    "CaseAlreadyOpenError",
    "CaseClaimedError",
    "CaseNotFoundError",
    "CaseStateError",
    "NotAssigneeError",
    "ReviewInputError",
    "SecondReviewerError",
]


class CaseNotFoundError(NotFoundError):
    """No case with that id that this caller may see."""


class CaseStateError(ConflictError):
    """The case's state does not allow this step (a resolved case never reopens)."""


class CaseAlreadyOpenError(ConflictError):
    """The decision is already under an open case."""


class AlreadyDecidedByHumanError(ConflictError):
    """A person already decided on this decision; it is not contested twice."""


class CaseClaimedError(ConflictError):
    """Another reviewer holds a live claim on the case."""


class NotAssigneeError(ForbiddenError):
    """Only the reviewer holding the case may do this."""


class SecondReviewerError(ForbiddenError):
    """The second reviewer must be a different person from the one who proposed."""


class ReviewInputError(InvalidRequestError):
    """One field of the request is not acceptable."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            "the request cannot be accepted", errors=[{"field": field, "message": message}]
        )
