"""Errors of the profiles domain, mapped to problem+json by the one handler in ``api.core``."""

from __future__ import annotations

from api.core.errors import PROBLEM_BASE, ConflictError, NotFoundError

__all__ = ["NotAProfileModelError", "ProfilingObjectedError", "SubjectUnprofilableError"]


class NotAProfileModelError(NotFoundError):
    """The model named is served but takes decisions, not profiles (or is not served)."""

    type_ = PROBLEM_BASE + "not-a-profile-model"
    title = "Not a profile model"


class ProfilingObjectedError(ConflictError):
    """The person objected to profiling (Art. 21): no profile is built about them."""

    type_ = PROBLEM_BASE + "profiling-objected"
    title = "Profiling objected to"


class SubjectUnprofilableError(ConflictError):
    """The person's data was erased, or they restricted processing (Art. 17, 18)."""

    type_ = PROBLEM_BASE + "subject-unprofilable"
    title = "No profile can be recorded"
