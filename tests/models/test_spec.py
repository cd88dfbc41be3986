"""Specs: the built-in ones load, and a broken spec is refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.spec import SpecError, default_spec_path, load_spec


@pytest.mark.parametrize("kind", ["fraud", "churn", "recommendation"])
def test_builtin_specs_load_with_labels_in_both_languages(kind: str) -> None:
    spec = load_spec(default_spec_path(kind))  # type: ignore[arg-type]
    assert spec.kind == kind
    for feature in spec.features:
        assert feature.label.en and feature.label.es
    assert "{contest_url}" in spec.notice.en and "{contest_url}" in spec.notice.es
    assert spec.gates, "every model needs quality gates"


def test_fraud_policy_maps_scores_to_outcomes() -> None:
    policy = load_spec(default_spec_path("fraud")).policy
    assert policy.band_for(0.0).outcome == "approve"
    assert policy.band_for(0.3).outcome == "review"
    assert policy.band_for(0.69).outcome == "review"
    assert policy.band_for(0.7).outcome == "block"
    assert policy.significant_outcomes == ["block"]
    assert policy.is_uncertain(0.75) and not policy.is_uncertain(0.95)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _churn_yaml() -> str:
    return default_spec_path("churn").read_text(encoding="utf-8")


def test_special_category_feature_without_basis_is_refused(tmp_path: Path) -> None:
    text = _churn_yaml().replace(
        "  - name: auto_renew\n",
        "  - name: health_condition\n    type: boolean\n    special_category: true\n"
        "    label: {en: health condition, es: condición de salud}\n"
        "  - name: auto_renew\n",
    )
    with pytest.raises(SpecError, match=r"special-category data \(Art\. 9\)"):
        load_spec(_write(tmp_path, text))


def test_unknown_key_is_refused_with_its_path(tmp_path: Path) -> None:
    text = _churn_yaml().replace("    minimum: 0\n    maximum: 600\n", "    minimun: 0\n", 1)
    with pytest.raises(SpecError, match=r"features\.0\.minimun"):
        load_spec(_write(tmp_path, text))


def test_bands_must_increase(tmp_path: Path) -> None:
    text = _churn_yaml().replace("min_score: 0.65", "min_score: 0.2")
    with pytest.raises(SpecError, match="increase strictly"):
        load_spec(_write(tmp_path, text))


def test_protected_attribute_cannot_be_a_feature(tmp_path: Path) -> None:
    text = _churn_yaml().replace(
        "protected_attributes: [age_band, sex]", "protected_attributes: [age_band, plan]"
    )
    with pytest.raises(SpecError, match="protected attributes cannot be model features"):
        load_spec(_write(tmp_path, text))


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(_write(tmp_path, "features: [unclosed"))
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "absent.yaml")


def _telco_yaml() -> str:
    path = Path(__file__).parents[2] / "docs" / "examples" / "telco_churn.yaml"
    return path.read_text(encoding="utf-8")


def test_an_other_bucket_is_declared_on_a_category_feature(tmp_path: Path) -> None:
    contract = "  - {name: Contract, type: category, actionable: true,"
    text = _telco_yaml().replace(contract, contract + " other: {min_count: 10},")
    spec = load_spec(_write(tmp_path, text))
    bucket = spec.feature("Contract").other
    assert bucket is not None and bucket.min_count == 10
    assert spec.feature("PaymentMethod").other is None
    # Only categories have an "other"; a bucket of values seen fewer than once pools nothing.
    tenure = "  - {name: tenure, type: integer,"
    numeric = _telco_yaml().replace(tenure, tenure + " other: {min_count: 10},")
    with pytest.raises(SpecError, match="only category features take an other bucket"):
        load_spec(_write(tmp_path, numeric))
    once = _telco_yaml().replace(contract, contract + " other: {min_count: 1},")
    with pytest.raises(SpecError, match=r"features\.12\.other\.min_count"):
        load_spec(_write(tmp_path, once))
