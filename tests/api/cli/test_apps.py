"""``glassbox apps``: private callbacks, and applications rotating keys and grouped to share
their people."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from api.core.models import Application
from api.core.security import KeyStore, Role, create_api_key
from tests.api.cli.conftest import API_KEY, invoke


def test_apps_allow_private_callbacks_and_withdraw(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    def allowed(name: str) -> bool:
        with session_factory() as session:
            row = session.get(Application, name)
            assert row is not None
            return row.allow_private_callbacks

    with session_factory() as session:
        _, shop = create_api_key(session, name="shop", role=Role.APPLICATION)
    assert shop.application is not None
    assert not allowed(shop.application)  # nobody's by default
    code, output = invoke("apps", "allow-private-callbacks", shop.application)
    assert code == 0 and shop.application in output, output
    assert allowed(shop.application)
    code, output = invoke("apps", "allow-private-callbacks", shop.application, "--withdraw")
    assert code == 0 and "no longer" in output, output
    assert not allowed(shop.application)
    code, output = invoke("apps", "allow-private-callbacks", "nobody")
    assert code == 2 and "nobody" in output


def test_application_keys_rotate_within_an_application_and_apps_are_grouped(
    service_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    code, output = invoke("keys", "create", "--role", "application", "--name", "shop")
    assert code == 0 and "'shop'" in output and "'app:shop'" in output, output
    # The same name again would silently share the shop's people: only when asked by name.
    code, output = invoke("keys", "create", "--role", "application", "--name", "shop")
    assert code == 2 and "application" in output
    code, output = invoke(
        "keys", "create", "--role", "application", "--name", "shop 2027", "--application", "shop"
    )
    assert code == 0 and "'app:shop'" in output, output
    (rotated,) = API_KEY.findall(output)
    assert invoke("keys", "create", "--role", "application", "--name", "crm")[0] == 0
    code, output = invoke(
        "keys", "create", "--role", "admin", "--name", "x", "--application", "crm"
    )
    assert code == 2 and "application" in output

    code, output = invoke("apps", "group", "shop", "crm", "--as", "retail")
    assert code == 0 and output.count("'group:retail'") == 2, output
    principal = KeyStore(session_factory).authenticate(rotated)
    assert principal is not None and principal.pseudonym_scope == "group:retail"
    code, output = invoke("apps", "list")
    assert code == 0 and re.search(r"shop\s*│\s*group:retail\s*│\s*2\s*│\s*none", output), output
    code, output = invoke("keys", "list")
    assert code == 0 and output.count("shop") >= 3  # names and application column
    for args in (("nobody", "--as", "retail"), ("shop", "--as", "Retail!")):
        code, output = invoke("apps", "group", *args)
        assert code == 2 and "Refused" in output, output
