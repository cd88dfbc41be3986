"""Errors of the periodic reports.

Exceptions::

    ReportNotFoundError   no report with that id (a NotFoundError: 404)
"""

from __future__ import annotations

from api.core.errors import NotFoundError

__all__ = ["ReportNotFoundError"]


class ReportNotFoundError(NotFoundError):
    """No report matches the request."""
