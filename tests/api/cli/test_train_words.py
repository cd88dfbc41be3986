"""``glassbox train`` refuses a spec whose category values have no label in both languages."""

from __future__ import annotations

from pathlib import Path

import yaml

from models.spec import load_spec
from tests.api.cli.conftest import invoke
from tests.models.telco import write_telco_csv

TELCO_SPEC = Path(__file__).parents[3] / "docs" / "examples" / "telco_churn.yaml"


def test_missing_value_labels_refuse_training_and_name_each_value(tmp_path: Path) -> None:
    raw = load_spec(TELCO_SPEC).model_dump(mode="json", exclude_defaults=True)
    for feature in raw["features"]:
        if feature["name"] == "Contract":
            del feature["value_labels"]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    data = write_telco_csv(tmp_path / "telco.csv", n=200)

    code, output = invoke(
        "train", "churn", "--data", str(data), "--spec", str(spec), "--home", str(tmp_path)
    )
    text = " ".join(output.split())
    assert code == 2, output
    assert "Refused:" in text
    assert "Contract: 'Month-to-month' (en, es), 'One year' (en, es), 'Two year' (en, es)" in text
    assert "Nothing was trained or registered." in text
    assert "Traceback" not in output
    # Refused before MLflow was touched: no store was created.
    assert not (tmp_path / "mlflow.db").exists()
