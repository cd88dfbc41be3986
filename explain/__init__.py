"""Explanations of glassbox decisions: exact TreeSHAP on the model's margin, in plain language.

The library works on the *encoded* row (one float column per spec feature, NaN for missing) and
the model's spec. It imports neither pandas nor anything web or database, and nothing heavy at
import time: shap and scikit-learn load when the first :class:`TreeExplainer` is built.

Typical use::

    explainer = TreeExplainer(pipeline, spec.feature_names)      # once, at model load
    explanation = explainer.explain(encoded_row)                  # per decision
    stored = explanation.to_dict()                                # frozen with the decision
    factors = main_factors(explanation, spec, locale="es", raw_values=features)
    reasons = principal_reasons(explanation, spec, outcome="decline", locale="es",
                                raw_values=features)        # a lender's reasons, if policy asks
    view = subject_view(explanation, spec, raw_values=features, locale="es")
    changes = counterfactual(pipeline, encoded_row, spec, raw_values=features)

Category codes are taken to follow the spec's category order (as ``models.encoding`` numbers
them); where an encoder learned its categories, pass its codes to :func:`counterfactual`.
"""

from explain._counterfactual import Counterfactual, counterfactual, counterfactual_words
from explain._errors import (
    ExplainError,
    InvalidInputError,
    SpecMismatchError,
    UnsupportedModelError,
)
from explain._explanation import Explanation, sigmoid
from explain._factors import Factor, main_factors
from explain._grouping import group_values, identity_groups
from explain._json import JSONValue, RawValue
from explain._profiles import segment_factors, value_amount, value_factors
from explain._reasons import (
    MAX_REASONS,
    PrincipalReason,
    principal_reasons,
    reasons_sentence,
    reword_reasons,
)
from explain._rules import rule_reasons, rules_explanation
from explain._segments import SegmentExplainer, SegmentExplanation
from explain._text import Direction, Locale, display_value, long_date
from explain._tree import TreeExplainer
from explain._views import reviewer_view, subject_view

__all__ = [
    "MAX_REASONS",
    "Counterfactual",
    "Direction",
    "ExplainError",
    "Explanation",
    "Factor",
    "InvalidInputError",
    "JSONValue",
    "Locale",
    "PrincipalReason",
    "RawValue",
    "SegmentExplainer",
    "SegmentExplanation",
    "SpecMismatchError",
    "TreeExplainer",
    "UnsupportedModelError",
    "counterfactual",
    "counterfactual_words",
    "display_value",
    "group_values",
    "identity_groups",
    "long_date",
    "main_factors",
    "principal_reasons",
    "reasons_sentence",
    "reviewer_view",
    "reword_reasons",
    "rule_reasons",
    "rules_explanation",
    "segment_factors",
    "sigmoid",
    "subject_view",
    "value_amount",
    "value_factors",
]
