#!/usr/bin/env python
"""Benchmark of ``POST /v1/decisions/fraud`` on the real server, against ``mlflow models serve``.

One run builds a temporary home (fixtures, the three models trained and registered in a
temporary SQLite MLflow store, demo secrets, an application key), starts ``glassbox serve`` as a
separate process and drives it over loopback HTTP from other processes:

(a) closed loop, 8 connections (wrk): maximum throughput;
(b) open loop at half that rate (a Python fixed-rate generator that measures latency from the
    *scheduled* send time, so a slow response cannot hide the requests queued behind it);
(c) closed loop, one connection (wrk): unloaded latency.

It reads the server's CPU time from ``/proc`` around each scenario (CPU per decision), its RSS
after warm-up, the RSS each model adds in a fresh process, serves the same registered fraud
model with ``mlflow models serve`` as the baseline (bare predict: no explanation, no log, no
durable write), times TreeSHAP and the pieces of the hot path in-process, and finally verifies
the decision log the run built -- and a tampered copy of it.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/decisions.py [--quick] [--workers 1 2] [--keep]

Results go to ``bench/results/latest.json``; a Markdown table is printed at the end.
The hidden sub-commands ``_loadgen``, ``_rss`` and ``_micro`` are the child processes (the run
starts them by re-invoking this script). The body lives in the package ``decisionbench`` beside
it, one module per part of a run.
"""

import sys

# Run as a script, this file's folder is sys.path[0]: the package beside it imports as is.
from decisionbench.main import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
