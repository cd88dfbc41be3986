"""The decision domain's shared route parameters: a decision's id, as every router takes it.

The decisions, subjects, reviews and webhooks routers all name a decision in their paths; the
shape of its id is written here once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["DECISION_ID_PATTERN", "DecisionId"]

DECISION_ID_PATTERN = r"^[0-9a-f]{32}$"
DecisionId = Annotated[str, Path(pattern=DECISION_ID_PATTERN)]
