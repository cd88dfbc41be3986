"""Errors of the key vault.

Exceptions::

    VaultError                base class of the key vault's errors
    └── ProcessingRestricted  a new record about a subject who restricted processing (Art. 18)

A key that was erased or never existed is a cryptographic failure (``KeyShredded``,
``KeyNotFoundError``), drawn with the others in :mod:`api.core.crypto`.
"""

from __future__ import annotations

__all__ = ["ProcessingRestricted", "VaultError"]


class VaultError(Exception):
    """Base class of the key vault's errors."""


class ProcessingRestricted(VaultError):  # noqa: N818  # reads as the state it reports
    """The subject restricted processing (Art. 18): no new record about them is written."""
