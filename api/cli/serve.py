"""``glassbox serve``: the API under uvicorn, once the settings are known to start it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import (
    DemoOption,
    HomeOption,
    console,
    demo_environment,
    errors,
    open_database,
    service_settings,
)

if TYPE_CHECKING:
    from api.core.settings import Settings

__all__ = ["run_server", "serve"]


def run_server(*, host: str, port: int, workers: int) -> None:
    """Run the API under uvicorn, with the service's JSON logging.

    Parameters
    ----------
    host, port : str, int
        Where to listen.
    workers : int
        Worker processes.
    """
    import uvicorn

    from api.core.logs import configure_logging
    from api.core.server import uvicorn_options
    from api.core.settings import get_settings

    configure_logging("INFO")
    uvicorn.run(
        "api.main:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        # httptools with deadlines on reading requests; keep-alive and concurrency limits.
        **uvicorn_options(get_settings()),
        # The service writes its own JSON access log (route templates only, no personal data).
        access_log=False,
        log_config=None,
        # No "server: uvicorn" on every response: it tells a caller nothing it needs, and
        # costs a header per response on the hot path.
        server_header=False,
        # Nothing reads the client's address (the access log leaves it out), so uvicorn need
        # not rewrite it from X-Forwarded-For on every request.
        proxy_headers=False,
    )


def _refuse_unless_startable(settings: Settings) -> None:
    """What every worker's start would refuse, said once, in one line, before any starts.

    The secrets must open the data already stored (the first start records them) and the
    MLflow store must exist and hold at least one served model with a champion. A served name
    without one is a warning (naming the registered models), printed here as each worker will
    log it.
    """
    from api.decisions.runtime import ModelRegistry, ModelsUnavailableError

    with open_database(settings, refusal="Refusing to start"):
        pass
    served = tuple(settings.served_models)
    try:
        warnings = ModelRegistry(settings.mlflow_tracking_uri).check_servable(served)
    except ModelsUnavailableError as exc:
        errors.print(f"Refusing to start: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for warning in warnings.values():
        errors.print(f"Warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    serving = [name for name in served if name not in warnings]
    console.print(
        f"Serving {', '.join(serving) or 'no model (staff routes only)'} "
        f"(GLASSBOX_SERVED_MODELS) from {settings.mlflow_tracking_uri}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def serve(
    home: HomeOption = Path(".glassbox"),
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    demo: DemoOption = False,
) -> None:
    """Serve the API with the settings from the environment (with --demo: the demo's).

    The models served are GLASSBOX_SERVED_MODELS (comma-separated registered names, each by its
    champion); the decision database and MLflow store are those under --home unless
    GLASSBOX_DATABASE_URL / GLASSBOX_MLFLOW_TRACKING_URI name others.
    """
    from api.core.settings import get_settings

    settings = service_settings(home, demo=demo)  # refuse incomplete settings, and say why
    if settings.demo_mode and not any(
        os.environ.get(f"GLASSBOX_PSEUDONYM_KEY{suffix}") for suffix in ("", "_FILE")
    ):
        # The workers read the environment: hand them the demo's settings found above.
        demo_env = demo_environment(home, settings.mlflow_tracking_uri, host=host, port=port)
        os.environ.update(demo_env)
    else:
        # The workers read the environment: hand them the stores chosen above (--home's, unless
        # the environment named others).
        os.environ["GLASSBOX_DATABASE_URL"] = settings.database_url
        os.environ["GLASSBOX_MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    get_settings.cache_clear()
    _refuse_unless_startable(settings)
    run_server(host=host, port=port, workers=workers)
