"""A profile record, composed in one place: what the model made of the data, its notice, its row,
its sealed fields and its log entry.

Nothing here touches the database or the writer: :func:`compute_profile` scores and explains,
:func:`compose_profile` builds the record the group-commit writer seals and commits, and
:func:`profile_body` is the body the API answers with, from what was sealed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

import orjson
from sqlalchemy import Table

from api.audit.schemas import EntryKind
from api.core.ids import new_id
from api.core.timestamps import as_utc
from api.decisions.runtime import ServedModel
from api.decisions.validation import validate_features
from api.profiles.models import Profile
from api.vault.sealing import SealedRecord
from explain import main_factors, segment_factors, value_amount, value_factors
from models.spec import Locale, ModelSpec

__all__ = [
    "Computed",
    "ProfileRecord",
    "compose_profile",
    "compute_profile",
    "profile_body",
    "profile_url",
]

_TABLE = cast(Table, Profile.__table__)


@dataclass(frozen=True)
class Computed:
    """What a profile model made of one person's data, worded in one language.

    Attributes
    ----------
    data : dict
        The features as validated.
    outcome : str
        The tier (lifetime value), band (propensity) or segment.
    value : float, optional
        The estimate: an amount or a probability; None for a segment.
    explanation : dict
        The exact explanation as stored (``Explanation.to_dict`` or
        ``SegmentExplanation.to_dict``).
    shown : dict
        What the person reads: the outcome's label and description, the value formatted, the
        main factors; for a segment the runner-up and the margin.
    explainer_version : str
        What explained it.
    """

    data: dict[str, Any]
    outcome: str
    value: float | None
    explanation: dict[str, Any]
    shown: dict[str, Any]
    explainer_version: str


def compute_profile(
    served: ServedModel, features: Mapping[str, Any], *, locale: Locale
) -> Computed:
    """Validate the features, score and explain them exactly, and word the result.

    Parameters
    ----------
    served : ServedModel
        A profile model (kinds ``lifetime_value``, ``propensity``, ``segments``).
    features : mapping
        The features as the application sent them.
    locale : {"en", "es"}
        The language of what the person reads.

    Returns
    -------
    Computed
        The outcome, the value, the explanation and its words.

    Raises
    ------
    api.decisions.validation.FeatureProblemsError
        The features do not fit the model's spec.
    """
    spec = served.spec
    assert spec.profile is not None
    data = validate_features(spec, features)
    encoded = served.encoder.encode_row(data)
    if spec.kind == "segments":
        assert served.segment_explainer is not None
        assignment = served.segment_explainer.explain(encoded)
        segment = spec.profile.segments[assignment.segment]
        runner_up = spec.profile.segments[assignment.runner_up]
        return Computed(
            data=data,
            outcome=segment.name,
            value=None,
            explanation=assignment.to_dict(),
            shown={
                "outcome_label": segment.label.get(locale),
                "description": segment.description.get(locale),
                "runner_up": {"segment": runner_up.name, "label": runner_up.label.get(locale)},
                "margin": assignment.margin,
                "contributions": dict(
                    zip(spec.feature_names, assignment.values.tolist(), strict=True)
                ),
                "factors": [
                    f.to_dict()
                    for f in segment_factors(assignment, spec, locale=locale, raw_values=data)
                ],
            },
            explainer_version=assignment.explainer_version,
        )
    explanation = served.explainer.explain(encoded)
    contributions = dict(zip(spec.feature_names, explanation.values.tolist(), strict=True))
    if spec.kind == "lifetime_value":
        tier = spec.profile.tier_for(explanation.score)
        shown = {
            "outcome_label": tier.label.get(locale),
            "description": tier.description.get(locale),
            "display_value": value_amount(spec, explanation.score, locale),
            "unit": (spec.profile.unit_forms(locale) or ("", ""))[1] or None,
            "factors": [
                f.to_dict()
                for f in value_factors(explanation, spec, locale=locale, raw_values=data)
            ],
        }
        outcome = tier.name
    else:
        band = spec.policy.band_for(explanation.score)
        shown = {
            "outcome_label": band.label.get(locale),
            "description": band.consequence.get(locale),
            "display_value": f"{explanation.score:.0%}",
            "unit": None,
            "factors": [
                f.to_dict() for f in main_factors(explanation, spec, locale=locale, raw_values=data)
            ],
        }
        outcome = band.outcome
    return Computed(
        data=data,
        outcome=outcome,
        value=explanation.score,
        explanation=explanation.to_dict(),
        shown={
            **shown,
            "base_value": explanation.base_value,
            "margin": explanation.margin,
            "contributions": contributions,
        },
        explainer_version=explanation.explainer_version,
    )


def profile_url(public_url: str, profile_id: str) -> str:
    """Where the person reads a profile: the subject site, at the profile.

    Returns
    -------
    str
        ``{public_url}/subject/#profile=<id>``.
    """
    return f"{public_url.rstrip('/')}/subject/#profile={profile_id}"


def _notice(spec: ModelSpec, computed: Computed, locale: Locale, url: str) -> dict[str, str]:
    text = spec.notice.get(locale).format(
        outcome=computed.shown["outcome_label"],
        consequence=computed.shown["description"],
        contest_url=url,
        reasons="",
    )
    return {"text": " ".join(text.split()), "url": url}


@dataclass(frozen=True)
class ProfileRecord:
    """A profile, composed and not yet written.

    Attributes
    ----------
    row : dict
        The ``profile`` row's plain columns.
    personal : dict of str to bytes
        What the writer seals under the person's key, in the log entry: the data used, the
        explanation with its words, the notice.
    entry_body : dict
        The log entry's non-personal body.
    sealed : dict
        The same fields, unsealed, for the response body.
    """

    row: dict[str, Any]
    personal: dict[str, bytes]
    entry_body: dict[str, Any]
    sealed: dict[str, Any]

    @property
    def profile_id(self) -> str:
        """The profile's id."""
        return str(self.row["profile_id"])

    def for_writer(self) -> SealedRecord:
        """The unit the group-commit writer seals and commits: always logged (Art. 15(1)(h)
        needs the record to exist), sealed under the key of the spec's retention category."""
        return SealedRecord(
            table=_TABLE,
            row_id_column="profile_id",
            values=self.row,
            subject_pseudonym=self.row["subject_pseudonym"],
            personal=self.personal,
            entry_kind=EntryKind.PROFILE,
            entry_body=self.entry_body,
            entry_column="log_entry_id",
            key_category=self.row["key_category"],
            key_epoch=self.row["key_epoch"],
        )


def compose_profile(
    served: ServedModel,
    computed: Computed,
    *,
    locale: Locale,
    subject_pseudonym: str,
    application_key_id: str,
    public_url: str,
    profile_id: str | None = None,
    created_at: datetime | None = None,
) -> ProfileRecord:
    """Compose a profile record for the writer.

    Parameters
    ----------
    served : ServedModel
        The model version that built it.
    computed : Computed
        What it made of the data (:func:`compute_profile`).
    locale : {"en", "es"}
        The language it was worded in.
    subject_pseudonym : str
        Whom it is about, in the asking application's scope.
    application_key_id : str
        The API key that asked.
    public_url : str
        The service's public base URL, for the notice's link.
    profile_id : str, optional
        A fresh id when omitted; a batch gives each row a stable one, so that a re-run writes
        nothing twice.
    created_at : datetime, optional
        Now when omitted.

    Returns
    -------
    ProfileRecord
        Ready for the writer.
    """
    spec = served.spec
    profile_id = profile_id or new_id()
    created_at = created_at or datetime.now(UTC)
    url = profile_url(public_url, profile_id)
    notice = _notice(spec, computed, locale, url)
    explanation = {"explanation": computed.explanation, **computed.shown}
    row = {
        "profile_id": profile_id,
        "created_at": created_at,
        "model_name": served.name,
        "model_version": served.version,
        "run_id": served.run_id,
        "kind": spec.kind,
        "policy_version": spec.policy.version,
        "explainer_version": computed.explainer_version,
        "outcome": computed.outcome,
        "value": computed.value,
        "locale": locale,
        "application_key_id": application_key_id,
        "subject_pseudonym": subject_pseudonym,
        "key_category": spec.retention.category,
        "key_epoch": created_at.year,
    }
    entry_body = {
        "profile_id": profile_id,
        "built_at": created_at,
        "model": served.name,
        "model_version": served.version,
        "run_id": served.run_id,
        "kind": spec.kind,
        "policy_version": spec.policy.version,
        "explainer_version": computed.explainer_version,
        "outcome": computed.outcome,
        "value": repr(computed.value) if computed.value is not None else None,
        "application_key_id": application_key_id,
    }
    sealed = {"features": computed.data, "explanation": explanation, "notice": notice}
    return ProfileRecord(
        row=row,
        personal={name: orjson.dumps(value) for name, value in sealed.items()},
        entry_body=entry_body,
        sealed=sealed,
    )


def profile_body(
    row: Mapping[str, Any],
    sealed: Mapping[str, Any],
    spec: ModelSpec | None,
    *,
    token: str | None = None,
    token_expires_at: datetime | None = None,
) -> dict[str, Any]:
    """A profile as the API shows it (``ProfileRead``), from its row and its sealed fields.

    Parameters
    ----------
    row : mapping
        The ``profile`` row's columns.
    sealed : mapping
        Its opened fields: ``features``, ``explanation``, ``notice``.
    spec : ModelSpec, optional
        The model as served, for its logic and purpose; None if no longer served.
    token : str, optional
        The subject token issued with it (only when it is built).
    token_expires_at : datetime, optional
        When that token expires.

    Returns
    -------
    dict
        The body.
    """
    shown = sealed["explanation"]
    notice = dict(sealed["notice"])
    notice.update(
        subject_token=token,
        token_expires_at=token_expires_at.isoformat() if token_expires_at else None,
        link=f"{notice['url']}&token={quote(token, safe='.-_')}" if token else None,
    )
    profile = spec.profile if spec is not None else None
    return {
        "id": row["profile_id"],
        "created_at": as_utc(row["created_at"]).isoformat(),
        "kind": row["kind"],
        "model": {
            "name": row["model_name"],
            "version": row["model_version"],
            "run_id": row["run_id"],
        },
        "policy_version": row["policy_version"],
        "explainer_version": row["explainer_version"],
        "locale": row["locale"],
        "outcome": row["outcome"],
        "outcome_label": shown["outcome_label"],
        "description": shown["description"],
        "value": row["value"],
        "display_value": shown.get("display_value"),
        "unit": shown.get("unit"),
        "base_value": shown.get("base_value"),
        "margin": shown["margin"],
        "contributions": shown["contributions"],
        "runner_up": shown.get("runner_up"),
        "factors": shown["factors"],
        "explanation": shown["explanation"],
        "data_provided": sealed["features"],
        "logic": (spec.logic or spec.description).model_dump() if spec is not None else None,
        "purpose": spec.policy.purpose if spec is not None else None,
        "legal_effect": False,
        "on_objection": profile.on_objection if profile is not None else None,
        "retention": {
            "category": row["key_category"],
            "days": spec.retention.days if spec is not None else None,
            "legal_basis": spec.retention.legal_basis.model_dump() if spec is not None else None,
        },
        "notice": notice,
    }
