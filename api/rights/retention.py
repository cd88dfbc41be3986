"""The retention job: shred, per category, every data key whose year has fully aged out.

Per category (from the specs) every subject's keys of the years that have aged out -- see
:mod:`api.rights.policies` for the rule -- are shredded, except for subjects under an open
review case (Art. 17(3)(e)); before them, what a legal hold kept of an erased person is
shredded once the hold has lapsed. The log's
entries are never touched, so the chain still verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.audit.log import append_entries
from api.audit.schemas import EntryKind, LogEntryCreate
from api.core.database import write_transaction
from api.core.timestamps import utc_now
from api.reviews.holds import active_cases
from api.rights.erasure import finish_held_erasures
from api.rights.policies import key_expires_at, retention_policies
from api.vault.keys import count_expired_keys, scrub_storage, shred_expired_keys
from models.spec import ModelSpec, Retention

__all__ = ["RetentionReport", "run_retention"]


def _held_subjects(session: Session) -> set[str]:
    return {case.subject_pseudonym for case in active_cases(session)}


@dataclass
class RetentionReport:
    """What a retention run did (or, dry, would do)."""

    now: datetime
    dry_run: bool
    # category -> (last expired year or None, keys shredded)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    held_subjects: int = 0
    erasures_completed: int = 0
    erasures_pending: int = 0
    keys_shredded: int = 0
    log_entry_id: str | None = None

    def body(self) -> dict[str, Any]:
        """The report as JSON-ready data (also the ``retention`` log entry's body)."""
        return {
            "now": self.now,
            "dry_run": self.dry_run,
            "categories": self.categories,
            "held_subjects": self.held_subjects,
            "keys_shredded": self.keys_shredded,
            "erasures_completed": self.erasures_completed,
            "erasures_pending": self.erasures_pending,
        }


def _last_expired_epoch(retention: Retention, now: datetime) -> int | None:
    """The latest year whose key has outlived the period at ``now`` (None if none has)."""
    year = now.year
    while year > 1970 and key_expires_at(retention, year) > now:
        year -= 1
    return year if year > 1970 else None


def run_retention(
    sessions: Callable[[], Session],
    *,
    specs: Iterable[ModelSpec] = (),
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    engine: Engine | None = None,
) -> RetentionReport:
    """Apply each category's retention period and finish erasures whose holds lapsed.

    Per category (from the specs), every subject's keys of the years that have aged out (see
    :mod:`api.rights.policies` for the rule) are shredded, except for subjects under an open
    review case. Then every erased person whose data a hold kept is re-planned at ``now``: what
    is no longer held is shredded and added to their erasure request's outcome. One
    ``retention`` entry with the counts is appended to the log (not on a dry run). Idempotent:
    a second run at the same time shreds nothing. Never touches ``log_entry`` otherwise, so the
    chain still verifies.

    Parameters
    ----------
    sessions : callable
        A session factory.
    specs : iterable of ModelSpec
        Specs in service, overriding the shipped ones of the same name.
    now : datetime, optional
        The clock (the current time by default).
    dry_run : bool
        Count what would be shredded; change nothing.
    progress : callable, optional
        Called with a line of text per step.
    engine : Engine, optional
        When given, the storage is scrubbed after shredding
        (:func:`~api.vault.keys.scrub_storage`).

    Returns
    -------
    RetentionReport
        The counts.
    """
    when = utc_now(now)
    say = progress or (lambda _line: None)
    policies = retention_policies(specs)
    report = RetentionReport(now=when, dry_run=dry_run)
    with sessions() as session, write_transaction(session):
        held = _held_subjects(session)
        report.held_subjects = len(held)
        # Erased people first, so that what their holds released is added to their request.
        finished = finish_held_erasures(session, policies=policies, now=when, dry_run=dry_run)
        report.keys_shredded += finished.keys_shredded
        report.erasures_completed = finished.completed
        report.erasures_pending = finished.pending
        say(
            f"erasures: {report.erasures_completed} completed, {report.erasures_pending} still held"
        )
        for category, (retention, models) in sorted(policies.items()):
            through = _last_expired_epoch(retention, when)
            count = 0
            if through is not None:
                if dry_run:
                    count = count_expired_keys(
                        session, category=category, through_epoch=through, exclude=held
                    )
                else:
                    count = shred_expired_keys(
                        session, category=category, through_epoch=through, exclude=held, now=when
                    )
            report.categories[category] = {
                "models": models,
                "days": retention.days,
                "through_year": through,
                "keys_shredded": count,
            }
            report.keys_shredded += count
            say(f"{category}: {count} keys of {through or 'no year'} and before")
        if not dry_run:
            (entry,) = append_entries(
                session, entries=[LogEntryCreate(kind=EntryKind.RETENTION, body=report.body())]
            )
            report.log_entry_id = entry.entry_id
    if engine is not None and not dry_run and report.keys_shredded:
        scrub_storage(engine)
    return report
