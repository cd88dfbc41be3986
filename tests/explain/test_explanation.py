"""The explanation value object: frozen, consistent, and stored without loss."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from numpy.typing import NDArray

from explain import Explanation, sigmoid
from tests.explain.conftest import Fitted


def make(values: list[float], base: float = -1.0, data: list[float] | None = None) -> Explanation:
    margin = base + float(np.sum(values))
    return Explanation(
        values=np.array(values),
        base_value=base,
        margin=margin,
        score=sigmoid(margin),
        data=np.array(data if data is not None else [1.0] * len(values)),
        feature_names=tuple(f"f{i}" for i in range(len(values))),
        explainer_version="test",
    )


def test_json_round_trip_gives_an_equal_explanation(
    fitted: Fitted, hard_rows: NDArray[np.float64]
) -> None:
    for explanation in fitted.explainer.explain_batch(hard_rows[::9]):
        text = json.dumps(explanation.to_dict(), allow_nan=False)
        restored = Explanation.from_dict(json.loads(text))
        assert restored == explanation
        # Bit for bit, not just close: a contest must see exactly what the person saw.
        assert restored.values.tobytes() == explanation.values.tobytes()
        assert restored.score == explanation.score


def test_missing_values_are_stored_as_null(fitted: Fitted) -> None:
    x = fitted.X[0].copy()
    x[[0, 9]] = np.nan
    stored = fitted.explainer.explain(x).to_dict()
    data = stored["data"]
    assert isinstance(data, list)
    assert data[0] is None
    assert data[9] is None


def test_equality_compares_contents() -> None:
    a = make([0.5, -0.25], data=[np.nan, 2.0])
    assert a == make([0.5, -0.25], data=[np.nan, 2.0])
    assert a != make([0.5, -0.25], data=[1.0, 2.0])
    assert a != make([0.5, -0.5], data=[np.nan, 2.0])
    assert a != "not an explanation"


def test_it_is_frozen() -> None:
    explanation = make([0.5])
    with pytest.raises(dataclasses.FrozenInstanceError):
        explanation.score = 0.9  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        explanation.data[0] = 2.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("margin", 5.0, "margin"),
        ("score", 0.99, "score"),
        ("values", [0.5, 0.5], "same length"),
        ("values", [np.nan], "finite"),
    ],
)
def test_inconsistent_numbers_are_refused(field: str, value: object, message: str) -> None:
    fields = dataclasses.asdict(make([0.5]))
    fields[field] = value
    with pytest.raises(ValueError, match=message):
        Explanation(**fields)


def test_a_tampered_record_does_not_load() -> None:
    stored = make([0.5, -0.25]).to_dict()
    stored["values"] = [0.75, -0.25]
    with pytest.raises(ValueError, match="margin"):
        Explanation.from_dict(stored)


@pytest.mark.parametrize("broken", [{"format": 99}, {"format": 1}, {"format": 1, "values": 3}])
def test_unreadable_records_are_refused(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Explanation.from_dict(broken)
