"""The pages' files, read from this package, and the headers every one of them is sent with.

Only files directly in ``pages/`` and ``static/`` are served, by a name that the router's pattern
already restricts to ``[a-z0-9_-]`` plus one known extension, so no path outside them is
reachable. Files are read once, on first use, and kept in memory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Final

from api.web.errors import AssetNotFoundError

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "SWAGGER_UI_FILES",
    "Asset",
    "page",
    "static_asset",
    "swagger_ui_asset",
]

# Nothing but this service's own files: no inline script or style (so text that slipped into
# the DOM as markup could not run), no other origin to load from or send to, no forms posted
# by the browser, no framing (clickjacking of the contest and resolve buttons).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS: Final = MappingProxyType(
    {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        # The subject's token is in the fragment, which no Referer carries; this is the belt to
        # those braces, and keeps decision ids in the path out of other sites' logs.
        "Referrer-Policy": "no-referrer",
        # Revalidate, so a reviewer never runs yesterday's script against today's API.
        "Cache-Control": "no-cache",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
)
_MEDIA_TYPES: Final = MappingProxyType(
    {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }
)


# Swagger UI's own files, from the ``swagger-ui-bundle-v2`` package: served from here, never a CDN.
SWAGGER_UI_FILES: Final = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})


@dataclass(frozen=True, slots=True)
class Asset:
    """A file of the pages and its media type."""

    content: bytes
    media_type: str


@functools.cache
def _read(folder: str, name: str) -> Asset:
    suffix = name[name.rfind(".") :] if "." in name else ""
    media_type = _MEDIA_TYPES.get(suffix)
    path = resources.files(__package__ or "api.web").joinpath(folder, name)
    if media_type is None or "/" in name or not path.is_file():
        raise AssetNotFoundError(f"no asset {name}")
    return Asset(content=path.read_bytes(), media_type=media_type)


def page(name: str) -> Asset:
    """One of the HTML pages (``subject``, ``review``).

    Parameters
    ----------
    name : str
        The page's name, without extension.

    Returns
    -------
    Asset
        The page.

    Raises
    ------
    AssetNotFoundError
        No such page.
    """
    return _read("pages", f"{name}.html")


def static_asset(name: str) -> Asset:
    """A script, style sheet or image the pages load from ``/static/``.

    Parameters
    ----------
    name : str
        The file name (``subject.js``).

    Returns
    -------
    Asset
        The file.

    Raises
    ------
    AssetNotFoundError
        No such file.
    """
    return _read("static", name)


@functools.cache
def swagger_ui_asset(name: str) -> Asset:
    """One of Swagger UI's files (:data:`SWAGGER_UI_FILES`), as its package ships it.

    Parameters
    ----------
    name : str
        The file name (``swagger-ui-bundle.js``).

    Returns
    -------
    Asset
        The file.

    Raises
    ------
    AssetNotFoundError
        Not one of those files.
    """
    if name not in SWAGGER_UI_FILES:
        raise AssetNotFoundError(f"no asset {name}")
    # The package keeps its files under vendor/swagger-ui-<version>/.
    (folder,) = (
        entry
        for entry in resources.files("swagger_ui_bundle").joinpath("vendor").iterdir()
        if entry.name.startswith("swagger-ui-")
    )
    media_type = _MEDIA_TYPES[name[name.rfind(".") :]]
    return Asset(content=folder.joinpath(name).read_bytes(), media_type=media_type)
