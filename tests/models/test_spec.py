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


# --- words a person reads: value labels, units, the meaning of a higher score ----------------


@pytest.mark.parametrize(
    "path",
    [
        default_spec_path("fraud"),
        default_spec_path("churn"),
        default_spec_path("recommendation"),
        Path(__file__).parents[2] / "docs" / "examples" / "telco_churn.yaml",
    ],
    ids=["fraud", "churn", "recommendation", "telco-example"],
)
def test_shipped_specs_say_what_a_higher_score_means(path: Path) -> None:
    meaning = load_spec(path).policy.higher_score_means
    assert meaning is not None and meaning.en and meaning.es


def _feature_yaml(tmp_path: Path, feature: str) -> Path:
    """The churn spec with its plan feature replaced by ``feature`` (YAML lines, 2-space list)."""
    text = _churn_yaml()
    start = text.index("  - name: plan\n")
    end = text.index("  - name: logins_30d\n")
    return _write(tmp_path, text[:start] + feature + text[end:])


def test_yes_no_and_numeric_codes_stay_values_as_the_file_writes_them(tmp_path: Path) -> None:
    # YAML 1.1 would read Yes/No as booleans and 1 as a number; the file's values are text.
    spec = load_spec(
        _feature_yaml(
            tmp_path,
            "  - name: plan\n    type: category\n    label: {en: plan, es: plan}\n"
            "    value_labels: {Yes: {en: 'yes', es: sí}, No: {en: 'no', es: 'no'},\n"
            "                   1: {en: one, es: uno}}\n"
            "    allow_missing: yes\n",
        )
    )
    plan = spec.feature("plan")
    assert plan.value_label("Yes", "es") == "sí"
    assert plan.value_label("No", "en") == "no"
    assert plan.value_label("1", "es") == "uno"
    # Boolean fields still read yes/no.
    assert plan.allow_missing is True


def test_a_unit_in_both_languages_with_singular_and_plural(tmp_path: Path) -> None:
    spec = load_spec(
        _feature_yaml(
            tmp_path,
            "  - name: plan\n    type: integer\n    label: {en: audience, es: audiencia}\n"
            "    unit: {en: [viewer, viewers], es: [espectador, espectadores]}\n"
            "  - name: price\n    type: number\n    label: {en: price, es: precio}\n"
            "    unit: {en: USD, es: USD}\n",
        )
    )
    assert spec.feature("plan").unit_forms("es") == ("espectador", "espectadores")
    assert spec.feature("plan").unit_forms("en") == ("viewer", "viewers")
    assert spec.feature("price").unit_forms("es") == ("USD", "USD")
    # A plain string keeps working: built in, or shown as written.
    churn = load_spec(default_spec_path("churn"))
    assert churn.feature("tenure_months").unit_forms("es") == ("mes", "meses")
    assert churn.feature("monthly_spend").unit_forms("es") == ("EUR", "EUR")


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        (
            "  - name: plan\n    type: integer\n    label: {en: p, es: p}\n"
            "    value_labels: {a: {en: a, es: a}}\n",
            "apply to category features only",
        ),
        (
            "  - name: plan\n    type: category\n    categories: [monthly]\n"
            "    label: {en: p, es: p}\n    value_labels: {montly: {en: a, es: a}}\n",
            r"value_labels name values outside its categories: \['montly'\]",
        ),
        (
            "  - name: plan\n    type: category\n    label: {en: p, es: p}\n"
            "    value_labels: {a: {}}\n",
            "a value label needs en, es or both",
        ),
        (
            "  - name: plan\n    type: category\n    label: {en: p, es: p}\n"
            "    value_labels_fallback: english\n",
            r"features\.1\.value_labels_fallback",
        ),
        (
            "  - name: plan\n    type: integer\n    label: {en: p, es: p}\n"
            "    unit: {en: [viewer, viewers]}\n",
            r"features\.1\.unit",
        ),
    ],
    ids=["not-a-category", "unknown-value", "empty-label", "bad-fallback", "unit-one-language"],
)
def test_words_that_cannot_work_are_refused_with_the_field(
    tmp_path: Path, feature: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(_feature_yaml(tmp_path, feature))


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


# --- counterfactuals: which outcomes carry them ------------------------------------------------


def test_adverse_outcomes_carry_counterfactuals_and_only_named_ones() -> None:
    assert load_spec(default_spec_path("fraud")).policy.counterfactuals_for == ["block"]
    assert load_spec(default_spec_path("credit")).policy.counterfactuals_for == ["decline"]
    # Churn decides nothing adverse for the person.
    assert load_spec(default_spec_path("churn")).policy.counterfactuals_for == []


def test_counterfactuals_for_an_unknown_outcome_is_refused(tmp_path: Path) -> None:
    text = _churn_yaml().replace("  bands:\n", "  counterfactuals_for: [reject]\n  bands:\n", 1)
    with pytest.raises(
        SpecError, match=r"counterfactuals_for names unknown outcomes: \['reject'\]"
    ):
        load_spec(_write(tmp_path, text))


def test_rules_give_their_own_nearest_change_not_counterfactuals(tmp_path: Path) -> None:
    rules = default_spec_path("fraud").parent / "rules" / "refund.yaml"
    text = rules.read_text(encoding="utf-8")
    outcome = load_spec(rules).policy.bands[0].outcome
    text = text.replace("policy:\n", f"policy:\n  counterfactuals_for: [{outcome}]\n", 1)
    with pytest.raises(SpecError, match="counterfactuals_for applies to scores"):
        load_spec(_write(tmp_path, text))
