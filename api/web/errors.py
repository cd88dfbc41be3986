"""Errors of the pages, mapped to problem+json by the one handler in ``api.core``.

Exceptions::

    NotFoundError (404)
    └── AssetNotFoundError    no such page asset in the package
"""

from __future__ import annotations

from api.core.errors import NotFoundError

__all__ = ["AssetNotFoundError"]


class AssetNotFoundError(NotFoundError):
    """No asset of that name is shipped with the pages."""
