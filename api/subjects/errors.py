"""Errors of the subject domain, mapped to problem+json by the one handler in ``api.core``.

Exceptions::

    ForbiddenError (403)
    └── TokenTooOldError    an irreversible request with a token issued too long ago
"""

from __future__ import annotations

from datetime import timedelta

from api.core.errors import PROBLEM_BASE, ForbiddenError

__all__ = ["TokenTooOldError"]


def _words(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


class TokenTooOldError(ForbiddenError):
    """An irreversible request (erasure) needs a link issued a short while ago.

    Parameters
    ----------
    max_age : timedelta
        The policy's limit (``GLASSBOX_IRREVERSIBLE_MAX_TOKEN_AGE``).
    """

    type_ = PROBLEM_BASE + "token-too-old"
    title = "Link too old for this request"

    def __init__(self, max_age: timedelta) -> None:
        super().__init__(
            "This request cannot be undone, so it needs a link issued within the last "
            f"{_words(max_age)}. Ask the application that sent you the decision for a fresh "
            "link, open it and make the request again."
        )
        self.max_age = max_age
