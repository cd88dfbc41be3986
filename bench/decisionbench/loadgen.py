"""The Python load generator: where a generator sends its requests, the open-loop generator
(fixed rate, latency from the scheduled send time) and the closed-loop fallback for machines
without wrk. It runs as a child process of its own (``decisions.py _loadgen``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .common import CONNECTIONS, ENTRY, HOST, Json, child_env, percentiles

__all__ = ["Target", "main", "run_python_loadgen"]


@dataclass(frozen=True)
class Target:
    """Where a load generator sends its requests."""

    port: int
    path: str
    bodies: Path
    api_key: str | None


def run_python_loadgen(
    target: Target,
    *,
    seconds: float,
    connections: int | None = None,
    rate: float | None = None,
) -> Json:
    """The Python generator in a process of its own: open loop at ``rate``, else closed loop."""
    cmd = [
        sys.executable,
        str(ENTRY),
        "_loadgen",
        "--port",
        str(target.port),
        "--path",
        target.path,
        "--bodies",
        str(target.bodies),
        "--seconds",
        str(seconds),
    ]
    if target.api_key:
        cmd += ["--api-key", target.api_key]
    if rate is not None:
        cmd += ["--rate", str(rate)]
    else:
        cmd += ["--connections", str(connections or 1)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=child_env())
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stdout}\n{out.stderr}")
    result: Json = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# The generator itself: minimal HTTP/1.1 over asyncio streams (keep-alive, Content-Length).


def _request_bytes(port: int, path: str, body: str, api_key: str | None) -> bytes:
    payload = body.encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ]
    if api_key:
        head.append(f"Authorization: Bearer {api_key}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(port: int) -> Conn:
    reader, writer = await asyncio.open_connection(HOST, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _exchange(conn: Conn, payload: bytes) -> tuple[int, bool]:
    """Send one request and read its response; returns (status, keep-alive)."""
    reader, writer = conn
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, keep = -1, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif key == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by this generator")
    if length < 0:
        raise ValueError("response without Content-Length")
    await reader.readexactly(length)
    return status, keep


async def _open_loop(
    port: int, payloads: list[bytes], rate: float, seconds: float, max_conns: int
) -> Json:
    """Requests scheduled at a constant rate; latency from the scheduled time (no coordinated
    omission: if the server stalls, the requests due meanwhile are late and say so)."""
    idle: list[Conn] = [await _connect(port) for _ in range(CONNECTIONS)]
    opened = len(idle)
    gate = asyncio.Semaphore(max_conns)
    latencies: list[float] = []
    lags: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0

    async def one(payload: bytes, scheduled: float) -> None:
        nonlocal errors, opened
        async with gate:
            conn: Conn | None = None
            while idle and conn is None:
                conn = idle.pop()
                if conn[0].at_eof():  # the server closed it (keep-alive timeout)
                    conn[1].close()
                    conn = None
            reused = conn is not None
            try:
                if conn is None:
                    conn = await _connect(port)
                    opened += 1
                try:
                    status, keep = await _exchange(conn, payload)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    partial = getattr(exc, "partial", b"")
                    if not reused or partial:
                        raise
                    # A pooled connection the server closed just now: the request was never
                    # read, so send it once more on a fresh connection (as HTTP clients do).
                    conn[1].close()
                    conn = await _connect(port)
                    opened += 1
                    status, keep = await _exchange(conn, payload)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                errors += 1
                if conn is not None:
                    conn[1].close()
                return
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] += 1
            if keep:
                idle.append(conn)
            else:
                conn[1].close()

    total = max(1, int(rate * seconds))
    pending: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.perf_counter() - scheduled)
        task = asyncio.create_task(one(payloads[i % len(payloads)], scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "generator": "python open loop (asyncio, fixed rate, latency from scheduled send time)",
        "rate_per_s": rate,
        "duration_s": elapsed,
        "requests": total,
        "ok": ok,
        "non2xx": sum(statuses.values()) - ok,
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "socket_errors": errors,
        "throughput_per_s": ok / elapsed,
        "connections_opened": opened,
        "latency_ms": percentiles(latencies),
        "send_lag_ms": {k: v for k, v in percentiles(lags).items() if k in ("p50", "p99", "max")},
    }


async def _closed_loop(port: int, payloads: list[bytes], connections: int, seconds: float) -> Json:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    end = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal errors
        conn = await _connect(port)
        i = k * 7919
        while time.perf_counter() < end:
            sent = time.perf_counter()
            try:
                status, keep = await _exchange(conn, payloads[i % len(payloads)])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn[1].close()
                conn = await _connect(port)
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[status] += 1
            i += 1
            if not keep:
                conn[1].close()
                conn = await _connect(port)
        conn[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    elapsed = time.perf_counter() - started
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "generator": "python closed loop (asyncio) -- FALLBACK, wrk not installed",
        "connections": connections,
        "duration_s": elapsed,
        "requests": sum(statuses.values()) + errors,
        "ok": ok,
        "non2xx": sum(statuses.values()) - ok,
        "socket_errors": errors,
        "throughput_per_s": ok / elapsed,
        "latency_ms": percentiles(latencies),
    }


def main(argv: Sequence[str]) -> None:
    """Child mode ``decisions.py _loadgen``: run one generator, print its figures as JSON."""
    parser = argparse.ArgumentParser(prog="decisions.py _loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--max-connections", type=int, default=64)
    ns = parser.parse_args(argv)
    bodies = [line for line in ns.bodies.read_text().splitlines() if line]
    payloads = [_request_bytes(ns.port, ns.path, body, ns.api_key) for body in bodies]
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if ns.rate is not None:
        result = asyncio.run(_open_loop(ns.port, payloads, ns.rate, ns.seconds, ns.max_connections))
    else:
        result = asyncio.run(_closed_loop(ns.port, payloads, ns.connections, ns.seconds))
    print(json.dumps(result))
