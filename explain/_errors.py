"""Errors raised by the explain library.

One hierarchy, rooted at :class:`ExplainError`::

    ExplainError
    ├── UnsupportedModelError   the model is not one whose margin TreeSHAP explains exactly
    ├── InvalidInputError       a row or a grouping of the wrong shape or content (a ValueError)
    └── SpecMismatchError       an explanation and a spec that describe different features
"""

from __future__ import annotations

__all__ = ["ExplainError", "InvalidInputError", "SpecMismatchError", "UnsupportedModelError"]


class ExplainError(Exception):
    """Base class of every error the explain library raises on purpose."""


class UnsupportedModelError(ExplainError):
    """The model cannot be explained exactly, so no explanation is given rather than a wrong one."""


class InvalidInputError(ExplainError, ValueError):
    """An encoded row, matrix or column grouping that does not fit the model."""


class SpecMismatchError(ExplainError):
    """An explanation whose features are not the spec's features, in the spec's order.

    Usually an explanation stored under an older model version read with a newer spec: pass the
    spec of the model version that made the decision.
    """
