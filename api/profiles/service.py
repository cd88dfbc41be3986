"""Building, reading and erasing profiles.

A profile is built like a decision is taken: the application's subject reference becomes a
pseudonym in its scope, the person's objection (Art. 21) is asked first, the model scores and
explains in one call, and the record goes through the one group-commit writer, which seals it
under the person's data key of the spec's retention category and chains its log entry. It is
acknowledged only once committed. Unlike a decision it has no legal effect: no contest, no
review, no webhook.

An objection switches profiling off for the person: later profiles are refused
(:class:`ProfilingObjectedError`), and the profiles already built are erased -- their data key
shredded -- where the spec says ``on_objection: erase``, or kept for their retention period
for the reason the spec gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Collection, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.audit.log import get_entry
from api.context import AppContext
from api.core.applications import subject_pseudonym
from api.core.crypto import DecryptionError, KeyNotFoundError, KeyShredded
from api.core.database import write_transaction
from api.core.errors import StoredDataError
from api.core.security import Principal
from api.core.timestamps import as_utc, utc_now
from api.core.tokens import SUBJECT_TOKEN_TTL, issue_subject_token
from api.decisions.errors import ModelPausedError
from api.decisions.models import Decision
from api.decisions.runtime import ModelNotServedError, ServedModel
from api.profiles.errors import (
    NotAProfileModelError,
    ProfilingObjectedError,
    SubjectUnprofilableError,
)
from api.profiles.models import Profile
from api.profiles.records import ProfileRecord, compose_profile, compute_profile, profile_body
from api.profiles.schemas import ProfileCreate
from api.rights.preferences import has_objected, objected_among
from api.vault.errors import ProcessingRestricted
from api.vault.keys import data_key_for, shred_data_keys
from api.vault.sealing import open_entry_field
from models.spec import ModelSpec

__all__ = [
    "create_profile",
    "erase_on_objection",
    "existing_profiles",
    "finish_profile",
    "objected_pseudonyms",
    "prepare_profile",
    "profile_model",
    "recorded_profile",
    "subject_profiles",
]


def profile_model(context: AppContext, *, model_name: str) -> ServedModel:
    """The served profile model of that name.

    Raises
    ------
    NotAProfileModelError
        No model of that name is served, or it takes decisions rather than profiles.
    ModelPausedError
        An admin paused it (AI Act Art. 14(4)(e)).
    """
    try:
        served = context.models.get(model_name)
    except ModelNotServedError:
        raise NotAProfileModelError(f"no profile model {model_name!r} is served") from None
    if not served.is_profile:
        raise NotAProfileModelError(
            f"the {served.name} model takes decisions, not profiles: POST /v1/decisions/"
            f"{served.name}"
        )
    oversight = context.oversight.mode(served.name)
    if oversight.paused:
        raise ModelPausedError(
            f"the {served.name} model is paused by an administrator; no profile is built until "
            f"it is resumed. Reason given: {oversight.reason}"
        )
    return served


def prepare_profile(
    context: AppContext,
    *,
    served: ServedModel,
    request: ProfileCreate,
    principal: Principal,
    profile_id: str | None = None,
    created_at: datetime | None = None,
    objected: Collection[str] | None = None,
) -> ProfileRecord:
    """Check the person's objection, compute and compose one profile (not yet written).

    Parameters
    ----------
    context : AppContext
        The running service.
    served : ServedModel
        The profile model (:func:`profile_model`).
    request : ProfileCreate
        Subject reference, features, language.
    principal : Principal
        The application asking: the pseudonym's scope.
    profile_id : str, optional
        A stable id (a batch row's); fresh when omitted.
    created_at : datetime, optional
        Now when omitted.
    objected : collection of str, optional
        The pseudonyms, among a batch's chunk, whose objection stands (read in one query,
        :func:`api.rights.preferences.objected_among`); asked for this person when omitted.

    Returns
    -------
    ProfileRecord
        For :meth:`api.audit.writer.LogWriter.submit_record`.

    Raises
    ------
    ProfilingObjectedError
        The person objected to profiling (Art. 21).
    api.decisions.validation.FeatureProblemsError
        The features do not fit the model's spec.
    """
    settings = context.settings
    pseudonym = subject_pseudonym(settings, subject_ref=request.subject_ref, principal=principal)
    stands = pseudonym in objected if objected is not None else has_objected(context, pseudonym)
    if stands:
        raise ProfilingObjectedError(
            f"this person objected to profiling (Art. 21 GDPR); no {served.name} profile is "
            "built about them until they withdraw their objection"
        )
    computed = compute_profile(served, request.features, locale=request.locale)
    return compose_profile(
        served,
        computed,
        locale=request.locale,
        subject_pseudonym=pseudonym,
        application_key_id=principal.key_id,
        public_url=settings.public_url,
        profile_id=profile_id,
        created_at=created_at,
    )


def objected_pseudonyms(
    context: AppContext, *, subject_refs: Collection[str], principal: Principal
) -> set[str]:
    """The pseudonyms, among these people of an application, whose objection stands (one
    query), for :func:`prepare_profile`'s ``objected``."""
    pseudonyms = {
        subject_pseudonym(context.settings, subject_ref=ref, principal=principal)
        for ref in subject_refs
    }
    return objected_among(context, pseudonyms)


def finish_profile(
    context: AppContext, record: ProfileRecord, written: Future[Any], spec: ModelSpec
) -> dict[str, Any]:
    """Wait for a submitted profile to commit and give its body, with the person's token.

    Raises
    ------
    SubjectUnprofilableError
        The person's data was erased (Art. 17) or they restricted processing (Art. 18).
    """
    try:
        written.result()
    except KeyShredded as exc:
        raise SubjectUnprofilableError(
            "the data of this person was erased; no new profile is recorded about them"
        ) from exc
    except ProcessingRestricted as exc:
        raise SubjectUnprofilableError(
            "this person restricted the processing of their data (Art. 18 GDPR); no profile is "
            "built about them until they lift it"
        ) from exc
    return _body_with_token(context, record, spec)


def _body_with_token(
    context: AppContext, record: ProfileRecord, spec: ModelSpec | None, now: datetime | None = None
) -> dict[str, Any]:
    token, claims = issue_subject_token(
        context.settings.token_signing_key.get_secret_value(),
        pseudonym=record.row["subject_pseudonym"],
        decision_id=record.profile_id,
        ttl=SUBJECT_TOKEN_TTL,
        now=now or record.row["created_at"],
    )
    return profile_body(
        record.row, record.sealed, spec, token=token, token_expires_at=claims.expires_at
    )


async def create_profile(
    context: AppContext, *, model_name: str, request: ProfileCreate, principal: Principal
) -> dict[str, Any]:
    """Build, explain, record and acknowledge one profile.

    Parameters
    ----------
    context : AppContext
        The running service.
    model_name : str
        The profile model.
    request : ProfileCreate
        The request.
    principal : Principal
        The application asking.

    Returns
    -------
    dict
        A ``ProfileRead`` body, with the person's token and link.

    Raises
    ------
    NotAProfileModelError, ModelPausedError
        As :func:`profile_model`.
    ProfilingObjectedError, api.decisions.validation.FeatureProblemsError
        As :func:`prepare_profile`.
    SubjectUnprofilableError
        As :func:`finish_profile`.
    """
    served = profile_model(context, model_name=model_name)
    record = await run_in_threadpool(
        prepare_profile, context, served=served, request=request, principal=principal
    )
    written = context.writer.submit_record(record.for_writer())
    # Refusals are answered by finish_profile, from the same future.
    with contextlib.suppress(KeyShredded, ProcessingRestricted):
        await asyncio.wrap_future(written)
    return finish_profile(context, record, written, served.spec)


def recorded_profile(
    context: AppContext, *, profile_id: str, principal: Principal
) -> dict[str, Any] | None:
    """A profile recorded earlier, with a fresh token for the person, for the application
    that asked for it; None when there is no such profile or another application asked.

    A batch that crashed after the writer committed a row but before it wrote the row's result
    gives the notice and the link from here, instead of recording the profile twice.

    Raises
    ------
    SubjectUnprofilableError
        Its key was erased since (the person objected, or asked for erasure).
    """
    kek = context.settings.key_encryption_key.get_secret_value()
    with context.sessions() as session:
        row = session.get(Profile, profile_id)
        if row is None or row.application_key_id != principal.key_id:
            return None
        try:
            sealed = _open(session, row, kek)
        except (KeyShredded, KeyNotFoundError) as exc:
            raise SubjectUnprofilableError(
                "the profile was erased since it was built (an objection or an erasure)"
            ) from exc
        values = _row_dict(row)
    spec = _spec(context, values["model_name"])
    record = ProfileRecord(row=values, personal={}, entry_body={}, sealed=sealed)
    return _body_with_token(context, record, spec, now=utc_now())


def existing_profiles(session: Session, *, profile_ids: Collection[str]) -> set[str]:
    """Which of these profile ids are recorded already (a batch's re-run skips them)."""
    if not profile_ids:
        return set()
    found = session.scalars(
        select(Profile.profile_id).where(Profile.profile_id.in_(sorted(profile_ids)))
    )
    return set(found)


def _open(session: Session, row: Profile, kek: bytes) -> dict[str, Any]:
    """A profile's sealed fields, opened from its log entry.

    Raises
    ------
    KeyShredded, KeyNotFoundError
        Its key was erased (an objection, an erasure, the retention period).
    StoredDataError
        Its entry is missing or does not match the row's plain columns.
    """
    dek = data_key_for(
        session,
        pseudonym=row.subject_pseudonym,
        kek=kek,
        category=row.key_category,
        epoch=row.key_epoch,
        create=False,
    )
    entry = get_entry(session, entry_id=row.log_entry_id)
    if entry is None or entry.subject_pseudonym != row.subject_pseudonym:
        raise StoredDataError(f"profile {row.profile_id}: its log entry is missing")
    body = json.loads(entry.body)
    # The entry is chained; the row is not: what the row says must be what was logged.
    if (
        body.get("profile_id") != row.profile_id
        or body.get("outcome") != row.outcome
        or body.get("model") != row.model_name
        or body.get("model_version") != row.model_version
        or body.get("value") != (repr(row.value) if row.value is not None else None)
    ):
        raise StoredDataError(f"profile {row.profile_id}: its row differs from its log entry")
    try:
        return {
            name: json.loads(open_entry_field(dek, entry, name))
            for name in ("features", "explanation", "notice")
        }
    except KeyError as exc:
        raise StoredDataError(f"profile {row.profile_id}: its entry lacks {exc}") from exc


def _row_dict(row: Profile) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in Profile.__table__.columns}


def _spec(context: AppContext, name: str) -> ModelSpec | None:
    try:
        return context.models.get(name).spec
    except ModelNotServedError:
        return None


def subject_profiles(
    context: AppContext, *, pseudonym: str, newest_first: bool = True
) -> list[dict[str, Any]]:
    """Every profile built about a person, with its explanation, as they read it.

    A profile whose key was erased is listed with ``status: erased`` and nothing else that
    was sealed; one whose stored data fails its check as ``unreadable``.

    Parameters
    ----------
    context : AppContext
        The running service.
    pseudonym : str
        The person.
    newest_first : bool
        The person's page lists the newest first; an export reads as a history.

    Returns
    -------
    list of dict
        ``ProfileRead`` bodies (without tokens), each with its ``status``.
    """
    kek = context.settings.key_encryption_key.get_secret_value()
    order = Profile.created_at.desc() if newest_first else Profile.created_at
    with context.sessions() as session:
        rows = session.scalars(
            select(Profile)
            .where(Profile.subject_pseudonym == pseudonym)
            .order_by(order, Profile.profile_id)
        ).all()
        out = []
        for row in rows:
            base = {
                "id": row.profile_id,
                "created_at": as_utc(row.created_at).isoformat(),
                "kind": row.kind,
                "model": {"name": row.model_name, "version": row.model_version},
            }
            try:
                sealed = _open(session, row, kek)
            except (KeyShredded, KeyNotFoundError):
                out.append({**base, "status": "erased"})
                continue
            except (DecryptionError, StoredDataError):
                out.append({"id": row.profile_id, "status": "unreadable"})
                continue
            body = profile_body(_row_dict(row), sealed, _spec(context, row.model_name))
            out.append({**body, "status": "available"})
    return out


def _keys_to_erase(
    session: Session, *, pseudonym: str, categories: Iterable[str]
) -> set[tuple[str, int]]:
    """The person's profile keys of these categories that seal no decision of theirs."""
    wanted = sorted(set(categories))
    if not wanted:
        return set()
    keys = {
        (category, epoch)
        for category, epoch in session.execute(
            select(Profile.key_category, Profile.key_epoch)
            .where(Profile.subject_pseudonym == pseudonym, Profile.key_category.in_(wanted))
            .distinct()
        )
    }
    if not keys:
        return set()
    # A key a decision shares stays: an objection to profiling is not an erasure of decisions.
    shared = set(
        session.execute(
            select(Decision.key_category, Decision.key_epoch)
            .where(
                Decision.subject_pseudonym == pseudonym,
                tuple_(Decision.key_category, Decision.key_epoch).in_(sorted(keys)),
            )
            .distinct()
        ).tuples()
    )
    return keys - shared


def erase_on_objection(context: AppContext, *, pseudonym: str) -> int:
    """Erase a person's profiles after their objection, where the specs say so.

    The served profile models whose spec says ``on_objection: erase`` name the retention
    categories whose keys are shredded (the sealed profiles stay in the log, unreadable, and
    the chain still verifies); a spec that says ``keep`` keeps them for their period, for the
    reason it gives. A key that also seals a decision is kept.

    Parameters
    ----------
    context : AppContext
        The running service.
    pseudonym : str
        The person who objected.

    Returns
    -------
    int
        How many keys were shredded.
    """
    specs = [context.models.get(name).spec for name in context.models.names()]
    erase = {s.retention.category for s in specs if s.profile and s.profile.on_objection == "erase"}
    keep = {s.retention.category for s in specs if s.profile and s.profile.on_objection == "keep"}
    # A category a "keep" spec shares is kept: its reason to keep holds for the whole key.
    with context.sessions() as session, write_transaction(session):
        keys = _keys_to_erase(session, pseudonym=pseudonym, categories=erase - keep)
        return shred_data_keys(session, pseudonym=pseudonym, keys=keys) if keys else 0
