"""The decision log the run built: ``glassbox verify-log`` on it, then on a copy with one bit of
one entry flipped (its append-only triggers dropped in the copy only), which must fail and name
that entry."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import time

from .common import REPO, Json, executable
from .home import Home

__all__ = ["verify_log"]


def verify_log(home: Home) -> Json:
    """``glassbox verify-log`` on the run's log, then on a tampered copy (must exit 1, naming the
    flipped entry); both outputs, the log's size and what was flipped."""

    def verify(database_url: str) -> tuple[int, str]:
        env = dict(home.env)
        env["GLASSBOX_DATABASE_URL"] = database_url
        env["COLUMNS"] = "200"
        out = subprocess.run(
            [executable("glassbox"), "verify-log", "--home", str(home.path)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        return out.returncode, (out.stdout + out.stderr).strip()

    db = home.database
    started = time.perf_counter()
    code, output = verify(f"sqlite:///{db}")
    seconds = time.perf_counter() - started
    with contextlib.closing(sqlite3.connect(db)) as conn:
        entries = conn.execute("SELECT count(*) FROM log_entry").fetchone()[0]
        decisions = conn.execute("SELECT count(*) FROM decision").fetchone()[0]
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))

    copy = home.path / "tampered.db"
    with (
        contextlib.closing(sqlite3.connect(db)) as src,
        contextlib.closing(sqlite3.connect(copy)) as dst,
    ):
        src.backup(dst)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        triggers = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'log_entry'"
            )
        ]
        for name in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        seq = max(1, entries // 2)
        (body,) = conn.execute("SELECT body FROM log_entry WHERE seq = ?", (seq,)).fetchone()
        position = len(body) // 2
        flipped = body[:position] + chr(ord(body[position]) ^ 1) + body[position + 1 :]
        conn.execute("UPDATE log_entry SET body = ? WHERE seq = ?", (flipped, seq))
        conn.commit()
    tamper_code, tamper_output = verify(f"sqlite:///{copy}")
    named = re.search(r"BROKEN at entry (\d+)", tamper_output)
    return {
        "verify": {
            "exit_code": code,
            "ok": code == 0,
            "output": output,
            "seconds": seconds,
            "entries": entries,
            "decisions": decisions,
            "database_bytes": size,
            "bytes_per_decision": size / decisions if decisions else None,
        },
        "tamper": {
            "copy": str(copy),
            "dropped_triggers": triggers,
            "flipped_seq": seq,
            "flipped_offset": position,
            "flipped_char": f"{body[position]!r} -> {flipped[position]!r}",
            "exit_code": tamper_code,
            "output": tamper_output,
            "detected": tamper_code == 1 and named is not None,
            "named_seq": int(named.group(1)) if named else None,
        },
    }
