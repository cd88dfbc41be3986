"""Documents that travel with a trained model: the model card and the global SHAP summary."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from models.classifier import TrainResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["model_card", "shap_summary_figure", "tree_model"]


def tree_model(result: TrainResult) -> Any:
    """The fitted tree ensemble that TreeSHAP explains (the recommender's personal ranker)."""
    model = result.model
    if hasattr(model, "ranker_for"):
        model = model.ranker_for(True)
    return model.named_steps["model"]


_EXPLANATIONS = {
    "default": (
        "Every decision is explained by exact TreeSHAP on the model's margin (log-odds): the base "
        "value plus the contributions equals the margin, and the score is derived from it. The "
        "main factors are shown to the person in English or Spanish; a reviewer sees every value."
    ),
    "lifetime_value": (
        "Every profile is explained by exact TreeSHAP on the predicted value, in its currency: "
        "the base value plus the contributions equals the estimate (checked to 1e-9). The main "
        "factors are shown to the person in English or Spanish, each as an amount."
    ),
    "segments": (
        "Every assignment is explained exactly: each feature's share of the difference between "
        "the squared distance (in scaled units) to the runner-up segment's centroid and to the "
        "assigned one. The shares add up to that margin (checked to 1e-9)."
    ),
}


def _profile_lines(spec: Any) -> list[str]:
    """The profile a model builds: its tiers or segments, and what an objection does."""
    profile = spec.profile
    if profile is None:
        return []
    lines = ["", "## Profile", ""]
    if profile.tiers:
        lines += ["| tier | from value | meaning |", "|---|---|---|"]
        lines += [f"| {t.name} | {t.min_value:g} | {t.description.en} |" for t in profile.tiers]
    if profile.segments:
        lines += ["| segment | label (en) | label (es) | meaning |", "|---|---|---|---|"]
        lines += [
            f"| {s.name} | {s.label.en} | {s.label.es} | {s.description.en} |"
            for s in profile.segments
        ]
    kept = (
        f"kept for their retention period: {profile.kept_because.en}"
        if profile.on_objection == "keep" and profile.kept_because is not None
        else "erased"
    )
    lines += [
        "",
        "A profile has no legal effect of its own. It is recorded and shown to the person; "
        f"after their objection (Art. 21) no new one is built, and the existing ones are {kept}. "
        "Special-category data (Art. 9) is never an input.",
    ]
    return lines


def _fmt(value: float) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.4f}"
    )


def model_card(result: TrainResult, *, data_source: str) -> str:
    """A model card in Markdown: intended use, data, features, policy, metrics, gates, fairness."""
    spec = result.spec
    policy = spec.policy
    lines = [
        f"# Model card: {spec.name}",
        "",
        f"*Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by glassbox.*",
        "",
        f"{spec.description.en}",
        "",
        "## Intended use",
        "",
        spec.intended_use.en,
        "",
        "## Data",
        "",
        f"- Source: `{data_source}`",
        f"- Rows: {result.rows.get('train', 0)} for training, {result.rows.get('eval', 0)} "
        "held out for evaluation",
        f"- Protected attributes kept for fairness measurement only (never inputs): "
        f"{', '.join(spec.protected_attributes) or 'none'}",
        "",
        "## Features",
        "",
        "| feature | label (en) | label (es) | type | unit | actionable | special category |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in spec.features:
        en, es = f.unit_forms("en"), f.unit_forms("es")
        unit = "" if en is None or es is None else en[1] if en == es else f"{en[1]} / {es[1]}"
        lines.append(
            f"| `{f.name}` | {f.label.en} | {f.label.es} | {f.type} | {unit} | "
            f"{'yes' if f.actionable else 'no'} | {'yes' if f.special_category else 'no'} |"
        )
    monotone = [
        f"`{f.name}` {'never lowers' if f.monotonic > 0 else 'never raises'} the score"
        for f in spec.features
        if f.monotonic
    ]
    if monotone:
        # Enforced in training (monotonic_cst), so a reader can rely on it for every person.
        lines += [
            "",
            "Monotone constraints, enforced in training: a larger value of "
            + ("; ".join(monotone))
            + ".",
        ]
    lines += [
        "",
        "## Decision policy",
        "",
        f"Policy version `{policy.version}`, purpose `{policy.purpose}`"
        f"{', profiling' if policy.profiling else ''}.",
        "",
        "| outcome | from score | significant | consequence |",
        "|---|---|---|---|",
    ]
    for band in policy.bands:
        significant = "yes" if band.outcome in policy.significant_outcomes else "no"
        lines.append(
            f"| {band.outcome} | {band.min_score:g} | {significant} | {band.consequence.en} |"
        )
    lines += _profile_lines(spec)
    if policy.reasons_for:
        lines += [
            "",
            f"Outcomes {', '.join(policy.reasons_for)} come with up to four principal reasons: "
            "the factors that pushed the score up most, worded as a lender gives them:",
            "",
            "| feature | reason (en) | reason (es) |",
            "|---|---|---|",
        ]
        lines += [
            f"| `{f.name}` | {(f.reason or f.label).en} | {(f.reason or f.label).es} |"
            for f in spec.features
        ]
    if policy.uncertainty_band:
        low, high = policy.uncertainty_band
        lines.append("")
        lines.append(
            f"Scores in [{low:g}, {high:g}) go to a human reviewer before they take effect."
        )
    lines += [
        "",
        f"Records are kept as `{spec.retention.category}` for {spec.retention.days} days. "
        f"{spec.retention.legal_basis.en}",
        "",
        "## Evaluation",
        "",
        "| metric | value | gate | passed |",
        "|---|---|---|---|",
    ]
    for name, value in sorted(result.metrics.items()):
        gate = spec.gates.get(name)
        bound = ""
        if gate is not None:
            bound = " and ".join(
                part
                for part in (
                    f">= {gate.min:g}" if gate.min is not None else "",
                    f"<= {gate.max:g}" if gate.max is not None else "",
                )
                if part
            )
        passed = ("yes" if result.gates[name] else "**no**") if name in result.gates else ""
        lines.append(f"| {name} | {_fmt(value)} | {bound} | {passed} |")
    lines += [
        "",
        f"Quality gates: **{'passed' if result.passed else 'failed'}**. A model that fails its "
        "gates is not registered and never becomes champion.",
        "",
    ]
    if result.fairness:
        lines += ["## Fairness (evaluation split)", ""]
        for attribute, rows in result.fairness.items():
            keys = [k for k in rows[0] if k != "group"]
            lines.append(f"### {attribute}")
            lines.append("")
            lines.append("| group | " + " | ".join(keys) + " |")
            lines.append("|---|" + "---|" * len(keys))
            for row in rows:
                cells = [
                    str(row[k]) if isinstance(row[k], int) else _fmt(float(row[k])) for k in keys
                ]
                lines.append(f"| {row['group']} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += [
        "## Explanations",
        "",
        _EXPLANATIONS.get(spec.kind, _EXPLANATIONS["default"]),
        "",
        "## Limitations",
        "",
        spec.limitations.en,
        "",
    ]
    return "\n".join(lines)


def shap_summary_figure(result: TrainResult) -> Figure:
    """A beeswarm of SHAP values over the held-out sample, with the spec's human labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    sample: NDArray[np.float64] = result.explain_sample
    model = tree_model(result)
    labels = [f.label.en for f in result.spec.features][: sample.shape[1]]
    values = shap.TreeExplainer(model).shap_values(sample)
    if isinstance(values, list):
        values = values[-1]
    values = np.asarray(values)
    if values.ndim == 3:
        values = values[:, :, -1]
    plt.close("all")
    shap.summary_plot(values, sample, feature_names=labels, show=False, max_display=len(labels))
    figure = plt.gcf()
    figure.suptitle(f"{result.spec.name}: SHAP values on held-out data (log-odds)")
    figure.tight_layout()
    return figure
