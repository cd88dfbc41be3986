"""Errors of the decision domain, mapped to problem+json by the one handler in ``api.core``."""

from __future__ import annotations

from api.core.errors import ConflictError, NotFoundError

__all__ = ["DecisionNotFoundError", "SubjectErasedError"]


class DecisionNotFoundError(NotFoundError):
    """No decision with that id for this caller."""


class SubjectErasedError(ConflictError):
    """The subject's data key was erased (Art. 17)."""
