"""The bench's child processes and what ``/proc`` says about them: CPU of a process tree, of the
machine and of other processes, memory, ports, readiness."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .common import CLK_TCK, ENTRY, HOST, PAGE_KIB, REPO, Json

__all__ = [
    "Processes",
    "background_load",
    "children_cpu_seconds",
    "cpu_ticks",
    "free_port",
    "process_tree",
    "run_child",
    "steal_seconds",
    "system_busy_seconds",
    "tail",
    "thread_cpu_seconds",
    "tree_cpu_seconds",
    "tree_memory_mib",
    "wait_for_quiet",
    "wait_http",
    "wait_idle",
]


class Processes:
    """Every child started by the bench, each in its own session, killed as a group at the end."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, cmd: Sequence[str], *, env: dict[str, str], log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in a session of its own (its output to ``log``, or discarded)."""
        out = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                list(cmd),
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self._procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], *, timeout: float = 15.0) -> None:
        """SIGTERM to the process group, then SIGKILL if it does not go."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Workers of a multi-process server may outlive their parent for a moment.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        """Stop every child started, the last first."""
        for proc in reversed(self._procs):
            self.stop(proc)
        self._procs.clear()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of one process, in clock ticks; None when it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[11]) + int(fields[12])


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """utime + stime (and reaped children's) of a process tree, in seconds."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # Fields 14-17 of stat (utime, stime, cutime, cstime); index 0 here is field 3.
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLK_TCK


def _cpu_line() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def system_busy_seconds() -> float:
    """CPU seconds the machine's processes ran (all cores; not idle, iowait or steal)."""
    user, nice, system, _idle, _iowait, irq, softirq = _cpu_line()[:7]
    return (user + nice + system + irq + softirq) / CLK_TCK


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave to someone else while this VM wanted to run."""
    return _cpu_line()[7] / CLK_TCK


def children_cpu_seconds() -> float:
    """CPU of this process's reaped children (the load generators run to completion)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def background_load(seconds: float = 1.0) -> float:
    """Cores kept busy by other processes while the bench is idle (a shared machine)."""
    before = system_busy_seconds()
    time.sleep(seconds)
    return (system_busy_seconds() - before) / seconds


def wait_for_quiet(max_wait: float, *, threshold: float = 0.25) -> float:
    """Wait (up to ``max_wait`` s) until other processes leave the cores nearly idle; returns
    the last background load measured (cores)."""
    deadline = time.monotonic() + max_wait
    load = background_load(1.0)
    while load > threshold and time.monotonic() < deadline:
        load = background_load(2.0)
    return load


def tree_memory_mib(root: int) -> Json:
    """RSS and PSS of each process in a tree (PSS splits shared pages fairly)."""
    per: list[Json] = []
    for pid in process_tree(root):
        try:
            rss_kib = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (OSError, IndexError, ValueError):
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
        pss_kib = int(match.group(1)) if match else rss_kib
        per.append({"pid": pid, "rss_mib": rss_kib / 1024, "pss_mib": pss_kib / 1024})
    return {
        "rss_mib": sum(p["rss_mib"] for p in per),
        "pss_mib": sum(p["pss_mib"] for p in per),
        "processes": per,
    }


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 180.0
) -> None:
    """Poll until ``url`` answers 200; fail early (with the log's tail) if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s:\n{tail(log)}")


def wait_idle(
    root: int, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 180.0
) -> None:
    """Wait until a server's process tree stops burning CPU: every worker has imported its
    libraries and loaded its models (uvicorn's spawned workers log nothing we could wait for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        before = tree_cpu_seconds(root)
        time.sleep(1.0)
        if tree_cpu_seconds(root) - before < 0.05:
            return
    raise RuntimeError(f"server still busy starting after {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, lines: int = 25) -> str:
    """The last lines of a server's log, for an error message."""
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def thread_cpu_seconds(native_id: int) -> float:
    """utime + stime of one thread of this process, in seconds."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_child(mode: str, args: Sequence[str], env: dict[str, str]) -> Json:
    """Run a child mode of the bench script (``decisions.py <mode> ...``) in a fresh process and
    return the JSON it prints last, with what other processes used meanwhile."""
    busy, own, wall = system_busy_seconds(), children_cpu_seconds(), time.perf_counter()
    steal = steal_seconds()
    out = subprocess.run(
        [sys.executable, str(ENTRY), mode, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result: Json = json.loads(out.stdout.strip().splitlines()[-1])
    elapsed = time.perf_counter() - wall
    others = system_busy_seconds() - busy - (children_cpu_seconds() - own)
    result["other_processes_cores_busy"] = max(0.0, others / elapsed)
    result["steal_cores"] = (steal_seconds() - steal) / elapsed
    return result
