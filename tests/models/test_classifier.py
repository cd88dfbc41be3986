"""Training refuses a spec whose category values a person could not read in both languages."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from models.classifier import MissingLabelsError, UntranslatedUnitWarning, check_words
from models.data import read_csv, validate_frame
from models.spec import SpecError, default_spec_path, load_spec
from models.training import TrainingFiles, train_from_files
from tests.models.telco import write_telco_csv

TELCO_SPEC = Path(__file__).parents[2] / "docs" / "examples" / "telco_churn.yaml"
PAYMENTS = [
    "Bank transfer (automatic)",
    "Credit card (automatic)",
    "Electronic check",
    "Mailed check",
]


@pytest.fixture(scope="module")
def telco_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_telco_csv(tmp_path_factory.mktemp("telco") / "telco.csv", n=300)


def _without_labels(tmp_path: Path, *features: str, fallback: bool = False) -> Path:
    """The telco example with the value labels of ``features`` taken out (and, with
    ``fallback``, ``value_labels_fallback: raw`` declared instead), as a spec file."""
    raw = load_spec(TELCO_SPEC).model_dump(mode="json", exclude_defaults=True)
    for feature in raw["features"]:
        if feature["name"] in features:
            del feature["value_labels"]
            if fallback:
                feature["value_labels_fallback"] = "raw"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_specs_label_every_category_in_both_languages() -> None:
    for kind in ("fraud", "churn"):
        spec = load_spec(default_spec_path(kind))
        check_words(spec, pd.DataFrame())


def test_the_telco_example_labels_every_value_of_the_export(telco_csv: Path) -> None:
    spec = load_spec(TELCO_SPEC)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntranslatedUnitWarning)
        check_words(spec, validate_frame(read_csv(telco_csv), spec, source="telco.csv"))


def test_training_is_refused_with_every_missing_label_listed(
    telco_csv: Path, tmp_path: Path
) -> None:
    spec_path = _without_labels(tmp_path, "Contract", "PaymentMethod")
    assert not load_spec(spec_path).feature("Contract").value_labels
    with pytest.raises(MissingLabelsError) as info:
        train_from_files("churn", TrainingFiles(data=telco_csv), spec_path=spec_path)
    contracts = ["Month-to-month", "One year", "Two year"]
    assert info.value.missing == [
        (feature, value, locale)
        for feature, values in (("Contract", contracts), ("PaymentMethod", PAYMENTS))
        for value in values
        for locale in ("en", "es")
    ]
    message = str(info.value)
    assert isinstance(info.value, SpecError)
    assert (
        "Contract: 'Month-to-month' (en, es), 'One year' (en, es), 'Two year' (en, es); "
        "PaymentMethod: 'Bank transfer (automatic)' (en, es)"
    ) in message
    assert "value_labels_fallback: raw" in message


def test_a_label_missing_in_one_language_is_named_with_that_language(telco_csv: Path) -> None:
    spec = load_spec(TELCO_SPEC)
    contract = spec.feature("Contract")
    labels = dict(contract.value_labels)
    labels["One year"] = labels["One year"].model_copy(update={"es": None})
    del labels["Two year"]
    features = [
        f.model_copy(update={"value_labels": labels}) if f.name == "Contract" else f
        for f in spec.features
    ]
    spec = spec.model_copy(update={"features": features})
    frame = validate_frame(read_csv(telco_csv), spec, source="telco.csv")
    with pytest.raises(MissingLabelsError) as info:
        check_words(spec, frame)
    assert info.value.missing == [
        ("Contract", "One year", "es"),
        ("Contract", "Two year", "en"),
        ("Contract", "Two year", "es"),
    ]


def test_a_declared_fallback_shows_values_as_written(telco_csv: Path, tmp_path: Path) -> None:
    spec = load_spec(_without_labels(tmp_path, "PaymentMethod", fallback=True))
    assert spec.feature("PaymentMethod").value_labels_fallback == "raw"
    check_words(spec, validate_frame(read_csv(telco_csv), spec, source="telco.csv"))


def test_a_declared_category_needs_a_label_even_if_the_file_lacks_it() -> None:
    spec = load_spec(default_spec_path("churn"))
    plan = spec.feature("plan")
    labels = {k: v for k, v in plan.value_labels.items() if k != "lifetime"}
    features = [
        f.model_copy(update={"value_labels": labels}) if f.name == "plan" else f
        for f in spec.features
    ]
    frame = pd.DataFrame({"plan": ["monthly", "annual"]})
    with pytest.raises(MissingLabelsError, match=r"plan: 'lifetime' \(en, es\)"):
        check_words(spec.model_copy(update={"features": features}), frame)


def test_a_unit_without_a_spanish_form_only_warns() -> None:
    spec = load_spec(default_spec_path("churn"))
    features = [
        f.model_copy(update={"unit": "viewers"}) if f.name == "logins_30d" else f
        for f in spec.features
    ]
    with pytest.warns(UntranslatedUnitWarning, match=r"'logins_30d': unit 'viewers'"):
        check_words(spec.model_copy(update={"features": features}), pd.DataFrame())


def test_a_model_trained_on_the_telco_example_explains_itself_in_spanish(
    telco_csv: Path,
) -> None:
    from explain import TreeExplainer, counterfactual, main_factors

    result = train_from_files("churn", TrainingFiles(data=telco_csv), spec_path=TELCO_SPEC)
    spec, pipeline = result.spec, result.model
    encoder = pipeline.named_steps["encode"]
    frame = read_csv(telco_csv)
    row = frame[frame["Contract"] == "Month-to-month"].iloc[0]
    raw = {f.name: row[f.column] for f in spec.features}
    raw["TotalCharges"] = None if not raw["TotalCharges"].strip() else float(raw["TotalCharges"])
    raw["MonthlyCharges"] = float(raw["MonthlyCharges"])
    raw["tenure"] = int(raw["tenure"])
    encoded = encoder.transform(pd.DataFrame([raw]))[0]
    explanation = TreeExplainer(pipeline, spec.feature_names).explain(encoded)
    factors = main_factors(explanation, spec, k=len(spec.features), locale="es", raw_values=raw)
    changes = counterfactual(
        pipeline, encoded, spec, raw_values=raw, locale="es", category_codes=encoder.codes_
    )
    sentences = [f.sentence for f in factors] + [c.sentence for c in changes]
    # Every value the export writes in English must reach a Spanish reader in Spanish.
    english = {str(v) for v in np.unique(frame.drop(columns=["customerID"]).to_numpy().ravel())}
    english -= {"No", "DSL", "0", "1"}  # "No" is also Spanish; DSL and digits are not words
    english = {v for v in english if not v.replace(".", "").strip().isdigit()}
    for sentence in sentences:
        assert not [v for v in english if f"({v})" in sentence or f" {v} " in sentence], sentence
        assert "score" not in sentence and "puntuación" not in sentence, sentence
    contract = next(f for f in factors if f.feature == "Contract")
    assert contract.display_value == "mes a mes"
    assert contract.sentence.startswith("El tipo de contrato (mes a mes) hizo ")
    assert contract.sentence.endswith(" probable la baja.")
