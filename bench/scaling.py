"""How far one decision-log chain carries glassbox, and what sharding the chain buys: a
discrete-event simulation of hosts writing to one chain (or several), built on measured figures.

Every host scores decisions on its own cores (server CPU per decision, measured) and hands them
to its log writer, which waits for the chain's lock, takes what queued meanwhile (group commit,
at most 256) and holds the lock for ``hold0 + hold1 * n`` seconds for a batch of ``n`` (fitted
to the lock hold per batch the PostgreSQL bench scenario measures). With one chain the lock is
the one serialised section: the simulation finds the rate at which it saturates. With ``S``
chains (one per shard of subjects, each with its own lock and head, a signed checkpoint over
the heads as Certificate Transparency logs do), the hosts' writers spread over the shards.

Usage::

    python bench/scaling.py --results bench/results/postgres.json [--hosts 1 2 4 8 16]
    python bench/scaling.py --hold0-ms 0.9 --hold1-ms 0.05 --cpu-ms 1.4
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_BATCH = 256


@dataclass(frozen=True)
class Figures:
    """The measured inputs: the chain lock's hold per batch and a host's CPU per decision."""

    hold0_s: float
    hold1_s: float
    cpu_s_per_decision: float
    cores_per_host: int = 2


def fit(results: dict[str, Any]) -> Figures:
    """Fit ``hold = hold0 + hold1 * n`` to the PostgreSQL scenario's configurations."""
    runs = results["postgres"]["runs"].values()
    points = [
        (r["log_writer"]["entries_per_batch"], r["log_writer"]["lock_held_ms_per_batch"] / 1e3)
        for r in runs
        if r["log_writer"]["entries_per_batch"]
    ]
    cpu = min(r["server_cpu_ms_per_decision"] for r in runs) / 1e3
    if len(points) < 2 or len({round(n, 3) for n, _ in points}) < 2:
        n, hold = points[0]
        # One batch size measured: charge the whole hold to its decisions (pessimistic).
        return Figures(hold0_s=0.0, hold1_s=hold / n, cpu_s_per_decision=cpu)
    mean_n = sum(n for n, _ in points) / len(points)
    mean_h = sum(h for _, h in points) / len(points)
    slope = sum((n - mean_n) * (h - mean_h) for n, h in points) / sum(
        (n - mean_n) ** 2 for n, _ in points
    )
    slope = max(slope, 1e-7)
    return Figures(hold0_s=max(0.0, mean_h - slope * mean_n), hold1_s=slope, cpu_s_per_decision=cpu)


def simulate(
    figures: Figures, *, hosts: int, shards: int, seconds: float = 5.0, seed: int = 7
) -> dict[str, float]:
    """Hosts at full CPU (closed loop: each host decides as fast as its cores allow, as long as
    its writer keeps up) writing to ``shards`` chains. Returns decisions/s and lock figures."""
    rng = random.Random(seed)
    rate = figures.cores_per_host / figures.cpu_s_per_decision  # one host's decisions/s
    # Events: (time, kind, host). Each host's decisions arrive as a Poisson stream at ``rate``
    # and go to a shard at random; a writer per (host, shard) takes the lock of its shard.
    queue: dict[tuple[int, int], list[float]] = {
        (h, s): [] for h in range(hosts) for s in range(shards)
    }
    lock_free_at = [0.0] * shards
    waiting: list[list[tuple[int, int]]] = [[] for _ in range(shards)]
    writer_busy: dict[tuple[int, int], bool] = dict.fromkeys(queue, False)
    events: list[tuple[float, int, int, int]] = []  # (time, kind 0=arrival 1=release, host, shard)
    for h in range(hosts):
        heapq.heappush(events, (rng.expovariate(rate), 0, h, -1))
    done = 0
    latency_sum = 0.0
    held = [0.0] * shards
    batches = 0

    def grant(shard: int, now: float) -> None:
        nonlocal batches
        if not waiting[shard] or lock_free_at[shard] > now:
            return
        writer = waiting[shard].pop(0)
        taken = queue[writer][:MAX_BATCH]
        del queue[writer][:MAX_BATCH]
        hold = figures.hold0_s + figures.hold1_s * len(taken)
        lock_free_at[shard] = now + hold
        held[shard] += hold
        batches += 1
        heapq.heappush(events, (now + hold, 1, writer[0], shard))
        release_batches[(writer, now + hold)] = taken

    release_batches: dict[tuple[tuple[int, int], float], list[float]] = {}
    while events:
        now, kind, h, s = heapq.heappop(events)
        if now > seconds:
            break
        if kind == 0:
            shard = rng.randrange(shards)
            writer = (h, shard)
            queue[writer].append(now)
            if not writer_busy[writer]:
                writer_busy[writer] = True
                waiting[shard].append(writer)
                grant(shard, now)
            heapq.heappush(events, (now + rng.expovariate(rate), 0, h, -1))
        else:
            writer = (h, s)
            for arrived in release_batches.pop((writer, now)):
                done += 1
                latency_sum += now - arrived
            if queue[writer]:
                waiting[s].append(writer)
            else:
                writer_busy[writer] = False
            grant(s, now)
    return {
        "hosts": hosts,
        "shards": shards,
        "offered_per_s": hosts * rate,
        "decisions_per_s": done / seconds,
        "mean_commit_wait_ms": latency_sum / done * 1e3 if done else float("nan"),
        "lock_busy_share": max(held) / seconds,
        "decisions_per_batch": done / batches if batches else float("nan"),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, help="A bench run with the PostgreSQL scenario.")
    parser.add_argument("--hold0-ms", type=float, help="Lock hold per batch, fixed part.")
    parser.add_argument("--hold1-ms", type=float, help="Lock hold per decision in a batch.")
    parser.add_argument("--cpu-ms", type=float, help="Server CPU per decision.")
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seconds", type=float, default=5.0)
    ns = parser.parse_args(argv)
    if ns.results:
        figures = fit(json.loads(ns.results.read_text()))
    elif None not in (ns.hold0_ms, ns.hold1_ms, ns.cpu_ms):
        figures = Figures(ns.hold0_ms / 1e3, ns.hold1_ms / 1e3, ns.cpu_ms / 1e3)
    else:
        parser.error("give --results, or --hold0-ms, --hold1-ms and --cpu-ms")
    print(
        f"lock hold per batch = {figures.hold0_s * 1e3:.3f} ms + {figures.hold1_s * 1e3:.4f} ms "
        f"x decisions; {figures.cpu_s_per_decision * 1e3:.2f} ms server CPU per decision, "
        f"{figures.cores_per_host} cores per host"
    )
    print("| hosts | chains | offered/s | logged/s | commit wait ms | busiest lock | per batch |")
    print("|---|---|---|---|---|---|---|")
    for shards in ns.shards:
        for hosts in ns.hosts:
            r = simulate(figures, hosts=hosts, shards=shards, seconds=ns.seconds)
            print(
                f"| {hosts} | {shards} | {r['offered_per_s']:,.0f} | {r['decisions_per_s']:,.0f} "
                f"| {r['mean_commit_wait_ms']:.2f} | {r['lock_busy_share']:.0%} "
                f"| {r['decisions_per_batch']:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
