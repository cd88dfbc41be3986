"""Walk a contested decision through glassbox over HTTP, as the three parties would.

An application asks for a fraud decision (with a callback URL on a loopback receiver); the
person, with only the token from the notice, reads it in Spanish and contests it with a
corrected value; a reviewer claims the case, reads both re-scores and overturns it (a second
reviewer approves, as the fraud policy asks); the application receives the signed webhook;
the person sees the new outcome and the reasons.

    .venv/bin/python docs/examples/contest_walkthrough.py --base http://127.0.0.1:8000 \\
        --application gbx_application_... --reviewer gbx_reviewer_... --second-reviewer gbx_...

The receiver is on loopback and speaks plain http: that takes the demo (``glassbox demo``, where
http callbacks are allowed) and an admin's allowance for the application's key, which webhooks
otherwise never reach loopback with::

    glassbox apps allow-private-callbacks <the application, from glassbox apps list>

Afterwards ``glassbox verify-log`` checks the chain and ``glassbox log`` lists every step.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx

RISKY = {
    "amount": 1250,
    "amount_ratio": 9.5,
    "merchant_category": "electronics",
    "country_mismatch": True,
    "hour": 3,
    "device_age_days": 0,
    "txn_count_1h": 6,
    "account_age_days": 20,
    "card_present": False,
    "distance_from_home_km": 900,
}


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012  # shared with the main thread

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append({"headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def _show(step: str, data: Any) -> None:
    print(f"\n== {step}\n{json.dumps(data, indent=2, ensure_ascii=False, default=str)[:1500]}")


def _pick(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: data[key] for key in keys}


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--application", required=True)
    parser.add_argument("--reviewer", required=True)
    parser.add_argument("--second-reviewer", required=True)
    args = parser.parse_args()

    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{receiver.server_port}/glassbox"

    def as_key(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    with httpx.Client(base_url=args.base, timeout=30) as http:
        decision = _ok(
            http.post(
                "/v1/decisions/fraud",
                headers=as_key(args.application),
                json={
                    "subject_ref": f"walkthrough-{int(time.time())}",
                    "legal_basis": "contract",
                    "locale": "es",
                    "callback_url": callback,
                    "features": RISKY,
                    # For fairness monitoring only: sealed, counted in aggregate, never an input.
                    "monitoring": {"age_band": "35-49", "sex": "female"},
                },
            )
        )
        _show(
            "1. the application's decision",
            _pick(decision, "id", "outcome", "score", "significant", "notice"),
        )
        token = {"Authorization": f"Bearer {decision['notice']['subject_token']}"}

        seen = _ok(http.get(f"/v1/me/decisions/{decision['id']}", headers=token))
        _show(
            "2. the person reads it in Spanish",
            {
                "outcome_label": seen["outcome_label"],
                "factors": [f["sentence"] for f in seen["factors"]],
            },
        )

        case = _ok(
            http.post(
                f"/v1/me/decisions/{decision['id']}/contest",
                headers=token,
                json={
                    "statement": "Estaba de viaje con mi tarjeta; la distancia es de 12 km.",
                    "corrections": {"distance_from_home_km": 12, "card_present": True},
                },
            )
        )
        _show("3. the person contests", case)

        queue = _ok(http.get("/v1/reviews/cases", headers=as_key(args.reviewer)))
        _show("4. the review queue", queue)
        case_id = case["case_id"]
        _ok(http.post(f"/v1/reviews/cases/{case_id}/claim", headers=as_key(args.reviewer)))
        view = _ok(http.get(f"/v1/reviews/cases/{case_id}", headers=as_key(args.reviewer)))
        _show(
            "5. the reviewer's view",
            {
                k: view[k]
                for k in ("statement", "corrections", "rescore_deciding", "rescore_champion")
            },
        )
        proposal = _ok(
            http.post(
                f"/v1/reviews/cases/{case_id}/resolve",
                headers=as_key(args.reviewer),
                json={
                    "resolution": "overturn",
                    "outcome": "approve",
                    "rationale": "The card was present and the customer was 12 km from home; "
                    "the corrected inputs score well below the block band on both versions.",
                },
            )
        )
        _show("6. the first reviewer proposes an overturn", proposal)
        resolved = _ok(
            http.post(f"/v1/reviews/cases/{case_id}/approve", headers=as_key(args.second_reviewer))
        )
        _show("7. a second reviewer approves", resolved)

        for _ in range(100):
            if _Receiver.received:
                break
            time.sleep(0.1)
        _show("8. the application's webhook", _Receiver.received)

        mine = _ok(http.get(f"/v1/me/cases/{case_id}", headers=token))
        _show(
            "9. the person sees the outcome and the reasons",
            {
                k: mine[k]
                for k in ("state", "outcome", "previous_outcome", "rationale", "human_decision_id")
            },
        )
    receiver.shutdown()


if __name__ == "__main__":
    main()
