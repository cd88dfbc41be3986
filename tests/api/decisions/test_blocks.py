"""The block path against the single-row path: the same explanation and wording per row.

A batch explains a block of rows in one TreeSHAP call (:mod:`api.decisions.blocks`); an HTTP
decision explains its row alone (:func:`api.decisions.service.score_request`). Both must give
every row the same values, score, factors, reasons and counterfactuals.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from api.decisions.blocks import BlockExplainer
from api.decisions.errors import ProfileModelError
from api.decisions.runtime import ModelRegistry, ServedModel
from api.decisions.schemas import DecisionCreate
from api.decisions.service import score_request, scored_classifier
from api.decisions.validation import FeatureProblemsError
from tests.api.decisions.support import fraud_rows, narrow_block, transactions
from tests.conftest import TrainedModels


@pytest.fixture(scope="module")
def fraud(trained: TrainedModels) -> ServedModel:
    return ModelRegistry(trained.tracking_uri).reload("fraud")


def test_a_block_explains_each_row_as_the_single_row_path_does(
    fraud: ServedModel, trained: TrainedModels
) -> None:
    rows: list[dict[str, Any]] = [*fraud_rows(trained), narrow_block(trained)]
    rows += transactions(trained, 40)
    bad = dict(rows[3], amount=-5)
    block = [*rows[:3], bad, *rows[3:]]
    explainer = BlockExplainer.of(fraud)
    explained = explainer.explain(block)
    assert isinstance(explained[3], FeatureProblemsError)
    assert [field for field, _ in explained[3].problems] == ["features.amount"]

    # What an executor sends back, rebuilt on the driver: the same explanations.
    shipped = pickle.loads(pickle.dumps(explainer))
    validated, matrix = shipped.encode(block)
    rebuilt = explainer.rebuild(validated, matrix, shipped.explainer.values(matrix))

    for features, item, again in zip(block, explained, rebuilt, strict=True):
        if isinstance(item, FeatureProblemsError):
            continue
        assert not isinstance(again, FeatureProblemsError)
        validated_features, explanation = item
        request = DecisionCreate(
            subject_ref="p", features=features, legal_basis="contract", locale="es"
        )
        one = score_request(fraud, request, objected=False)
        assert one.explanation is not None
        np.testing.assert_array_equal(explanation.values, one.explanation.values)
        np.testing.assert_array_equal(again[1].values, one.explanation.values)
        assert explanation.score == one.explanation.score == again[1].score
        scored = scored_classifier(fraud, explanation, features=validated_features, locale="es")
        assert scored.factors == one.factors
        assert scored.reasons == one.reasons
        assert scored.counterfactuals == one.counterfactuals
        assert scored.data == one.data


def test_profiles_have_no_block_path(trained: TrainedModels) -> None:
    segments = ModelRegistry(trained.tracking_uri).reload("segments")
    with pytest.raises(ProfileModelError):
        BlockExplainer.of(segments)
