"""The periodic report for people: one self-contained HTML page, in English or Spanish, and PDF.

The page carries its style and its charts inline (SVG drawn here, no script, no font or image
from elsewhere), so it reads the same opened from a disk, mailed, or archived with the report's
JSON: the score's histogram against the training reference, PSI per feature, the outcome
rates by group, and review health. Every text that came from data is escaped. The PDF is the
same page laid out by WeasyPrint.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from models.labels import Label

__all__ = ["LANGUAGES", "Language", "PdfUnavailableError", "render_html", "render_pdf"]

Language = Literal["en", "es"]


class PdfUnavailableError(RuntimeError):
    """The PDF cannot be laid out here: a system library WeasyPrint needs is missing."""


LANGUAGES: Final = ("en", "es")

_TEXT: Final[dict[str, dict[str, str]]] = {
    "title": {"en": "Periodic review of {model}", "es": "Revisión periódica de {model}"},
    "period": {
        "en": "Period: {start} to {end} ({days} days, UTC)",
        "es": "Periodo: del {start} al {end} ({days} días, UTC)",
    },
    "sha": {
        "en": "The signed report.json has SHA-256",
        "es": "El report.json firmado tiene SHA-256",
    },
    "alerts": {"en": "Alerts", "es": "Alertas"},
    "no_alerts": {"en": "No alert in this period.", "es": "Ninguna alerta en este periodo."},
    "versions": {"en": "Model versions", "es": "Versiones del modelo"},
    "version": {"en": "Version", "es": "Versión"},
    "decisions": {"en": "Decisions", "es": "Decisiones"},
    "first_day": {"en": "First day", "es": "Primer día"},
    "last_day": {"en": "Last day", "es": "Último día"},
    "outcomes": {"en": "Outcomes", "es": "Resultados"},
    "outcome": {"en": "Outcome", "es": "Resultado"},
    "score": {
        "en": "Scores against the training reference",
        "es": "Puntuaciones frente a la referencia de entrenamiento",
    },
    "score_note": {
        "en": "Bars: share of the period's decisions per score bin; line: the training reference.",
        "es": (
            "Barras: proporción de las decisiones del periodo por tramo de puntuación; línea:"
            " la referencia de entrenamiento."
        ),
    },
    "no_score": {"en": "This model has no score.", "es": "Este modelo no tiene puntuación."},
    "drift": {"en": "Drift (PSI per feature)", "es": "Deriva (PSI por variable)"},
    "drift_note": {
        "en": (
            "Population stability index against the training reference and the previous "
            "period; the line is the alert threshold."
        ),
        "es": (
            "Índice de estabilidad de la población frente a la referencia de entrenamiento y "
            "el periodo anterior; la línea es el umbral de alerta."
        ),
    },
    "no_drift": {
        "en": "Too few decisions to measure drift.",
        "es": "Muy pocas decisiones para medir la deriva.",
    },
    "training": {"en": "against training", "es": "frente a entrenamiento"},
    "previous": {"en": "against the previous period", "es": "frente al periodo anterior"},
    "share": {"en": "Share of attribution", "es": "Peso en la explicación"},
    "feature": {"en": "Feature", "es": "Variable"},
    "fairness": {"en": "Outcome rates by group", "es": "Tasas de resultado por grupo"},
    "fairness_note": {
        "en": (
            "Share of decisions flagged (any outcome other than the first band) per group; a "
            "hidden cell has fewer than {min_cell} decisions."
        ),
        "es": (
            "Proporción de decisiones señaladas (cualquier resultado distinto del primer "
            "tramo) por grupo; una celda oculta tiene menos de {min_cell} decisiones."
        ),
    },
    "no_groups": {
        "en": "No monitoring groups were stated in this period.",
        "es": "No se indicaron grupos de seguimiento en este periodo.",
    },
    "disparities": {"en": "Disparities", "es": "Disparidades"},
    "metric": {"en": "Metric", "es": "Métrica"},
    "difference": {"en": "Difference", "es": "Diferencia"},
    "ratio": {"en": "Ratio", "es": "Cociente"},
    "threshold": {"en": "Threshold", "es": "Umbral"},
    "group": {"en": "Group", "es": "Grupo"},
    "hidden": {"en": "hidden", "es": "oculto"},
    "actuals": {"en": "Against what really happened", "es": "Frente a lo que ocurrió realmente"},
    "no_actuals": {
        "en": "No outcome was reported for this period's decisions.",
        "es": "No se comunicó lo ocurrido para las decisiones de este periodo.",
    },
    "precision": {"en": "Precision", "es": "Precisión"},
    "recall": {"en": "Recall", "es": "Exhaustividad"},
    "calibration": {"en": "Calibration error", "es": "Error de calibración"},
    "with_actual": {"en": "With an actual", "es": "Con resultado real"},
    "review": {"en": "Human review", "es": "Revisión humana"},
    "contest_rate": {"en": "Contest rate", "es": "Tasa de impugnación"},
    "overturn_rate": {"en": "Overturn rate", "es": "Tasa de revocación"},
    "cases": {"en": "Cases", "es": "Casos"},
    "contested": {"en": "Contested", "es": "Impugnadas"},
    "resolved": {"en": "Resolved", "es": "Resueltos"},
    "total": {"en": "All", "es": "Todas"},
    "reviewers": {"en": "Reviewers", "es": "Revisores"},
    "reviewers_note": {
        "en": (
            "Agreement with the model (share upheld) per reviewer; the line is the rubber-"
            "stamping threshold ({agreement}, with a median under {seconds} s, from "
            "{min_cases} cases)."
        ),
        "es": (
            "Acuerdo con el modelo (proporción confirmada) por revisor; la línea es el umbral"
            " de aprobación automática ({agreement}, con una mediana inferior a {seconds} s, "
            "desde {min_cases} casos)."
        ),
    },
    "reviewer": {"en": "Reviewer", "es": "Revisor"},
    "agreement": {"en": "Agreement", "es": "Acuerdo"},
    "median": {"en": "Median time to resolve", "es": "Tiempo mediano de resolución"},
    "no_reviews": {
        "en": "No case was resolved in this period.",
        "es": "No se resolvió ningún caso en este periodo.",
    },
    "quality": {
        "en": (
            "Quality sample: {sampled} of {upheld} upheld cases checked by a second reviewer "
            "(rate {rate}); {confirmed} confirmed."
        ),
        "es": (
            "Muestra de calidad: {sampled} de {upheld} casos confirmados revisados por un "
            "segundo revisor (tasa {rate}); {confirmed} ratificados."
        ),
    },
    "footer": {
        "en": (
            "Generated by glassbox. No personal data: counts and rates only; cells under "
            "{min_cell} decisions are hidden."
        ),
        "es": (
            "Generado por glassbox. Sin datos personales: solo recuentos y tasas; las celdas "
            "con menos de {min_cell} decisiones se ocultan."
        ),
    },
    "value": {"en": "Value", "es": "Valor"},
    "kind": {"en": "Kind", "es": "Tipo"},
    "names": {"en": "Where", "es": "Dónde"},
}

_ALERT_KINDS: Final[dict[str, dict[str, str]]] = {
    "feature_drift": {"en": "Feature drift", "es": "Deriva de una variable"},
    "score_drift": {"en": "Score drift", "es": "Deriva de la puntuación"},
    "attribution_drift": {"en": "Attribution drift", "es": "Deriva de la explicación"},
    "fairness": {"en": "Fairness", "es": "Equidad"},
    "rubber_stamping": {"en": "Rubber-stamping", "es": "Aprobación automática"},
}

_METRICS: Final[dict[str, dict[str, str]]] = {
    "selection_rate": {"en": "Selection rate", "es": "Tasa de selección"},
    "false_positive_rate": {"en": "False positive rate", "es": "Tasa de falsos positivos"},
    "false_negative_rate": {"en": "False negative rate", "es": "Tasa de falsos negativos"},
}

_CSS: Final = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#1f2933;margin:2rem auto;
max-width:60rem;padding:0 1rem;line-height:1.45;font-size:14px}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;
border-bottom:1px solid #cbd2d9;padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
.meta{color:#52606d;margin:.1rem 0}.hash{font-family:monospace;font-size:.8rem;word-break:break-all}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border-bottom:1px solid #e4e7eb;
padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f5f7fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.alert{background:#fff3f3;border-left:4px solid #c81e1e;padding:.4rem .6rem;margin:.3rem 0}
.ok{background:#effcf6;border-left:4px solid #199473;padding:.4rem .6rem}
.note{color:#52606d;font-size:.85rem}svg{max-width:100%;height:auto}
footer{margin-top:2rem;color:#7b8794;font-size:.8rem}
@page{size:A4;margin:1.6cm}
"""

_AGAINST: Final = ("training", "previous")
_BAR: Final = "#2f6fb0"
_BAR2: Final = "#9fb3c8"
_ALERT: Final = "#c81e1e"


def _t(key: str, lang: Language, **values: Any) -> str:
    return _TEXT[key][lang].format(**values)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _table(headers: Sequence[tuple[str, bool]], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th{' class=num' if num else ''}>{_e(h)}</th>" for h, num in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if num else ''}>{_e(cell)}</td>"
            for cell, (_, num) in zip(row, headers, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _hbars(
    rows: Sequence[tuple[str, float | None, float | None]],
    *,
    top: float,
    threshold: float | None,
    legend: tuple[str, str] | None,
    percent: bool = False,
    hidden: str = "—",
) -> str:
    """Horizontal bars: per row a main bar (and a lighter second one), a threshold line."""
    # Wide enough for the longest label at 11 px (about 6 px a character), never cut.
    label_w = max(190, 12 + 6 * max((len(label) for label, _, _ in rows), default=0))
    bar_w, row_h = 380, 26 if legend else 18
    height = row_h * len(rows) + (34 if legend else 14)
    top = max(top, threshold or 0.0, 1e-9)

    def x(value: float) -> float:
        return label_w + bar_w * min(value, top) / top

    def shown(value: float) -> str:
        return f"{value * 100:.1f}%" if percent else f"{value:.3f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + bar_w + 70}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + 70} {height}" font-size="11">'
    ]
    for i, (label, first, second) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{_e(label)}</text>')
        bars = [(first, _BAR, 0)] + ([(second, _BAR2, 11)] if legend else [])
        for value, colour, dy in bars:
            if value is None:
                parts.append(
                    f'<text x="{label_w + 4}" y="{y + dy + 10}" fill="#7b8794">{_e(hidden)}</text>'
                )
                continue
            width = max(x(value) - label_w, 0.5)
            parts.append(
                f'<rect x="{label_w}" y="{y + dy}" width="{width:.1f}" height="10" '
                f'fill="{colour}"/>'
                f'<text x="{label_w + width + 4:.1f}" y="{y + dy + 9}">{shown(value)}</text>'
            )
    if threshold is not None:
        tx = x(threshold)
        parts.append(
            f'<line x1="{tx:.1f}" y1="0" x2="{tx:.1f}" y2="{row_h * len(rows) + 4}" '
            f'stroke="{_ALERT}" stroke-dasharray="4 3"/>'
        )
    if legend:
        y = row_h * len(rows) + 12
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="10" height="10" fill="{_BAR}"/>'
            f'<text x="{label_w + 14}" y="{y + 9}">{_e(legend[0])}</text>'
            f'<rect x="{label_w + 190}" y="{y}" width="10" height="10" fill="{_BAR2}"/>'
            f'<text x="{label_w + 204}" y="{y + 9}">{_e(legend[1])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _histogram(counts: Sequence[int | None], reference: Sequence[float] | None) -> str:
    """The period's score histogram (shares) as bars, the training reference as a line."""
    known = sum(n for n in counts if n is not None)
    shares = [None if n is None or not known else n / known for n in counts]
    values = [s for s in shares if s is not None] + list(reference or [])
    top = max([*values, 1e-9])
    width, height, pad = 560, 200, 30
    bin_w = (width - 2 * pad) / max(len(counts), 1)

    def y(value: float) -> float:
        return height - pad - (height - 2 * pad) * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="10">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#52606d"/>',
    ]
    for i, share in enumerate(shares):
        x0 = pad + i * bin_w
        if share is not None:
            parts.append(
                f'<rect x="{x0 + 2:.1f}" y="{y(share):.1f}" width="{bin_w - 4:.1f}" '
                f'height="{height - pad - y(share):.1f}" fill="{_BAR}"/>'
            )
        else:
            parts.append(
                f'<rect x="{x0 + 2:.1f}" y="{height - pad - 6}" width="{bin_w - 4:.1f}" '
                'height="6" fill="none" stroke="#9aa5b1" stroke-dasharray="2 2"/>'
            )
        parts.append(
            f'<text x="{x0:.1f}" y="{height - pad + 14}" text-anchor="middle">'
            f"{i / len(counts):.1f}</text>"
        )
    parts.append(f'<text x="{width - pad}" y="{height - pad + 14}" text-anchor="middle">1.0</text>')
    if reference:
        points = " ".join(
            f"{pad + (i + 0.5) * bin_w:.1f},{y(share):.1f}" for i, share in enumerate(reference)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{_ALERT}" stroke-width="2"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _label(labels: Mapping[str, Label], name: str, lang: Language) -> str:
    label = labels.get(name)
    return label.get(lang) if label is not None else name


def _group_label(fairness: Mapping[str, Any], attribute: str, group: str, lang: Language) -> str:
    """``Sex: female`` in the spec's words; an intersection as both, joined."""
    names = {a["name"]: a for a in fairness.get("attributes", [])}

    def one(attr: str, value: str) -> str:
        spec = names.get(attr)
        if spec is None:
            return f"{attr}: {value}"
        attr_label = (spec.get("label") or {}).get(lang, attr)
        values = {v["value"]: (v.get("label") or {}).get(lang, v["value"]) for v in spec["values"]}
        return f"{attr_label}: {values.get(value, value)}"

    if "+" not in attribute:
        return one(attribute, group)
    first, second = attribute.split("+", 1)
    # A value may hold "+" itself ("65+"): split where the first part is a value of the first.
    known = {v["value"] for v in names.get(first, {}).get("values", [])}
    cuts = [i for i, c in enumerate(group) if c == "+"]
    cut = next((i for i in cuts if group[:i] in known), cuts[0] if cuts else -1)
    if cut < 0:
        return f"{attribute}: {group}"
    return f"{one(first, group[:cut])} · {one(second, group[cut + 1 :])}"


def _alert_where(
    alert: Mapping[str, Any], labels: Mapping[str, Label], fairness: Any, lang: Language
) -> str:
    if "feature" in alert:
        where = _label(labels, str(alert["feature"]), lang)
    elif "reviewer" in alert:
        where = f"{_t('reviewer', lang)} {alert['reviewer']}"
    elif "group" in alert:
        where = _group_label(fairness, str(alert.get("attribute", "")), str(alert["group"]), lang)
    else:
        where = _t("score", lang).split(" ")[0]
    against = alert.get("against")
    extra = [
        str(m)
        for m in (alert.get("metric"), _t(against, lang) if against in _AGAINST else against)
        if m
    ]
    return where + (f" ({', '.join(extra)})" if extra else "")


def _alerts(report: Mapping[str, Any], labels: Mapping[str, Label], lang: Language) -> str:
    alerts = report["alerts"]
    if not alerts:
        return f'<p class="ok">{_e(_t("no_alerts", lang))}</p>'
    items = []
    for alert in alerts:
        kind = _ALERT_KINDS.get(alert["kind"], {}).get(lang, alert["kind"])
        where = _alert_where(alert, labels, report["fairness"], lang)
        items.append(
            f'<div class="alert"><strong>{_e(kind)}</strong> — {_e(where)}: '
            f"{_e(_t('value', lang))} {_e(_num(alert.get('value')))}, "
            f"{_e(_t('threshold', lang))} {_e(_num(alert.get('threshold')))}</div>"
        )
    return "".join(items)


def _versions(report: Mapping[str, Any], lang: Language) -> str:
    rows = [
        [v["version"], _num(v["decisions"]), v["first_day"], v["last_day"]]
        for v in report["versions"]
    ]
    table = _table(
        [
            (_t("version", lang), False),
            (_t("decisions", lang), True),
            (_t("first_day", lang), False),
            (_t("last_day", lang), False),
        ],
        rows,
    )
    by_version = report["outcomes"].get("by_version", {})
    outcome_names = sorted({o for row in by_version.values() for o in row["outcomes"]})
    outcomes = _table(
        [(_t("version", lang), False), *[(name, True) for name in outcome_names]],
        [
            [version, *[_num(row["outcomes"].get(name)) for name in outcome_names]]
            for version, row in sorted(by_version.items(), key=lambda item: int(item[0]))
        ],
    )
    return (
        f"<h2>{_e(_t('versions', lang))}</h2>{table}<h3>{_e(_t('outcomes', lang))}</h3>{outcomes}"
    )


def _score(report: Mapping[str, Any], lang: Language) -> str:
    histogram = report["outcomes"].get("score_histogram") or {}
    counts = histogram.get("counts") or []
    title = f"<h2>{_e(_t('score', lang))}</h2>"
    if not counts:
        return title + f'<p class="note">{_e(_t("no_score", lang))}</p>'
    reference = (report["outcomes"].get("score_reference") or {}).get("shares")
    return (
        title + _histogram(counts, reference) + f'<p class="note">{_e(_t("score_note", lang))}</p>'
    )


def _drift(report: Mapping[str, Any], labels: Mapping[str, Label], lang: Language) -> str:
    drift = report["drift"]
    title = f"<h2>{_e(_t('drift', lang))}</h2>"
    features = drift.get("features") or []
    if not features:
        return title + f'<p class="note">{_e(_t("no_drift", lang))}</p>'
    threshold = drift.get("psi_threshold")
    rows = [
        (_label(labels, f["feature"], lang), f.get("psi_training"), f.get("psi_previous"))
        for f in features
    ]
    top = max([v for _, a, b in rows for v in (a, b) if v is not None] + [threshold or 0.0])
    chart = _hbars(
        rows,
        top=top,
        threshold=threshold,
        legend=(_t("training", lang), _t("previous", lang)),
    )
    table = _table(
        [
            (_t("feature", lang), False),
            ("PSI " + _t("training", lang), True),
            ("PSI " + _t("previous", lang), True),
            (_t("share", lang), True),
        ],
        [
            [
                _label(labels, f["feature"], lang),
                _num(f.get("psi_training")),
                _num(f.get("psi_previous")),
                _pct(f.get("share")),
            ]
            for f in features
        ],
    )
    return title + chart + f'<p class="note">{_e(_t("drift_note", lang))}</p>' + table


def _fairness(report: Mapping[str, Any], lang: Language) -> str:
    fairness = report["fairness"]
    min_cell = (fairness.get("thresholds") or {}).get("min_cell", 10)
    title = f"<h2>{_e(_t('fairness', lang))}</h2>"
    groups = fairness.get("groups") or []
    if not groups:
        return title + f'<p class="note">{_e(_t("no_groups", lang))}</p>'
    rows = [
        (_group_label(fairness, g["attribute"], g["group"], lang), g.get("selection_rate"), None)
        for g in groups
        if "+" not in g["attribute"]
    ]
    chart = _hbars(
        rows, top=1.0, threshold=None, legend=None, percent=True, hidden=_t("hidden", lang)
    )
    disparities = fairness.get("disparities") or []
    table = _table(
        [
            (_t("group", lang), False),
            (_t("metric", lang), False),
            (_t("difference", lang), True),
            (_t("ratio", lang), True),
            (_t("threshold", lang), True),
        ],
        [
            [
                _group_label(fairness, d["attribute"], d["group"], lang),
                _METRICS.get(d["metric"], {}).get(lang, d["metric"]),
                _num(d.get("difference")),
                _num(d.get("ratio")),
                _num(d.get("difference_threshold")),
            ]
            for d in disparities
        ],
    )
    return (
        title
        + chart
        + f'<p class="note">{_e(_t("fairness_note", lang, min_cell=min_cell))}</p>'
        + (f"<h3>{_e(_t('disparities', lang))}</h3>{table}" if disparities else "")
    )


def _actuals(report: Mapping[str, Any], lang: Language) -> str:
    title = f"<h2>{_e(_t('actuals', lang))}</h2>"
    actuals = report["actuals"]
    if not actuals:
        return title + f'<p class="note">{_e(_t("no_actuals", lang))}</p>'

    def rate(value: Mapping[str, Any] | None) -> str:
        return "—" if not value else _pct(value.get("rate"))

    return title + _table(
        [
            (_t("version", lang), False),
            (_t("with_actual", lang), True),
            (_t("precision", lang), True),
            (_t("recall", lang), True),
            (_t("calibration", lang), True),
        ],
        [
            [
                a["version"],
                a["actuals"]["count"],
                rate(a.get("precision")),
                rate(a.get("recall")),
                _num(a.get("calibration_error")),
            ]
            for a in actuals
        ],
    )


def _review(report: Mapping[str, Any], lang: Language) -> str:
    review = report["review"]
    rates = review["rates"]
    rows = [
        [_t("total", lang), *_rate_cells(rates["total"])],
        *[[f"{_t('version', lang)} {r['version']}", *_rate_cells(r)] for r in rates["by_version"]],
        *[[r["outcome"], *_rate_cells(r)] for r in rates["by_outcome"]],
    ]
    table = _table(
        [
            ("", False),
            (_t("decisions", lang), True),
            (_t("contested", lang), True),
            (_t("contest_rate", lang), True),
            (_t("resolved", lang), True),
            (_t("overturn_rate", lang), True),
        ],
        rows,
    )
    by_group = [g for g in review.get("by_group", []) if "+" not in g["attribute"]]
    if by_group:
        table += _table(
            [
                (_t("group", lang), False),
                (_t("decisions", lang), True),
                (_t("contest_rate", lang), True),
                (_t("overturn_rate", lang), True),
            ],
            [
                [
                    _group_label(report["fairness"], g["attribute"], g["group"], lang),
                    _num(g["decisions"]),
                    _pct(g["contest_rate"]),
                    _pct(g["overturn_rate"]),
                ]
                for g in by_group
            ],
        )
    thresholds = review["thresholds"]
    reviewers = review["reviewers"]
    out = f"<h2>{_e(_t('review', lang))}</h2>{table}<h3>{_e(_t('reviewers', lang))}</h3>"
    if not reviewers:
        out += f'<p class="note">{_e(_t("no_reviews", lang))}</p>'
    else:
        out += _hbars(
            [(r["reviewer"], r["agreement"], None) for r in reviewers],
            top=1.0,
            threshold=thresholds["agreement"],
            legend=None,
            percent=True,
        )
        out += (
            '<p class="note">'
            + _e(
                _t(
                    "reviewers_note",
                    lang,
                    agreement=_pct(thresholds["agreement"]),
                    seconds=_num(thresholds["median_seconds"], 0),
                    min_cases=thresholds["min_cases"],
                )
            )
            + "</p>"
        )
        out += _table(
            [
                (_t("reviewer", lang), False),
                (_t("cases", lang), True),
                (_t("agreement", lang), True),
                (_t("overturn_rate", lang), True),
                (_t("median", lang), True),
            ],
            [
                [
                    r["reviewer"],
                    r["cases"],
                    _pct(r["agreement"]),
                    _pct(r["overturn_rate"]),
                    _num(r["median_seconds_to_resolve"], 0) + " s",
                ]
                for r in reviewers
            ],
        )
    sample = review["quality_sample"]
    out += (
        '<p class="note">'
        + _e(
            _t(
                "quality",
                lang,
                sampled=sample["sampled"],
                upheld=sample["upheld"],
                rate=_pct(sample["rate"]),
                confirmed=sample["confirmed"],
            )
        )
        + "</p>"
    )
    return out


def _rate_cells(row: Mapping[str, Any]) -> list[str]:
    return [
        _num(row["decisions"]),
        str(row["contested"]),
        _pct(row["contest_rate"]),
        str(row["resolved"]),
        _pct(row["overturn_rate"]),
    ]


def render_html(
    report: Mapping[str, Any],
    *,
    lang: Language = "en",
    sha256: str | None = None,
    labels: Mapping[str, Label] | None = None,
) -> str:
    """The report as one self-contained HTML page (inline style and SVG charts, no script).

    Parameters
    ----------
    report : mapping
        ``report.json``'s value (:func:`api.reports.service.build_report`).
    lang : {"en", "es"}
        The page's language.
    sha256 : str, optional
        The hash of ``report.json``, printed so a reader can match the page with the signed
        JSON.
    labels : mapping of str to Label, optional
        The spec's feature labels; features are named as in the data without them.

    Returns
    -------
    str
        The page.
    """
    names = labels or {}
    period = report["period"]
    min_cell = (report["fairness"].get("thresholds") or {}).get("min_cell", 10)
    title = _t("title", lang, model=report["model"])
    body = [
        f"<h1>{_e(title)}</h1>",
        '<p class="meta">'
        + _e(_t("period", lang, start=period["from"], end=period["to"], days=period["days"]))
        + "</p>",
    ]
    if sha256:
        body.append(
            f'<p class="meta">{_e(_t("sha", lang))}: <span class="hash">{_e(sha256)}</span></p>'
        )
    body += [
        f"<h2>{_e(_t('alerts', lang))}</h2>",
        _alerts(report, names, lang),
        _versions(report, lang),
        _score(report, lang),
        _drift(report, names, lang),
        _fairness(report, lang),
        _actuals(report, lang),
        _review(report, lang),
        f"<footer>{_e(_t('footer', lang, min_cell=min_cell))}</footer>",
    ]
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def render_pdf(page: str) -> bytes:
    """The HTML page laid out as a PDF (A4) by WeasyPrint.

    Parameters
    ----------
    page : str
        From :func:`render_html`: self-contained, so nothing is fetched.

    Returns
    -------
    bytes
        The PDF.

    Raises
    ------
    PdfUnavailableError
        The system lacks the libraries WeasyPrint lays pages out with.
    """
    try:
        from weasyprint import HTML
    except OSError as exc:  # WeasyPrint loads Pango when imported
        raise PdfUnavailableError(
            "the PDF needs Pango from the system (Debian: apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0; scripts/_pdf.sh does it): {exc}"
        ) from None

    def refuse(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # The page is self-contained: a reference to anything else is a mistake, never fetched.
        raise ValueError(f"the report fetches nothing ({url[:40]})")

    pdf: bytes = HTML(string=page, url_fetcher=refuse).write_pdf()
    return pdf
