"""Rules specs: what is refused when read, how the rules decide, and the nearest change."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.rules import check_examples, decide
from models.spec import ModelSpec, SpecError, load_spec, shipped_rule_specs

DAY = date(2026, 12, 1)


def _raw(name: str) -> dict[str, Any]:
    path = next(p for p in shipped_rule_specs() if p.stem == name)
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return raw


def _refused(raw: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return str(caught.value)


@pytest.mark.parametrize("path", shipped_rule_specs(), ids=lambda p: p.stem)
def test_the_shipped_rules_decide_their_worked_examples(path: Path) -> None:
    spec = load_spec(path)
    assert spec.kind == "rules" and spec.target is None
    results = check_examples(spec)
    assert results and all(r.passed for r in results), results
    # Every outcome a rule reaches is one of the policy's, and significant ones are reviewable.
    assert set(spec.policy.significant_outcomes) <= {r.outcome for r in spec.rules.rules}  # type: ignore[union-attr]


def test_a_rule_on_an_unknown_input_or_outcome_is_refused(tmp_path: Path) -> None:
    raw = _raw("refund")
    raw["rules"]["rules"][0]["when"][0]["input"] = "bought"
    assert "'bought' is not an input of this spec" in _refused(raw, tmp_path)
    raw = _raw("refund")
    raw["rules"]["rules"][0]["outcome"] = "refuse"
    assert "outcome 'refuse' is not one of ['grant', 'deny']" in _refused(raw, tmp_path)


def test_a_condition_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    raw = _raw("refund")
    raw["rules"]["rules"][1]["when"][0] = {"input": "progress_percent", "op": "in", "value": ["x"]}
    assert "progress_percent is compared with a number" in _refused(raw, tmp_path)
    raw = _raw("geo-restriction")
    raw["rules"]["rules"][0]["when"][0]["value"] = ["RU", "Narnia"]
    assert "['Narnia'] are not values of country" in _refused(raw, tmp_path)


def test_a_reason_naming_something_that_is_not_an_input_is_refused(tmp_path: Path) -> None:
    raw = _raw("refund")
    raw["rules"]["rules"][0]["reason"]["es"] = "Pidió el reembolso tarde ({fecha})"
    assert "the reason names ['fecha']" in _refused(raw, tmp_path)


def test_scores_and_dates_belong_to_rules_and_rules_have_no_score_bands(tmp_path: Path) -> None:
    raw = _raw("refund")
    raw["policy"]["bands"][1]["min_score"] = 0.5
    assert "either every band has a min_score" in _refused(raw, tmp_path)
    raw = _raw("refund")
    raw["kind"] = "fraud"
    raw["target"] = "is_fraud"
    assert "rules belong to a spec of kind rules" in _refused(raw, tmp_path)


def test_a_failing_worked_example_is_reported_by_name() -> None:
    spec = load_spec(next(p for p in shipped_rule_specs() if p.stem == "refund"))
    assert spec.rules is not None
    wrong = spec.rules.examples[0].model_copy(update={"outcome": "deny"})
    rules = spec.rules.model_copy(update={"examples": [wrong]})
    broken = ModelSpec.model_validate({**spec.model_dump(), "rules": rules.model_dump()})
    (result,) = check_examples(broken)
    assert (result.name, result.expected, result.outcome, result.passed) == (
        "within the terms",
        "deny",
        "grant",
        False,
    )


@pytest.fixture(scope="module")
def refund() -> ModelSpec:
    return load_spec(next(p for p in shipped_rule_specs() if p.stem == "refund"))


def test_the_first_rule_that_fires_decides_and_every_rule_that_fired_is_reported(
    refund: ModelSpec,
) -> None:
    late_and_taken = {
        "purchased_on": "2026-10-01",
        "progress_percent": 80.0,
        "refunds_last_12_months": 5,
    }
    verdict = decide(refund, late_and_taken, decided_on=DAY)
    assert verdict.outcome == "deny"
    assert [f.rule.id for f in verdict.fired] == [
        "late_request",
        "course_mostly_taken",
        "repeated_refunds",
    ]
    assert verdict.deciding is not None and verdict.deciding.rule.id == "late_request"
    assert verdict.deciding.checks[0].compared == 61
    # Three rules deny: no single change of one input grants the refund.
    assert verdict.nearest is None


@pytest.mark.parametrize(
    ("values", "change"),
    [
        # 15 days is one too many: the 14th day is the nearest that grants it.
        (
            {"purchased_on": "2026-11-16", "progress_percent": 0.0, "refunds_last_12_months": 0},
            ("purchased_on", "2026-11-17", "down", "grant"),
        ),
        # 30 % completed denies (>= 30): just below 30 grants it.
        (
            {"purchased_on": "2026-11-30", "progress_percent": 30.0, "refunds_last_12_months": 0},
            ("progress_percent", 30.0, "down", "grant"),
        ),
        # A granted refund: the nearest change that would deny it is the 15th day.
        (
            {"purchased_on": "2026-11-30", "progress_percent": 0.0, "refunds_last_12_months": 0},
            ("refunds_last_12_months", 3, "up", "deny"),
        ),
    ],
)
def test_the_nearest_change_is_the_smallest_one_that_changes_the_outcome(
    refund: ModelSpec, values: dict[str, Any], change: tuple[Any, ...]
) -> None:
    verdict = decide(refund, values, decided_on=DAY)
    nearest = verdict.nearest
    assert nearest is not None
    assert (nearest.input, nearest.value, nearest.direction, nearest.outcome) == change
    changed = {**values, nearest.input: nearest.value}
    if nearest.input == "progress_percent":
        changed[nearest.input] = nearest.value - 1e-3  # "below 30"
    assert decide(refund, changed, decided_on=DAY).outcome == nearest.outcome


def test_a_missing_value_fires_no_condition() -> None:
    spec = load_spec(next(p for p in shipped_rule_specs() if p.stem == "account-suspension"))
    verdict = decide(spec, {"recent_fraud_blocks": 3, "fraud_score": None}, decided_on=DAY)
    assert verdict.outcome == "keep_active" and verdict.fired == ()
