"""A customer export in the layout of public telecom churn data, written the way such files are.

Yes/No columns, "No internet service" / "No phone service" levels, an id column, SeniorCitizen as
0/1, blanks in TotalCharges for customers in their first month, Churn as Yes/No. Written here so
the tests need no download; its columns and quirks follow the public file exactly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = [
    "customerID", "gender", "SeniorCitizen", "Partner", "Dependents", "tenure", "PhoneService",
    "MultipleLines", "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection",
    "TechSupport", "StreamingTV", "StreamingMovies", "Contract", "PaperlessBilling",
    "PaymentMethod", "MonthlyCharges", "TotalCharges", "Churn",
]  # fmt: skip


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def write_telco_csv(path: Path, n: int = 3000, seed: int = 11) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        contract = rng.choice(["Month-to-month", "One year", "Two year"], p=[0.55, 0.21, 0.24])
        tenure = (
            int(rng.integers(0, 73)) if contract == "Month-to-month" else int(rng.integers(6, 73))
        )
        if rng.random() < 0.03:
            tenure = 0
        phone = rng.random() < 0.9
        internet = rng.choice(["DSL", "Fiber optic", "No"], p=[0.34, 0.44, 0.22])

        def addon(p: float, internet: str = internet) -> str:
            if internet == "No":
                return "No internet service"
            return "Yes" if rng.random() < p else "No"

        security, support = addon(0.3), addon(0.3)
        monthly = 20.0 + (25 if internet == "DSL" else 50 if internet == "Fiber optic" else 0)
        monthly += 10 * (security == "Yes") + 10 * (support == "Yes") + rng.normal(0, 5)
        monthly = round(max(18.25, monthly), 2)
        payment = rng.choice(
            [
                "Electronic check",
                "Mailed check",
                "Bank transfer (automatic)",
                "Credit card (automatic)",
            ]
        )
        logit = (
            -1.2
            + 1.4 * (contract == "Month-to-month")
            - 1.0 * (contract == "Two year")
            - 0.04 * tenure
            + 0.9 * (internet == "Fiber optic")
            - 0.5 * (security == "Yes")
            - 0.5 * (support == "Yes")
            + 0.6 * (payment == "Electronic check")
        )
        churn = rng.random() < 1 / (1 + np.exp(-1.6 * logit))
        total = "" if tenure == 0 else f"{monthly * tenure + rng.normal(0, 10):.2f}"
        rows.append(
            [
                f"{rng.integers(1000, 9999)}-{''.join(rng.choice(list(LETTERS), 5))}{i}",
                rng.choice(["Female", "Male"]),
                str(int(rng.random() < 0.16)),
                rng.choice(["Yes", "No"]),
                rng.choice(["Yes", "No"], p=[0.3, 0.7]),
                str(tenure),
                "Yes" if phone else "No",
                ("Yes" if rng.random() < 0.45 else "No") if phone else "No phone service",
                internet,
                security,
                addon(0.35),
                addon(0.35),
                support,
                addon(0.4),
                addon(0.4),
                contract,
                rng.choice(["Yes", "No"], p=[0.6, 0.4]),
                payment,
                f"{monthly:.2f}",
                # The public file writes a single space where a new customer has no total yet.
                total or " ",
                "Yes" if churn else "No",
            ]
        )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path
