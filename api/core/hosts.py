"""Answer only requests addressed to this service's own host names.

The Host header is the caller's to write. Anything built from it -- the trailing-slash redirect's
``Location``, an absolute URL -- would send a person wherever the caller chose, so a request for
any other host is refused with a 400 problem before it reaches anything that could echo it.
The names trusted are the public URL's host, loopback (probes and local operators) and the
``GLASSBOX_ALLOWED_HOSTS`` an operator adds.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from api.core.errors import BadRequestError, problem_response, request_id_of
from api.core.settings import Settings

__all__ = ["LOOPBACK_HOSTS", "TrustedHostMiddleware", "trusted_hosts"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Enough for every spelling of the trusted names (with and without a port) a deployment sees.
_REMEMBERED = 64


def trusted_hosts(settings: Settings) -> frozenset[str]:
    """The host names a service with these settings answers (lower case, without ports).

    Parameters
    ----------
    settings : Settings
        The service's settings.

    Returns
    -------
    frozenset of str
        The public URL's host, loopback and ``allowed_hosts``.
    """
    public = urlsplit(settings.public_url).hostname or ""
    return frozenset({public, *LOOPBACK_HOSTS, *settings.allowed_hosts}) - {""}


def _hostname(header: bytes) -> str:
    host = header.decode("latin-1").strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class TrustedHostMiddleware:
    """Refuse, with a 400 problem, a request whose Host header names another host.

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    allowed_hosts : iterable of str
        Host names without ports (see :func:`trusted_hosts`).
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed_hosts = frozenset(name.lower() for name in allowed_hosts)
        # Host headers already found good, as sent: one set look-up per request after the first.
        self._good: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = next((value for key, value in scope["headers"] if key == b"host"), b"")
            if header not in self._good:
                if _hostname(header) not in self.allowed_hosts:
                    error = BadRequestError(
                        "The request is for a host this service does not serve."
                    )
                    await problem_response(error, request_id_of(scope))(scope, receive, send)
                    return
                if len(self._good) < _REMEMBERED:
                    self._good.add(header)
        await self.app(scope, receive, send)
