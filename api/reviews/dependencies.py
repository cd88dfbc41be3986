"""The case routes' shared parameters: a case's id, as both routers of the case domain take it.

The reviewer's router (:mod:`api.reviews.router`) and the person's
(:mod:`api.reviews.subject_router`) take it from here; a decision's id comes from
:mod:`api.decisions.dependencies`, the key that opens sealed data from :mod:`api.context`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["CaseId"]

CaseId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
