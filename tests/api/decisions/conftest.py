"""A live app over the session's trained models, on SQLite and PostgreSQL, with keys per role."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.core.security import Role, create_api_key
from api.core.settings import Settings
from api.main import create_app
from tests.conftest import TrainedModels


def _secret() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True)
class Service:
    """A running app and a key per role (two applications)."""

    client: TestClient
    settings: Settings
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture
def settings(database_url: str, trained: TrainedModels) -> Settings:
    return Settings(
        database_url=database_url,
        mlflow_tracking_uri=trained.tracking_uri,
        pseudonym_key=_secret(),
        key_encryption_key=_secret(),
        checkpoint_signing_key=_secret(),
        token_signing_key=_secret(),
        webhook_signing_key=_secret(),
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    app = create_app(settings)
    with TestClient(app) as client:
        context = app.state.context
        keys = {}
        with context.sessions() as session:
            for who, role in [
                ("shop", Role.APPLICATION),
                ("crm", Role.APPLICATION),
                ("reviewer", Role.REVIEWER),
                ("auditor", Role.AUDITOR),
                ("admin", Role.ADMIN),
            ]:
                keys[who], _ = create_api_key(session, name=who, role=role)
        yield Service(client=client, settings=settings, keys=keys)
