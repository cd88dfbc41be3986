"""Errors of the decision log.

Exceptions::

    AuditError              base class of the decision-log errors
    ├── WriterClosedError         an entry was submitted to a stopped LogWriter
    └── CheckpointNotFoundError   no checkpoint with that id (also a LookupError)

Cryptographic failures (``KeyShredded`` ...) live in :mod:`api.core.crypto`, a refused subject
(``ProcessingRestricted``) in :mod:`api.vault.errors`, transaction misuse
(``TransactionStateError``) in :mod:`api.core.database`.
"""

from __future__ import annotations

__all__ = ["AuditError", "CheckpointNotFoundError", "WriterClosedError"]


class AuditError(Exception):
    """Base class of the decision-log errors."""


class WriterClosedError(AuditError):
    """The log writer is stopped and accepts no more entries."""


class CheckpointNotFoundError(AuditError, LookupError):
    """No checkpoint matches the request."""
