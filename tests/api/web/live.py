"""A live glassbox on loopback, and Debian's Chromium driven by Playwright, for the page tests.

The server is real uvicorn on 127.0.0.1 (a free port the OS picks), in a thread of the test
process, serving the session's trained models on a temp-file SQLite database. It is wrapped in
a watcher that records every response's status and any ``Set-Cookie`` header, so that a test
can assert that no route it touched -- page, asset or API -- ever set a cookie.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import AppContext
from api.core.security import Role, create_api_key
from api.core.settings import SECRET_NAMES, Settings
from tests.api.conftest import random_secret

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "LiveServer",
    "ResponseWatch",
    "chromium_missing",
    "launch_options",
    "live_server",
]

CHROMIUM: Final = Path("/usr/bin/chromium")
# As the machine notes say: without the background-networking flags Chromium keeps trying
# Google's hosts, which a closed network refuses many times a run.
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CALLERS: Final = (
    ("shop", Role.APPLICATION),
    ("reviewer", Role.REVIEWER),
    ("reviewer2", Role.REVIEWER),
    ("auditor", Role.AUDITOR),
)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if os.access(CHROMIUM, os.X_OK):
        return None
    return (
        f"Debian's Chromium is not installed at {CHROMIUM}; scripts/test installs it with "
        "apt-get when run as root (Playwright's own browser download is never used)"
    )


@dataclass
class ResponseWatch:
    """What the server answered: one ``(method, path, status)`` per response, and cookies."""

    responses: list[tuple[str, str, int]] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def recording(message: Message) -> None:
                if message["type"] == "http.response.start":
                    where = f"{scope['method']} {scope['path']}"
                    self.responses.append((scope["method"], scope["path"], message["status"]))
                    for name, value in message.get("headers", []):
                        if name.lower() == b"set-cookie":
                            self.cookies.append(f"{where}: {value.decode('latin-1')}")
                await send(message)

            await app(scope, receive, recording)

        return watched


@dataclass(frozen=True)
class LiveServer:
    """A running service: its base URL, settings, app, one key per caller, and the watch."""

    url: str
    settings: Settings
    app: FastAPI
    keys: dict[str, str]
    watch: ResponseWatch

    @property
    def context(self) -> AppContext:
        """The running app's context."""
        context: AppContext = self.app.state.context
        return context


@contextmanager
def live_server(
    *, database_url: str, tracking_uri: str, overrides: Mapping[str, Any] | None = None
) -> Iterator[LiveServer]:
    """Serve glassbox on a free loopback port until the block ends.

    Parameters
    ----------
    database_url : str
        An empty database.
    tracking_uri : str
        The MLflow store with the models to serve.
    overrides : mapping, optional
        Other settings (``api_docs``, ``served_models`` ...).

    Yields
    ------
    LiveServer
        The running server.
    """
    from api.main import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = Settings.model_validate(
        {
            "database_url": database_url,
            "demo_mode": False,
            "mlflow_tracking_uri": tracking_uri,
            # The notice's link points here, as it would at the organisation's public address.
            "public_url": url,
            "review_quality_sample_rate": 0.0,
            **{name: random_secret() for name in SECRET_NAMES},
            **(overrides or {}),
        }
    )
    app = create_app(settings)
    watch = ResponseWatch()
    config = uvicorn.Config(
        watch.wrap(app), log_level="warning", access_log=False, loop="asyncio", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="glassbox-live", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        keys: dict[str, str] = {}
        context: AppContext = app.state.context
        with context.sessions() as session:
            for who, role in CALLERS:
                keys[who], _ = create_api_key(session, name=who, role=role)
        yield LiveServer(url=url, settings=settings, app=app, keys=keys, watch=watch)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def launch_options() -> dict[str, Any]:
    """Options for ``playwright.chromium.launch``: Debian's binary, never a downloaded one."""
    return {
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": list(CHROMIUM_ARGS),
    }
