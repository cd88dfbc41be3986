"""`glassbox train rules`: the worked examples are the gate; a failing one is named and nothing
is registered; the same rules again leave the champion where it is."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from api.cli import app
from models.registry import load_model, local_store
from models.spec import shipped_rule_specs

runner = CliRunner()


def test_rules_are_registered_when_their_examples_pass(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = runner.invoke(app, ["train", "rules", "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    registered = [
        json.loads(part) for part in result.stdout.replace("}\n{", "}\x00{").split("\x00")
    ]
    assert sorted(r["model"] for r in registered) == [
        "account-suspension",
        "geo-restriction",
        "refund",
    ]
    assert all(r["champion"] and r["gates"]["examples"]["passed"] for r in registered)
    loaded = load_model("refund", tracking_uri=local_store(home))
    assert loaded.spec.kind == "rules" and loaded.model is None

    refund = next(p for p in shipped_rule_specs() if p.stem == "refund")
    again = runner.invoke(app, ["train", "rules", "--spec", str(refund), "--home", str(home)])
    assert again.exit_code == 0, again.output
    assert "Champion stays v1: the champion has the same rules." in again.output


def test_a_failing_example_is_named_and_nothing_is_registered(tmp_path: Path) -> None:
    refund = next(p for p in shipped_rule_specs() if p.stem == "refund")
    raw = yaml.safe_load(refund.read_text(encoding="utf-8"))
    raw["rules"]["examples"][0]["outcome"] = "deny"
    spec = tmp_path / "refund.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    home = tmp_path / "home"
    result = runner.invoke(app, ["train", "rules", "--spec", str(spec), "--home", str(home)])
    assert result.exit_code == 1
    assert "Example 'within the terms': expected deny, the rules decide grant" in result.output
    assert "not registered" in result.output


def test_rules_take_no_data_and_a_model_spec_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "rules", "--data", str(tmp_path / "x.csv"), "--home", str(tmp_path)]
    )
    assert result.exit_code == 2 and "rules take a --spec only" in result.output
    fraud = Path(__file__).parents[3] / "models" / "specs" / "fraud.yaml"
    result = runner.invoke(app, ["train", "rules", "--spec", str(fraud), "--home", str(tmp_path)])
    assert result.exit_code == 2 and "is trained on data, not here" in result.output
