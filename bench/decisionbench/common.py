"""What every part of the bench shares: where things are, the fixed sizes and targets, the
environment its children get, and how latencies are summarised."""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "CLK_TCK",
    "CONNECTIONS",
    "ENTRY",
    "HOST",
    "MODEL_NAMES",
    "PAGE_KIB",
    "REPO",
    "RESULTS_DIR",
    "SIZES",
    "TARGETS",
    "Json",
    "child_env",
    "clean_environ",
    "executable",
    "percentiles",
    "quiet_env",
    "say",
]

REPO = Path(__file__).resolve().parents[2]
# The script the bench re-invokes for its child processes (``decisions.py _micro`` ...).
ENTRY = REPO / "bench" / "decisions.py"
RESULTS_DIR = REPO / "bench" / "results"
HOST = "127.0.0.1"
CONNECTIONS = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
MODEL_NAMES = ("fraud", "churn", "recommendation")
# As tests/conftest.py: large enough for the fraud gates to pass, small enough to train in seconds.
SIZES = {
    "transactions": 40_000,
    "customers": 10_000,
    "applicants": 3_000,
    "items": 150,
    "learners": 600,
}

TARGETS = {
    "throughput_per_s": 1000.0,
    "open_loop_p99_ms": 10.0,
    "single_p50_ms": 3.0,
    "mlflow_ratio": 10.0,
    "cpu_over_treeshap": 2.0,
}

Json = dict[str, Any]


def executable(name: str) -> str:
    """An executable of the project's virtual environment."""
    for folder in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"cannot find {name!r} (run with the project's .venv/bin/python)")
    return found


def say(message: str) -> None:
    """A progress line on standard output, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def clean_environ() -> dict[str, str]:
    """This process's environment without any glassbox or MLflow store settings of the caller's:
    the bench's servers must use the bench's own home, secrets and stores."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GLASSBOX_") and k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    }


def quiet_env() -> dict[str, str]:
    """One thread per numeric library and no telemetry: the figures are the service's own."""
    return {
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
    }


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child of this script (``extra`` last)."""
    env = clean_environ()
    env.update(quiet_env())
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def percentiles(samples: list[float]) -> Json:
    """Nearest-rank percentiles of latencies in seconds, reported in milliseconds."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    return {
        "p50": rank(50) * 1e3,
        "p90": rank(90) * 1e3,
        "p99": rank(99) * 1e3,
        "p99.9": rank(99.9) * 1e3,
        "mean": sum(ordered) / len(ordered) * 1e3,
        "max": ordered[-1] * 1e3,
    }
