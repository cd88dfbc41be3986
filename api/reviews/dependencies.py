"""The case routes' shared parameters and loaders: path ids and the key that opens a case.

Both routers of the case domain (the reviewer's, :mod:`api.reviews.router`, and the person's,
:mod:`api.reviews.subject_router`) take them from here instead of each declaring and unwrapping
its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from api.context import ContextDep

__all__ = ["CaseId", "DecisionId", "KekDep", "key_encryption_key"]

CaseId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
DecisionId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


async def key_encryption_key(context: ContextDep) -> bytes:
    """The key-encryption key, which opens the subject's data keys (a dependency).

    Async on purpose: a plain ``def`` dependency costs a thread hop for an attribute read.
    """
    return context.settings.key_encryption_key.get_secret_value()


KekDep = Annotated[bytes, Depends(key_encryption_key)]
