"""axe-core in the page tests: served to the page by the test itself, never fetched at run time.

``scripts/test`` installs axe-core from npm at the version ``package-lock.json`` pins, into
``node_modules/`` of the checkout (``scripts/_axe.sh``). A test routes one same-origin address
to that file, so the pages' own policy (``script-src 'self'``) admits it unchanged, adds it to
the page and runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["AXE", "SEVERE", "axe_missing", "severe_violations"]

AXE: Final = Path(__file__).resolve().parents[3] / "node_modules" / "axe-core" / "axe.min.js"
#: The impacts a page may not have: axe's two highest.
SEVERE: Final = frozenset({"serious", "critical"})
_ROUTE: Final = "/__axe__/axe.min.js"


def axe_missing() -> str | None:
    """Why the accessibility checks cannot run here, or None when they can."""
    if AXE.is_file():
        return None
    return f"axe-core is not installed at {AXE}; scripts/test installs it with npm (package.json)"


def severe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now and return its serious and critical violations.

    Parameters
    ----------
    page : Page
        A page of the service, loaded.

    Returns
    -------
    list of dict
        Each violation's ``id``, ``impact``, ``help`` and the ``targets`` it names; empty when
        the page has none of those impacts.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.route(
            f"**{_ROUTE}",
            lambda route: route.fulfill(path=AXE, content_type="text/javascript; charset=utf-8"),
        )
        page.add_script_tag(url=_ROUTE)
    results = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]],
        }
        for violation in results["violations"]
        if violation["impact"] in SEVERE
    ]
