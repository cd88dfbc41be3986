"""`glassbox train`, `models` and `promote` on an operator's CSV: champion and challenger, and
output that can be copied whole from an 80-column terminal or read as JSON."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from api.cli.common import console
from tests.models.telco import write_telco_csv

TELCO_SPEC = Path(__file__).parents[3] / "docs" / "examples" / "telco_churn.yaml"
RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")

runner = CliRunner()


@dataclass(frozen=True)
class Trained:
    home: Path
    first: Result
    again: dict[str, Any]
    third: Result
    forced: dict[str, Any]


def _glassbox(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "80"})


def _train(home: Path, data: Path, *extra: str) -> Result:
    return _glassbox(
        "train", "churn", "--data", str(data), "--spec", str(TELCO_SPEC), "--home", str(home),
        *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def narrow() -> Iterator[None]:
    """An 80-column terminal, without a tracking URI or home from the developer's shell."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in {"GLASSBOX_MLFLOW_TRACKING_URI", "GLASSBOX_HOME"}:
                patch.delenv(name)
        patch.setattr(console, "_width", 80)
        yield


@pytest.fixture(scope="module")
def trained(narrow: None, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    # The same file trained four times: first, again (JSON), again (table), then forced.
    home = tmp_path_factory.mktemp("home")
    data = write_telco_csv(home / "telco.csv", n=1200)
    first = _train(home, data)
    again = _train(home, data, "--json")
    assert again.exit_code == 0, again.output
    third = _train(home, data)
    forced = _train(home, data, "--promote", "--json")
    assert forced.exit_code == 0, forced.output
    return Trained(home, first, json.loads(again.stdout), third, json.loads(forced.stdout))


def _versions(home: Path) -> dict[int, dict[str, Any]]:
    listed = _glassbox("models", "telco-churn", "--home", str(home), "--json")
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert document["model"] == "telco-churn"
    return {v["version"]: v for v in document["versions"]}


def test_the_first_version_becomes_champion_with_its_full_run_id(trained: Trained) -> None:
    assert trained.first.exit_code == 0, trained.first.output
    run_id = _versions(trained.home)[1]["run_id"]
    assert f"run id: {run_id}" in trained.first.stdout
    assert "telco-churn v1 is the first champion." in trained.first.stdout
    assert "churn: telco-churn v1 @champion" in trained.first.stdout
    # Every gate metric's name is whole on its own line of the table.
    assert re.search(r"│ roc_auc +│ +0\.\d{3} │ passed │", trained.first.stdout)


def test_the_same_training_again_is_registered_as_challenger(trained: Trained) -> None:
    again = trained.again
    assert (again["version"], again["aliases"], again["champion"]) == (2, ["challenger"], False)
    assert RUN_ID.fullmatch(again["run_id"])
    comparison = again["comparison"]
    assert comparison["verdict"] == "not-better"
    assert (comparison["champion_version"], comparison["primary_metric"]) == (1, "roc_auc")
    assert comparison["held_out"] == "300 held-out rows"
    for metric in ("roc_auc", "brier"):
        figures = comparison["metrics"][metric]
        assert figures["new"] == figures["champion"] == again["gates"][metric]["value"]
    assert comparison["metrics"]["brier"]["higher_is_better"] is False
    versions = _versions(trained.home)
    assert versions[2]["run_id"] == again["run_id"]
    assert versions[2]["comparison"] == "not-better"


def test_the_comparison_is_printed_and_the_promote_command_given(trained: Trained) -> None:
    out = trained.third.stdout
    assert trained.third.exit_code == 0, trained.third.output
    assert "v3 against champion v1 on the same 300 held-out rows" in out
    assert re.search(r"│ roc_auc \(primary\) │ +(0\.\d{4}) │ +\1 │ higher │", out)
    assert re.search(r"│ brier +│ +(0\.\d{4}) │ +\1 │ lower +│", out)
    assert "Champion stays v1: not better than the champion by more than 0.001 on roc_auc" in out
    assert "\n  glassbox promote telco-churn 3\n" in out
    assert f"run id: {_versions(trained.home)[3]['run_id']}" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_promote_makes_a_passing_version_champion_whatever_the_comparison(
    trained: Trained,
) -> None:
    forced = trained.forced
    assert (forced["version"], forced["champion"], forced["aliases"]) == (4, True, ["champion"])
    assert forced["comparison"]["forced"] is True
    assert forced["comparison"]["verdict"] == "not-better"
    assert _versions(trained.home)[4]["forced"] is True


def test_models_shows_every_run_id_whole_at_80_columns(trained: Trained) -> None:
    listed = _glassbox("models", "telco-churn", "--home", str(trained.home))
    assert listed.exit_code == 0, listed.output
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())
    for version in _versions(trained.home).values():
        assert version["run_id"] in listed.stdout
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", version["created_at"])
    assert re.search(r"│ +4 │ [a-z]* +│ not-better\* +│", listed.stdout), listed.stdout
    assert "* made champion with --promote" in listed.stdout


def test_promote_a_challenger_by_hand(trained: Trained) -> None:
    promoted = _glassbox("promote", "telco-churn", "3", "--home", str(trained.home))
    assert promoted.exit_code == 0, promoted.output
    assert promoted.stdout.strip() == "telco-churn version 3 is now champion."
    versions = _versions(trained.home)
    assert versions[3]["aliases"] == ["champion"]
    assert not any("challenger" in v["aliases"] for v in versions.values())
    _glassbox("promote", "telco-churn", "4", "--home", str(trained.home))
    missing = _glassbox("promote", "telco-churn", "9", "--home", str(trained.home))
    assert missing.exit_code == 2
    assert missing.output.strip() == "Refused: model 'telco-churn' has no version 9"


def test_promote_without_registering_is_refused_in_one_line(tmp_path: Path) -> None:
    refused = _train(tmp_path, tmp_path / "never-read.csv", "--promote", "--no-register")
    assert refused.exit_code == 2
    assert refused.output.strip() == "Refused: --promote needs registration; drop --no-register."
