"""A periodic review on the demo: a normal stretch of fraud decisions, then an injected day whose
amounts drifted and whose oldest customers are held and blocked far more often, contests upheld
in seconds by one reviewer -- and the report that names all three.

Start the demo (``scripts/demo``), then, with the keys it printed::

    .venv/bin/python docs/examples/periodic_review.py --application gbx_application_... \\
        --reviewer gbx_reviewer_...

It sends every decision over HTTP with the person's monitoring groups (age band and sex, which
the fraud spec declares for fairness monitoring only), contests some of them with the tokens
their notices carry, has the reviewer claim and uphold each at once, and then runs
``glassbox report --model fraud`` for today, printing the alerts: ``feature_drift`` on
``amount``, ``fairness`` naming the ``65+`` age band, ``rubber_stamping`` naming the reviewer.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from data_fixtures import generate_transactions
from models.spec import default_spec_path, load_spec

AGES = ["18-24", "25-34", "35-49", "50-64"]


def _features(record: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for name, kind in types.items():
        value = record[name]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        features[name] = (
            bool(value)
            if kind == "boolean"
            else int(value)
            if kind == "integer"
            else str(value)
            if kind == "category"
            else float(value)
        )
    return features


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--application", required=True)
    parser.add_argument("--reviewer", required=True)
    parser.add_argument("--home", default=".glassbox", help="The demo's home (glassbox report).")
    parser.add_argument("--out", default="reports/demo", help="Where the report is written.")
    parser.add_argument("--normal", type=int, default=1500, help="Decisions of the normal stretch.")
    parser.add_argument("--injected", type=int, default=900, help="Decisions of the injected day.")
    parser.add_argument("--contests", type=int, default=14)
    args = parser.parse_args()

    rng = random.Random(2026)  # noqa: S311  # a reproducible demo, not a secret
    spec = load_spec(default_spec_path("fraud"))
    types = {f.name: f.type for f in spec.features}
    rows = generate_transactions(args.normal + args.injected, seed=31).to_dict("records")
    app = httpx.Client(
        base_url=args.base, headers={"Authorization": f"Bearer {args.application}"}, timeout=30
    )

    def decide(i: int, features: dict[str, Any], age: str) -> dict[str, Any]:
        body = {
            "subject_ref": f"review-demo-{i}",
            "legal_basis": "contract",
            "features": features,
            "monitoring": {"age_band": age, "sex": rng.choice(["female", "male"])},
        }
        answer: dict[str, Any] = _ok(app.post("/v1/decisions/fraud", json=body))
        return answer

    made: list[dict[str, Any]] = []
    print(f"A normal stretch: {args.normal} decisions, every age band alike")
    for i, record in enumerate(rows[: args.normal]):
        made.append(decide(i, _features(record, types), rng.choice([*AGES, "65+"])))

    # The injected day: every amount four times what it was (a drifted input), and the riskiest
    # quarter of its payments are the oldest customers' (a group held and blocked far more).
    injected = rows[args.normal :]
    riskiest = sorted(injected, key=lambda r: -float(r.get("amount_ratio") or 0))
    oldest = {id(r) for r in riskiest[: len(injected) // 4]}
    print(f"The injected day: {len(injected)} decisions, amounts x4, the 65+ band's riskier")
    for j, record in enumerate(injected):
        features = _features(record, types)
        features["amount"] = round(features["amount"] * 4, 2)
        age = "65+" if id(record) in oldest else rng.choice(AGES)
        made.append(decide(args.normal + j, features, age))

    # People contest; one reviewer upholds every case within seconds of claiming it.
    reviewer = httpx.Client(
        base_url=args.base, headers={"Authorization": f"Bearer {args.reviewer}"}, timeout=30
    )
    contested = [d for d in made if d["outcome"] != "approve"][: args.contests]
    print(f"{len(contested)} contests, each upheld at once by the same reviewer")
    for d in contested:
        person = httpx.Client(
            base_url=args.base,
            headers={"Authorization": f"Bearer {d['notice']['subject_token']}"},
            timeout=30,
        )
        case = _ok(
            person.post(
                f"/v1/me/decisions/{d['id']}/contest",
                json={"statement": "I made this payment myself."},
            )
        )
        _ok(reviewer.post(f"/v1/reviews/cases/{case['case_id']}/claim"))
        _ok(
            reviewer.post(
                f"/v1/reviews/cases/{case['case_id']}/resolve",
                json={"resolution": "uphold", "rationale": "Confirmed."},
            )
        )

    today = datetime.now(UTC).date().isoformat()
    out = Path(args.out)
    command = [
        str(Path(sys.executable).parent / "glassbox"),
        "report",
        "--model",
        "fraud",
        "--from",
        today,
        "--to",
        today,
        "--home",
        args.home,
        "--demo",
        "--out",
        str(out),
    ]
    print("\n$ " + " ".join(command))
    subprocess.run(command, check=True)  # noqa: S603  # our own command, no shell
    report = json.loads((out / "report.json").read_text())
    print("\nAlerts in report.json:")
    for alert in report["alerts"]:
        named = alert.get("feature") or alert.get("group") or alert.get("reviewer")
        value, threshold = alert["value"], alert["threshold"]
        print(f"  {alert['kind']:<18} {named!s:<40} {value} (threshold {threshold})")


if __name__ == "__main__":
    main()
