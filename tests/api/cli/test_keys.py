"""``glassbox keys``: create, list and revoke API keys on a real database."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.core.security import KeyStore, hash_api_key
from tests.api.cli.conftest import API_KEY, invoke


def test_keys_create_list_revoke(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    code, output = invoke("keys", "create", "--role", "reviewer", "--name", "Ana (reviewer)")
    assert code == 0, output
    (raw_key,) = API_KEY.findall(output)
    store = KeyStore(session_factory)
    principal = store.authenticate(raw_key)
    assert principal is not None and principal.role == "reviewer"
    assert principal.key_id in output
    with session_factory() as session:
        stored = session.execute(text("SELECT key_hash FROM api_key")).scalars().all()
    assert stored == [hash_api_key(raw_key)]

    code, output = invoke("keys", "list")
    assert code == 0, output
    assert principal.key_id in output and "reviewer" in output
    assert raw_key not in output and raw_key.split("_", 2)[2] not in output

    code, output = invoke("keys", "revoke", principal.key_id)
    assert code == 0, output
    assert store.authenticate(raw_key) == principal  # cached, as documented ...
    store.invalidate()
    assert store.authenticate(raw_key) is None  # ... and refused once the cache lets go
    code, output = invoke("keys", "list")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d\s*│\s*$", output, re.MULTILINE), output


def test_keys_refuse_bad_input_with_exit_code_2(service_env: dict[str, str]) -> None:
    code, output = invoke("keys", "create", "--role", "root", "--name", "x")
    assert code == 2 and "role" in output
    code, output = invoke("keys", "revoke", "0123456789abcdef")
    assert code == 2 and "0123456789abcdef" in output
