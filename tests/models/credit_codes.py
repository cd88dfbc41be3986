"""Applicants in the layout of the classic public credit data, written the way that file is.

Twenty attributes and the class, separated by single spaces, no header row; the qualitative
attributes as codes (``A11`` ... ``A202``), the class coded 1 (good) / 2 (bad), attribute 9
combining personal status and sex. The rows are synthetic, drawn here so that the tests need no
download: the codes, their meanings and the column order follow the public file's documentation;
the risk is made to depend on the attributes a lender reads (checking account, history,
duration, amount, savings, employment ...) and never on personal status, sex, age or being a
foreign worker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMNS = [
    "checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "employment", "installment_rate", "personal_status_sex", "other_debtors", "residence_since",
    "property", "age", "other_installment_plans", "housing", "existing_credits", "job",
    "people_liable", "telephone", "foreign_worker", "class",
]  # fmt: skip

# Each coded attribute: its codes, how often each appears, and what it adds to the risk.
_CODED: dict[str, tuple[list[str], list[float], list[float]]] = {
    "checking_status": (
        ["A11", "A12", "A13", "A14"],
        [0.27, 0.27, 0.06, 0.40],
        [0.9, 0.5, -0.2, -0.8],
    ),
    "credit_history": (
        ["A30", "A31", "A32", "A33", "A34"],
        [0.04, 0.05, 0.53, 0.09, 0.29],
        [1.0, 0.8, 0.1, 0.0, -0.5],
    ),
    "purpose": (
        ["A40", "A41", "A42", "A43", "A44", "A45", "A46", "A48", "A49", "A410"],
        [0.23, 0.10, 0.18, 0.28, 0.01, 0.02, 0.05, 0.01, 0.10, 0.02],
        [0.4, -0.5, 0.1, -0.2, 0.2, 0.3, 0.5, -0.6, 0.1, 0.2],
    ),
    "savings": (
        ["A61", "A62", "A63", "A64", "A65"],
        [0.60, 0.10, 0.06, 0.05, 0.19],
        [0.3, 0.2, -0.1, -0.6, -0.4],
    ),
    "employment": (
        ["A71", "A72", "A73", "A74", "A75"],
        [0.06, 0.17, 0.34, 0.17, 0.26],
        [0.2, 0.3, 0.1, -0.3, -0.2],
    ),
    "personal_status_sex": (
        ["A91", "A92", "A93", "A94"],
        [0.05, 0.31, 0.55, 0.09],
        [0.0, 0.0, 0.0, 0.0],
    ),
    "other_debtors": (["A101", "A102", "A103"], [0.91, 0.04, 0.05], [0.0, 0.3, -0.5]),
    "property": (["A121", "A122", "A123", "A124"], [0.28, 0.23, 0.33, 0.16], [-0.3, 0.0, 0.0, 0.4]),
    "other_installment_plans": (["A141", "A142", "A143"], [0.14, 0.05, 0.81], [0.4, 0.4, -0.1]),
    "housing": (["A151", "A152", "A153"], [0.18, 0.71, 0.11], [0.2, -0.2, 0.3]),
    "job": (["A171", "A172", "A173", "A174"], [0.02, 0.20, 0.63, 0.15], [0.1, 0.0, 0.0, 0.1]),
    "telephone": (["A191", "A192"], [0.60, 0.40], [0.0, -0.1]),
    "foreign_worker": (["A201", "A202"], [0.96, 0.04], [0.0, 0.0]),
}


def credit_codes_rows(n: int = 1000, seed: int = 19) -> list[list[str]]:
    """``n`` synthetic applicants as the file's rows of text, class last (1 good, 2 bad)."""
    rng = np.random.default_rng(seed)
    coded = {}
    risk = np.zeros(n)
    for name, (codes, weights, effects) in _CODED.items():
        which = rng.choice(len(codes), size=n, p=np.asarray(weights) / sum(weights))
        coded[name] = np.asarray(codes)[which]
        risk += 1.4 * np.asarray(effects)[which]
    duration = np.clip(np.round(rng.gamma(3.0, 7.0, n) / 3) * 3, 4, 72).astype(int)
    amount = np.clip(np.round(duration * rng.gamma(2.5, 60.0, n)), 250, 18500).astype(int)
    rate = rng.integers(1, 5, n)
    residence = rng.integers(1, 5, n)
    age = np.clip(np.round(rng.gamma(6.0, 6.0, n)) + 19, 19, 75).astype(int)
    credits = np.minimum(1 + rng.poisson(0.4, n), 4)
    liable = 1 + (rng.random(n) < 0.15)
    risk += 0.03 * (duration - 20) + 0.00008 * (amount - 3000) + 0.15 * (rate - 2.5)
    bad = rng.random(n) < 1.0 / (1.0 + np.exp(-(risk - 1.2 + rng.normal(0.0, 0.3, n))))
    numeric = {
        "duration": duration,
        "credit_amount": amount,
        "installment_rate": rate,
        "residence_since": residence,
        "age": age,
        "existing_credits": credits,
        "people_liable": liable,
        "class": np.where(bad, 2, 1),
    }
    columns = {**coded, **{k: v.astype(int) for k, v in numeric.items()}}
    return [[str(columns[c][i]) for c in COLUMNS] for i in range(n)]


def write_credit_codes(path: Path, n: int = 1000, seed: int = 19) -> Path:
    """Write the file: space-separated, no header, ``\\n`` line ends."""
    path.write_text("".join(" ".join(row) + "\n" for row in credit_codes_rows(n, seed)))
    return path


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "applicants.data")
    print(write_credit_codes(target))
