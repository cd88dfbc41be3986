"""What every side of a case shares: its fields live and die with the decision's key."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import verify_log
from api.decisions.errors import SubjectErasedError
from api.decisions.runtime import ModelRegistry
from api.reviews.contest import get_subject_case
from api.reviews.queue import claim_case, get_case_for_reviewer
from api.reviews.resolution import resolve_case
from api.vault.keys import shred_subject_key
from tests.api.reviews.support import LEASE, decide, open_contest, subject


def test_an_erased_persons_case_is_refused_not_broken(
    session_factory: sessionmaker[Session],
    kek: bytes,
    version: int,
    risky: dict[str, Any],
    registry: ModelRegistry,
) -> None:
    decision_id = decide(session_factory, kek, version, risky)
    case_id = open_contest(session_factory, kek, decision_id)
    with session_factory() as session:
        claim_case(session, case_id=case_id, reviewer="r1", lease=LEASE)
    with session_factory() as session:
        shred_subject_key(session, pseudonym=subject("a"))
    with session_factory() as session:
        for attempt in (
            lambda: get_case_for_reviewer(session, case_id=case_id, models=registry, kek=kek),
            lambda: get_subject_case(session, pseudonym=subject("a"), case_id=case_id, kek=kek),
            lambda: resolve_case(
                session,
                case_id=case_id,
                reviewer="r1",
                resolution="uphold",
                outcome=None,
                rationale="x",
                models=registry,
                kek=kek,
            ),
        ):
            with pytest.raises(SubjectErasedError):
                attempt()
        assert verify_log(session).ok
