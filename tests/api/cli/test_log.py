"""The decision log from the command line: ``verify-log``, ``log`` and signed checkpoints."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import append_entries
from tests.api._support import RawLog, make_entry
from tests.api.cli.conftest import invoke


def test_verify_log_names_the_first_bad_entry(
    service_env: dict[str, str], session_factory: sessionmaker[Session], raw_log: RawLog
) -> None:
    code, output = invoke("verify-log")
    assert code == 0 and "OK: 0 entries" in output, output
    with session_factory() as session:
        append_entries(session, entries=[make_entry(n) for n in range(9)])
    code, output = invoke("verify-log", "--batch-size", "4")
    assert code == 0 and "OK: 9 entries" in output, output

    raw_log.drop_guards()
    raw_log.set(5, "kind", "notice" if raw_log.rows()[4]["kind"] != "notice" else "contest")
    code, output = invoke("verify-log")
    assert code == 1, output
    assert "BROKEN at entry 5" in output
    assert "first 4 entries are intact" in output


def test_checkpoint_create_export_verify(
    service_env: dict[str, str],
    session_factory: sessionmaker[Session],
    raw_log: RawLog,
    tmp_path: Path,
) -> None:
    code, output = invoke("checkpoint", "export")
    assert code == 2 and "checkpoint create" in output
    with session_factory() as session:
        append_entries(session, entries=[make_entry(n) for n in range(6)])
    code, output = invoke("checkpoint", "create")
    assert code == 0 and "6 entries" in output, output

    document = tmp_path / "checkpoint.json"
    code, output = invoke("checkpoint", "export", "--out", str(document))
    assert code == 0, output
    code, printed = invoke("checkpoint", "export")
    assert code == 0 and '"size": 6' in printed
    code, output = invoke("checkpoint", "verify", str(document))
    assert code == 0 and "OK" in output, output

    stranger = base64.b64encode(os.urandom(32)).decode()
    code, output = invoke("checkpoint", "verify", str(document), "--public-key", stranger)
    assert code == 1 and "signature" in output

    raw_log.drop_guards()
    raw_log.set(2, "body", '{"outcome":"approve"}')
    raw_log.rechain_from(2)
    code, output = invoke("checkpoint", "verify", str(document))
    assert code == 1 and "rewritten" in output, output

    code, output = invoke("checkpoint", "verify", str(tmp_path / "missing.json"))
    assert code == 2


def test_log_shows_the_newest_entries_without_their_sealed_plaintext(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        append_entries(session, entries=[make_entry(n) for n in range(12)])
        append_entries(
            session,
            entries=[
                make_entry(12, sealed={"statement": base64.b64encode(b"ciphertext").decode()})
            ],
        )
    code, output = invoke("log", "--last", "3")
    assert code == 0, output
    assert [int(n) for n in re.findall(r"^│\s*(\d+)\s*│", output, re.MULTILINE)] == [11, 12, 13]
    assert "n=12" in output and "statement" in output
    assert base64.b64encode(b"ciphertext").decode() not in output

    code, output = invoke("log", "--kind", "decision", "--last", "100")
    assert code == 0, output
    kinds = set(re.findall(r"│\s*\d+\s*│[^│]*│\s*([a-z_]+)\s*│", output))
    assert kinds == {"decision"}, output
