"""Deciding a block of rows at once: a batch's path, with the HTTP path's records.

A batch (``glassbox batch``) explains a whole block of rows in ONE TreeSHAP call over the
encoded matrix, instead of one call per row, and then makes each row's decision from its own
slice with the functions a decision over HTTP uses: :func:`api.decisions.service.
scored_classifier` words the factors and reasons, :func:`api.decisions.records.compose_decision`
composes the record (:func:`compose_block`), and :func:`api.decisions.service.hand_over` hands
it to the one group-commit writer, which seals it under the person's key and chains its log
entry (:func:`submit_composed`). A batch
decision is therefore the same record as an HTTP one: same explanation values, factors, notice,
seal and log entry. What a block saves is per-row overhead only -- one explainer call, one
objection query, one row-MAC key, no event loop or thread hand-over per row.

The explaining half (:class:`BlockExplainer`) holds no database and no secret, and pickles: the
Spark engine ships it once to each executor, which sends back each row's validated features,
encoded row and SHAP values; :meth:`BlockExplainer.rebuild` turns them back into the
explanations on the driver, where :func:`decide_block` records them. Composing needs no
database either, so the local engine composes in worker processes (:mod:`api.batch.workers`)
and hands the :class:`Composed` records over in the process that holds the writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from api.context import AppContext
from api.core.applications import subject_pseudonym
from api.core.database import Base
from api.core.errors import ProblemError
from api.core.security import Principal
from api.core.settings import Settings
from api.core.tokens import SUBJECT_TOKEN_TTL, issue_subject_token
from api.decisions.errors import ProfileModelError
from api.decisions.integrity import row_mac_key
from api.decisions.records import DecisionRecord, Scored, compose_decision, subject_link
from api.decisions.runtime import ServedModel
from api.decisions.schemas import DecisionCreate
from api.decisions.service import (
    decision_cells,
    hand_over,
    objection_refusal,
    paused_check,
    refused_if_erased,
    scored_classifier,
)
from api.decisions.validation import FeatureProblemsError, validate_features
from api.monitoring.figures import check_monitoring
from api.rights.preferences import objected_among
from api.vault.sealing import Counted
from explain import Explanation, TreeExplainer
from models.spec import ModelSpec

__all__ = [
    "LEFT_WITH_COMPOSER",
    "BlockDecision",
    "BlockExplainer",
    "Composed",
    "Explained",
    "SubmittedBlock",
    "compose_block",
    "decide_block",
    "finish_block",
    "submit_block",
    "submit_composed",
]

# A row as the explaining half leaves it: its validated features and explanation, or why the
# features do not fit the spec.
Explained = tuple[dict[str, Any], Explanation] | FeatureProblemsError


@dataclass(frozen=True)
class BlockExplainer:
    """Validates, encodes and explains a block of feature rows in one TreeSHAP call.

    Attributes
    ----------
    name, version : str, int
        The model version it explains for (a Spark executor keeps one per version).
    spec : ModelSpec
        The served spec (its categories as the model learned them).
    encoder : SpecEncoder
        The pipeline's encoding step.
    explainer : TreeExplainer
        The served version's explainer.
    """

    name: str
    version: int
    spec: ModelSpec
    encoder: Any
    explainer: TreeExplainer

    @classmethod
    def of(cls, served: ServedModel) -> BlockExplainer:
        """The explaining half of a served classifier.

        Raises
        ------
        ProfileModelError
            ``served`` builds profiles, not decisions.
        ValueError
            ``served`` is a recommender or decides by rules: it has no block path.
        """
        if served.is_profile:
            raise ProfileModelError(f"the {served.name} model builds profiles, not decisions")
        if served.is_recommender or served.is_rules:
            raise ValueError(f"the {served.name} model has no block path (not a classifier)")
        return cls(served.name, served.version, served.spec, served.encoder, served.explainer)

    def encode(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any] | FeatureProblemsError], NDArray[np.float64]]:
        """Each row's validated features (or its problems), and the matrix of the valid ones.

        Returns
        -------
        tuple
            One entry per row, in order, and an (n_valid, n_features) matrix of the valid rows,
            in their order.
        """
        validated: list[dict[str, Any] | FeatureProblemsError] = []
        encoded: list[NDArray[np.float64]] = []
        for row in rows:
            try:
                features = validate_features(self.spec, row)
            except FeatureProblemsError as exc:
                validated.append(exc)
                continue
            validated.append(features)
            encoded.append(self.encoder.encode_row(features))
        matrix = np.vstack(encoded) if encoded else np.zeros((0, self.explainer.n_features))
        return validated, matrix

    def explain(self, rows: Sequence[Mapping[str, Any]]) -> list[Explained]:
        """Validate and explain a block of feature rows with one explainer call.

        Parameters
        ----------
        rows : sequence of mapping
            Each row's features as a request sends them.

        Returns
        -------
        list
            Per row, in order: ``(features, explanation)``, or the row's
            :class:`~api.decisions.validation.FeatureProblemsError`.
        """
        validated, matrix = self.encode(rows)
        return self.rebuild(validated, matrix, self.explainer.values(matrix))

    def rebuild(
        self,
        validated: Sequence[dict[str, Any] | FeatureProblemsError],
        matrix: NDArray[np.float64],
        values: NDArray[np.float64],
    ) -> list[Explained]:
        """The explanations of a block from its SHAP values, computed here or by an executor.

        Parameters
        ----------
        validated : sequence
            As :meth:`encode` gives it.
        matrix, values : ndarray of shape (n_valid, n_features)
            The valid rows' encoded matrix and SHAP values.

        Returns
        -------
        list
            As :meth:`explain`.
        """
        explanations = iter(self.explainer.explanations(values, matrix))
        return [
            item if isinstance(item, FeatureProblemsError) else (item, next(explanations))
            for item in validated
        ]


@dataclass(frozen=True)
class BlockDecision:
    """A row's decision, written and acknowledged: its record and the person's link."""

    record: DecisionRecord
    link: str


@dataclass(frozen=True)
class Composed:
    """A row's decision composed and not yet handed to the writer (:func:`compose_block`).

    Plain data that pickles: a batch's worker processes compose rows and send them to the
    process that holds the writer. What crosses is what that process writes: the record's
    ``scored`` (the explanation's arrays, about two thirds of the time it takes to unpickle a
    record) stays in the process that composed it -- its content is in the sealed fields --
    and arrives as :data:`LEFT_WITH_COMPOSER`.

    Attributes
    ----------
    record : DecisionRecord
        The decision.
    counts : Counted
        Its monitoring cells.
    human_only : bool
        The oversight mode it was composed under (a change before it is written recomposes it).
    link : str, optional
        The person's link, issued when it was composed (a batch's workers do it); None to
        issue it once the decision is written.
    """

    record: DecisionRecord
    counts: Counted
    human_only: bool
    link: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # The cells' table goes by its name: a pickled Table would carry the whole metadata,
        # unpickled again for every block a worker sends back (about 100 µs a row).
        table, cells = self.counts
        r = self.record
        return (
            _composed,
            (
                (r.row, r.personal, r.entry_body, r.logged, r.review_reasons, r.notice),
                (r.outcome_label, r.role),
                (table.name, cells),
                self.human_only,
                self.link,
            ),
        )


# A record composed in another process carries this as its ``scored``: the scoring stays where
# it was computed (see :class:`Composed`).
LEFT_WITH_COMPOSER = Scored(explanation=None, data={}, factors=[])


def _composed(
    written: tuple[
        dict[str, Any], dict[str, bytes], dict[str, Any], bool, list[str], dict[str, str]
    ],
    wording: tuple[str, dict[str, Any]],
    counts: tuple[str, Sequence[Any]],
    human_only: bool,
    link: str | None,
) -> Composed:
    row, personal, entry_body, logged, review_reasons, notice = written
    outcome_label, role = wording
    record = DecisionRecord(
        row=row,
        personal=personal,
        entry_body=entry_body,
        logged=logged,
        review_reasons=review_reasons,
        notice=notice,
        scored=LEFT_WITH_COMPOSER,
        outcome_label=outcome_label,
        role=role,
    )
    table, cells = counts
    return Composed(record, (Base.metadata.tables[table], cells), human_only, link)


@dataclass(frozen=True)
class SubmittedBlock:
    """A block handed to the writer and not yet acknowledged (:func:`submit_block`).

    Attributes
    ----------
    outcomes : list
        Per row: its record, the writer's future and the person's link if it was issued
        already, or the problem that refused it.
    """

    outcomes: list[tuple[DecisionRecord, Future[Any], str | None] | ProblemError]


def compose_block(
    served: ServedModel,
    *,
    settings: Settings,
    requests: Sequence[DecisionCreate],
    explained: Sequence[Explained],
    decision_ids: Sequence[str | None],
    principal: Principal,
    human_only: bool,
    issue_links: bool = False,
) -> list[Composed | ProblemError]:
    """Compose a block's decisions, as :func:`api.decisions.service.submit_decision` would.

    Touches no database and no writer: each row's checks that need none (its features, its
    monitoring groups), its wording and its record. Whether the person objected is looked up
    when the block is handed over (:func:`submit_composed`).

    Parameters
    ----------
    served : ServedModel
        The deciding version (that explained the rows).
    settings : Settings
        The service's settings (pseudonym and row-MAC keys, public URL).
    requests, explained, decision_ids, principal
        As :func:`decide_block`.
    human_only : bool
        The model's oversight mode hands every decision to a person.
    issue_links : bool
        Also issue each person's link now (:attr:`Composed.link`), where a batch's worker
        process composes; it is handed to the application only once the row is written.

    Returns
    -------
    list
        Per row, in order: its :class:`Composed` decision, or the problem that refuses it.
    """
    mac_key = row_mac_key(settings.key_encryption_key.get_secret_value())
    signing_key = settings.token_signing_key.get_secret_value()
    composed: list[Composed | ProblemError] = []
    for request, item, decision_id in zip(requests, explained, decision_ids, strict=True):
        if isinstance(item, ProblemError):
            composed.append(item)
            continue
        try:
            groups = check_monitoring(served.spec, request.monitoring)
        except ProblemError as exc:
            composed.append(exc)
            continue
        features, explanation = item
        scored = scored_classifier(served, explanation, features=features, locale=request.locale)
        record = compose_decision(
            served,
            scored,
            request=request,
            subject_pseudonym=subject_pseudonym(
                settings, subject_ref=request.subject_ref, principal=principal
            ),
            application_key_id=principal.key_id,
            public_url=settings.public_url,
            mac_key=mac_key,
            decision_id=decision_id,
            decided_at=datetime.now(UTC),
            human_only=human_only,
            groups=groups,
        )
        composed.append(
            Composed(
                record,
                decision_cells(served, scored, record.row, groups),
                human_only,
                _link(signing_key, record) if issue_links else None,
            )
        )
    return composed


def _link(signing_key: bytes, record: DecisionRecord) -> str:
    """The link that carries the person's token for ``record``."""
    token, _ = issue_subject_token(
        signing_key,
        pseudonym=record.row["subject_pseudonym"],
        decision_id=record.decision_id,
        ttl=SUBJECT_TOKEN_TTL,
        now=record.row["created_at"],
    )
    return subject_link(record.notice["contest_url"], token)


def submit_composed(
    context: AppContext, served: ServedModel, composed: Sequence[Composed | ProblemError]
) -> SubmittedBlock:
    """Hand a block's composed decisions to the writer, without waiting for it.

    A person who objected (Art. 21) to what ``served`` does has their row refused here: one
    query for the block instead of one per row, and fraud screening never pays for it.
    """
    pseudonyms = [c.record.row["subject_pseudonym"] for c in composed if isinstance(c, Composed)]
    objected = objected_among(context, pseudonyms) if served.spec.policy.objection_stops else set()
    outcomes: list[tuple[DecisionRecord, Future[Any], str | None] | ProblemError] = []
    for item in composed:
        if isinstance(item, ProblemError):
            outcomes.append(item)
        elif item.record.row["subject_pseudonym"] in objected:
            outcomes.append(objection_refusal(served))
        else:
            written = hand_over(context, served, item.record, item.counts)
            outcomes.append((item.record, written, item.link))
    return SubmittedBlock(outcomes)


def submit_block(
    context: AppContext,
    *,
    served: ServedModel,
    requests: Sequence[DecisionCreate],
    explained: Sequence[Explained],
    decision_ids: Sequence[str | None],
    principal: Principal,
) -> SubmittedBlock:
    """Compose a block's decisions and hand them to the writer, without waiting for it.

    The first half of :func:`decide_block` (parameters as there): a batch submits the next
    block while the writer seals and commits this one, then waits for it with
    :func:`finish_block`. Nothing is acknowledged before :func:`finish_block`.

    Raises
    ------
    api.decisions.errors.ModelPausedError
        An admin paused the model: the whole block is refused.
    """
    oversight = paused_check(context, served)
    return submit_composed(
        context,
        served,
        compose_block(
            served,
            settings=context.settings,
            requests=requests,
            explained=explained,
            decision_ids=decision_ids,
            principal=principal,
            human_only=oversight.human_only,
        ),
    )


def finish_block(
    context: AppContext, submitted: SubmittedBlock
) -> list[BlockDecision | ProblemError]:
    """Wait for a submitted block's writes: each row's decision and link, or its refusal.

    The second half of :func:`decide_block`, whose result it returns.
    """
    signing_key = context.settings.token_signing_key.get_secret_value()
    results: list[BlockDecision | ProblemError] = []
    for outcome in submitted.outcomes:
        if isinstance(outcome, ProblemError):
            results.append(outcome)
            continue
        record, written, link = outcome
        try:
            with refused_if_erased():
                written.result()
        except ProblemError as exc:
            results.append(exc)
            continue
        results.append(BlockDecision(record, link or _link(signing_key, record)))
    return results


def decide_block(
    context: AppContext,
    *,
    served: ServedModel,
    requests: Sequence[DecisionCreate],
    explained: Sequence[Explained],
    decision_ids: Sequence[str | None],
    principal: Principal,
) -> list[BlockDecision | ProblemError]:
    """Record a block of explained rows as decisions, each as :func:`create_decision` would.

    Every row is refused or recorded on its own: bad features (each problem naming its field),
    an objection (Art. 21), an erasure (Art. 17) or a restriction (Art. 18) refuses that row
    and no other. The records are submitted together, so the writer seals and commits them in
    few transactions, then waited for (:func:`submit_block`, then :func:`finish_block`).

    Parameters
    ----------
    context : AppContext
        The running service, its writer started.
    served : ServedModel
        The deciding version (that explained the rows).
    requests : sequence of DecisionCreate
        One request per row (subject, locale, legal basis).
    explained : sequence
        Per row, from :meth:`BlockExplainer.explain` or :meth:`BlockExplainer.rebuild`.
    decision_ids : sequence of str or None
        Per row, the decision's id (a batch's stable ids); a fresh one for None.
    principal : Principal
        The application asking.

    Returns
    -------
    list
        Per row, in order: its :class:`BlockDecision`, or the problem that refused it.

    Raises
    ------
    api.decisions.errors.ModelPausedError
        An admin paused the model: the whole block is refused.
    """
    return finish_block(
        context,
        submit_block(
            context,
            served=served,
            requests=requests,
            explained=explained,
            decision_ids=decision_ids,
            principal=principal,
        ),
    )
