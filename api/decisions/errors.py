"""Errors of the decision domain, mapped to problem+json by the one handler in ``api.core``."""

from __future__ import annotations

from api.core.errors import PROBLEM_BASE, ConflictError, NotFoundError

__all__ = [
    "DecisionNotFoundError",
    "SubjectErasedError",
    "SubjectObjectedError",
    "SubjectRestrictedError",
]


class DecisionNotFoundError(NotFoundError):
    """No decision with that id for this caller."""


class SubjectErasedError(ConflictError):
    """The subject's data key was erased (Art. 17)."""


class SubjectRestrictedError(ConflictError):
    """The subject restricted processing (Art. 18): no new decision about them."""

    type_ = PROBLEM_BASE + "subject-restricted"
    title = "Processing restricted"


class SubjectObjectedError(ConflictError):
    """The subject objected (Art. 21) to the processing this model does."""

    type_ = PROBLEM_BASE + "subject-objected"
    title = "Objection to processing"
