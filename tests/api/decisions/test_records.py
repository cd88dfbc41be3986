"""A decision composed in one place: the contest URL, the automated record, the human one.

No database and no writer: :mod:`api.decisions.records` composes, it does not store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from api.audit.schemas import EntryKind
from api.core.crypto import decrypt_field, field_aad, new_data_key
from api.decisions.integrity import COVERED_COLUMNS, row_mac, row_mac_key
from api.decisions.models import Decision
from api.decisions.records import (
    HumanReview,
    compose_decision,
    compose_human_decision,
    contest_url,
    subject_link,
)
from api.decisions.runtime import ModelRegistry, ServedModel
from api.decisions.schemas import DecisionCreate
from api.decisions.service import score_request
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

MAC_KEY = row_mac_key(b"k" * 32)


@pytest.fixture(scope="module")
def fraud(trained: TrainedModels) -> ServedModel:
    return ModelRegistry(trained.tracking_uri).reload("fraud")


@pytest.fixture(scope="module")
def risky(trained: TrainedModels) -> dict[str, Any]:
    return fraud_rows(trained)[0]


def test_the_contest_url_has_one_shape() -> None:
    assert contest_url("https://gb.example/", "ab" * 16) == (
        "https://gb.example/subject/#decision=" + "ab" * 16
    )
    assert contest_url("https://gb.example", "ab" * 16) == contest_url(
        "https://gb.example/", "ab" * 16
    )
    # The token rides in the fragment, escaped; the stored URL never carries it.
    assert subject_link("https://x/subject/#decision=1", "a.b+c") == (
        "https://x/subject/#decision=1&token=a.b%2Bc"
    )


def test_an_automated_record_is_whole_before_it_is_written(
    fraud: ServedModel, risky: dict[str, Any]
) -> None:
    request = DecisionCreate(subject_ref="s-1", features=risky, legal_basis="none", locale="es")
    decided_at = datetime(2026, 11, 3, 12, tzinfo=UTC)
    record = compose_decision(
        fraud,
        score_request(fraud, request, objected=False),
        request=request,
        subject_pseudonym="ab" * 32,
        application_key_id="app",
        public_url="https://gb.example/",
        mac_key=MAC_KEY,
        decided_at=decided_at,
    )
    row = record.row
    assert row["outcome"] in fraud.spec.policy.significant_outcomes
    # Significant without an Art. 22(2) basis: a person looks first, and it is logged.
    assert record.review_reasons == ["no_art22_basis"] and record.logged
    assert row["row_mac"] == row_mac(MAC_KEY, row, logged=True)
    assert (row["key_category"], row["key_epoch"]) == (fraud.spec.retention.category, 2026)
    url = contest_url("https://gb.example/", record.decision_id)
    assert record.notice["contest_url"] == url and url in record.notice["text"]
    assert orjson.loads(record.personal["notice"]) == record.notice
    assert (
        orjson.loads(record.personal["features"])
        == score_request(fraud, request, objected=False).data
    )
    sealed = record.for_writer()
    assert sealed.entry_kind is EntryKind.DECISION and sealed.values is row
    assert sealed.entry_body == record.entry_body
    body = record.body(subject_token="tok", token_expires_at=decided_at)
    assert body["notice"]["link"] == subject_link(url, "tok")
    assert body["review_reasons"] == ["no_art22_basis"] and body["logged"] is True


def test_a_human_record_supersedes_and_keeps_the_models_explanation(
    fraud: ServedModel, risky: dict[str, Any]
) -> None:
    request = DecisionCreate(subject_ref="s-1", features=risky, legal_basis="contract")
    record = compose_decision(
        fraud,
        score_request(fraud, request, objected=False),
        request=request,
        subject_pseudonym="ab" * 32,
        application_key_id="app",
        public_url="https://gb.example",
        mac_key=MAC_KEY,
    )
    superseded = Decision(
        **{k: v for k, v in record.row.items() if k != "row_mac"}, decided_by="model"
    )
    frozen = orjson.loads(record.personal["explanation"])
    other = next(b for b in fraud.spec.policy.bands if b.outcome != superseded.outcome)
    dek = new_data_key()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    human = compose_human_decision(
        superseded,
        spec=fraud.spec,
        band=other,
        features=risky,
        frozen=frozen,
        review=HumanReview(
            case_id="c" * 32,
            resolution="overturn",
            rationale=b"It was me.",
            resolved_by="r1",
            resolved_at=at,
            case_step={"origin": "contest", "transition": "resolve", "from": "assigned"},
        ),
        dek=dek,
        mac_key=MAC_KEY,
        public_url="https://gb.example",
    )
    row = human.row
    assert row.decided_by == "human" and row.supersedes_decision_id == superseded.decision_id
    assert row.outcome == other.outcome and row.score == superseded.score
    assert row.log_entry_id == human.entry.entry_id
    covered = {c: getattr(row, c) for c in (*COVERED_COLUMNS, "decision_id")}
    assert row.row_mac == row_mac(MAC_KEY, covered, logged=True)
    body = human.entry.body
    assert body["human_decision_id"] == row.decision_id and body["from"] == "assigned"
    assert body["decision_id"] == superseded.decision_id and body["at"] == at

    def opened(name: str) -> Any:
        blob = getattr(row, f"{name}_ct")
        return json.loads(
            decrypt_field(dek, blob, aad=field_aad("decision", row.decision_id, name))
        )

    assert opened("notice")["contest_url"] == contest_url("https://gb.example", row.decision_id)
    explanation = opened("explanation")
    assert explanation["explanation"] == frozen["explanation"]
    assert explanation["human"]["rationale"] == "It was me."
