"""The child modes the run starts by re-invoking bench/decisions.py."""

from __future__ import annotations

import importlib

import pytest

from bench.decisionbench.main import CHILD_MODES, run


@pytest.mark.parametrize("mode", sorted(CHILD_MODES))
def test_each_child_mode_is_a_module_with_a_main(mode: str) -> None:
    # Importing the in-process benchmarks also checks that the service functions they time
    # are where the bench looks for them.
    module = importlib.import_module(f"bench.decisionbench.{CHILD_MODES[mode]}")

    assert callable(module.main)


def test_a_child_mode_gets_its_own_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(["_loadgen", "--help"])

    assert exit_.value.code == 0
    assert "decisions.py _loadgen" in capsys.readouterr().out
