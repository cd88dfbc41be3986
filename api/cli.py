"""The ``glassbox`` command line: demo, fixtures, train, promote, models."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, get_args

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from models.spec import ModelKind

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from api.core.errors import ProblemError
    from api.core.settings import Settings

app = typer.Typer(
    name="glassbox",
    help="Scored, explained, recorded and contestable automated decisions.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)

KINDS: tuple[ModelKind, ...] = get_args(ModelKind)

HomeOption = Annotated[
    Path,
    typer.Option(
        "--home",
        envvar="GLASSBOX_HOME",
        help="Project-local state: MLflow store, fixtures, secrets.",
    ),
]
DemoOption = Annotated[
    bool,
    typer.Option(
        "--demo",
        envvar="GLASSBOX_DEMO_MODE",
        help="Use the demo's generated secrets and stores under --home (never for real data).",
    ),
]
TrackingOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="GLASSBOX_MLFLOW_TRACKING_URI",
        help="MLflow tracking and registry URI (default: SQLite store under --home).",
    ),
]


def _tracking_uri(home: Path, tracking_uri: str | None) -> str:
    from models.registry import local_store

    return tracking_uri or local_store(home)


def _demo_database_url(home: Path) -> str:
    """The demo's decision database: SQLite beside its MLflow store under ``home``."""
    return f"sqlite:///{home.resolve() / 'glassbox.db'}"


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _metrics_table(rows: Sequence[tuple[str, dict[str, float], dict[str, bool], str]]) -> Table:
    table = Table(title="Models")
    table.add_column("model")
    table.add_column("gate metrics")
    table.add_column("gates")
    table.add_column("registry")
    for name, metrics, gates, where in rows:
        shown = ", ".join(f"{k}={metrics[k]:.3f}" for k in gates if k in metrics)
        verdict = "[green]passed[/]" if all(gates.values()) else "[red]failed[/]"
        table.add_row(name, shown, verdict, where)
    return table


@app.command()
def fixtures(
    home: HomeOption = Path(".glassbox"),
    out: Annotated[Path | None, typer.Option(help="Folder for the CSV files.")] = None,
    size: Annotated[str, typer.Option(help="small, demo or full.")] = "demo",
    seed: int = 7,
) -> None:
    """Generate the synthetic data sets (transactions, customers, catalogue, interactions)."""
    from data_fixtures import generate_all

    target = out or home / "fixtures"
    started = time.perf_counter()
    with _progress() as progress:
        progress.add_task(f"Generating {size} fixtures in {target}", total=None)
        paths = generate_all(target, size=size, seed=seed)
    for name, path in paths.items():
        console.print(f"  {name}: {path}")
    console.print(f"Done in {time.perf_counter() - started:.1f} s")


@app.command()
def train(
    kind: Annotated[str, typer.Argument(help="fraud, churn or recommendation.")],
    data: Annotated[
        Path | None,
        typer.Option(help="CSV of examples (recommendation: interactions). Default: fixtures."),
    ] = None,
    spec: Annotated[Path | None, typer.Option(help="Spec YAML. Default: the built-in one.")] = None,
    items: Annotated[Path | None, typer.Option(help="Recommendation: items CSV.")] = None,
    learners: Annotated[
        Path | None, typer.Option(help="Recommendation: learners CSV with protected attributes.")
    ] = None,
    home: HomeOption = Path(".glassbox"),
    tracking_uri: TrackingOption = None,
    seed: int = 7,
    register: Annotated[
        bool, typer.Option(help="Register and promote when the gates pass.")
    ] = True,
) -> None:
    """Train a model on a CSV that fits its spec, log it to MLflow and register it if it passes."""
    from models.data import DataError
    from models.recommendation import DataWarning
    from models.registry import log_training
    from models.spec import SpecError
    from models.training import TrainingFiles, train_from_files

    if kind not in KINDS:
        errors.print(f"[red]Unknown model kind {kind!r}[/]: choose one of {', '.join(KINDS)}")
        raise typer.Exit(2)
    if data is None:
        data, items, learners = _fixture_files(home, kind)
    uri = _tracking_uri(home, tracking_uri)
    try:
        with _progress() as progress:
            task = progress.add_task(f"Training {kind} on {data}", total=None)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataWarning)
                result = train_from_files(
                    kind,
                    TrainingFiles(data=data, items=items, learners=learners),
                    spec_path=spec,
                    seed=seed,
                )
            for warning in caught:
                if issubclass(warning.category, DataWarning):
                    console.print(f"[yellow]Note:[/] {warning.message}")
            progress.update(task, description=f"Logging {kind} to MLflow")
            registration = log_training(
                result, tracking_uri=uri, data_source=str(data), register=register
            )
    except (DataError, SpecError) as exc:
        errors.print(f"[red]Refused:[/] {exc}")
        errors.print("Nothing was trained or registered.")
        raise typer.Exit(2) from None
    where = (
        f"{registration.name} v{registration.version} @champion"
        if registration.champion
        else f"run {registration.run_id} (not registered)"
    )
    console.print(_metrics_table([(kind, result.metrics, result.gates, where)]))
    if not result.passed:
        failed = [k for k, ok in result.gates.items() if not ok]
        errors.print(f"[red]Quality gates failed[/] ({', '.join(failed)}): not registered.")
        raise typer.Exit(1)


def _fixture_files(home: Path, kind: ModelKind) -> tuple[Path, Path | None, Path | None]:
    folder = home / "fixtures"
    names = {
        "fraud": ("transactions.csv", None, None),
        "churn": ("customers.csv", None, None),
        "recommendation": ("interactions.csv", "items.csv", "learners.csv"),
    }[kind]
    if not (folder / names[0]).exists():
        from data_fixtures import generate_all

        generate_all(folder, size="demo")
    return (
        folder / names[0],
        folder / names[1] if names[1] else None,
        folder / names[2] if names[2] else None,
    )


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to make champion.")],
    home: HomeOption = Path(".glassbox"),
    tracking_uri: TrackingOption = None,
) -> None:
    """Move the champion alias to another registered version (also how to roll back)."""
    from models.registry import RegistryError
    from models.registry import promote as promote_version

    try:
        promote_version(name, version, tracking_uri=_tracking_uri(home, tracking_uri))
    except RegistryError as exc:
        errors.print(f"[red]Refused:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{name} version {version} is now champion.")


@app.command()
def models(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    home: HomeOption = Path(".glassbox"),
    tracking_uri: TrackingOption = None,
) -> None:
    """List a model's registered versions and aliases."""
    from models.registry import RegistryError, model_versions

    try:
        versions = model_versions(name, tracking_uri=_tracking_uri(home, tracking_uri))
    except RegistryError as exc:
        errors.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    table = Table(title=name)
    table.add_column("version")
    table.add_column("aliases")
    table.add_column("run")
    for v in versions:
        table.add_row(str(v["version"]), ", ".join(v["aliases"]), v["run_id"])
    console.print(table)


@app.command()
def demo(
    home: HomeOption = Path(".glassbox"),
    size: Annotated[str, typer.Option(help="Fixture size: small, demo or full.")] = "demo",
    seed: int = 7,
    host: str = "127.0.0.1",
    port: int = 8000,
    serve: Annotated[bool, typer.Option(help="Start the API after set-up.")] = True,
) -> None:
    """Fixtures, three models trained and registered, demo keys, then the API on HOST:PORT."""
    from data_fixtures import generate_all
    from models.registry import log_training
    from models.training import TrainingFiles, train_from_files

    started = time.perf_counter()
    home = home.resolve()
    uri = _tracking_uri(home, None)
    rows = []
    with _progress() as progress:
        task = progress.add_task(f"Generating fixtures ({size})", total=None)
        paths = generate_all(home / "fixtures", size=size, seed=seed)
        progress.update(task, description=f"Fixtures in {home / 'fixtures'}", total=1, completed=1)
        inputs: dict[ModelKind, TrainingFiles] = {
            "fraud": TrainingFiles(data=paths["transactions"]),
            "churn": TrainingFiles(data=paths["customers"]),
            "recommendation": TrainingFiles(
                data=paths["interactions"], items=paths["items"], learners=paths["learners"]
            ),
        }
        for kind, files in inputs.items():
            task = progress.add_task(f"Training {kind}", total=None)
            result = train_from_files(kind, files, seed=seed)
            progress.update(task, description=f"Logging {kind} to MLflow")
            registration = log_training(result, tracking_uri=uri, data_source=str(files.data))
            where = (
                f"v{registration.version} @champion"
                if registration.champion
                else "[red]not registered[/]"
            )
            progress.update(task, description=f"Trained {kind}: {where}", total=1, completed=1)
            rows.append((kind, result.metrics, result.gates, where))
    console.print(_metrics_table(rows))
    console.print(f"Set-up took {time.perf_counter() - started:.0f} s.")
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    console.print("\nOpen the MLflow UI on this store with:")
    console.print(
        f"  {mlflow_bin} ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000",
        soft_wrap=True,
    )
    console.print("  then browse http://127.0.0.1:5000 (experiment 'glassbox', Models tab).")
    if not all(all(r[2].values()) for r in rows):
        raise typer.Exit(1)
    os.environ.update(_demo_environment(home, uri, host=host, port=port))
    _print_demo_keys(home, host=host, port=port)
    if serve:
        _run_server(host=host, port=port, workers=1)


# --- operations: API keys, log verification, checkpoints -----------------------------------

keys_app = typer.Typer(help="API keys of applications and staff.", no_args_is_help=True)
apps_app = typer.Typer(
    help="Applications, and which of them share their people (pseudonym scopes).",
    no_args_is_help=True,
)
checkpoint_app = typer.Typer(help="Signed checkpoints of the decision log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(apps_app, name="apps")
app.add_typer(checkpoint_app, name="checkpoint")
retention_app = typer.Typer(
    help="Retention periods of personal data (crypto-shredding).", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")


def _service_settings(home: Path, *, demo: bool = False) -> Settings:
    """The service's settings (``GLASSBOX_*``); with ``demo``, the demo's secrets under ``--home``.

    Demo mode is only ever asked for (``--demo``, ``GLASSBOX_DEMO_MODE=true`` or ``glassbox
    demo``): missing secrets are an error, never a reason to fall back on the demo's, which would
    seal real people's data under a key from a developer's checkout.
    """
    from pydantic import ValidationError

    from api.core.settings import DEMO_MODE_WARNING, SECRET_NAMES, Settings, get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        failure = exc
    else:
        if settings.demo_mode:
            errors.print(f"[yellow]{DEMO_MODE_WARNING}[/]")
        return settings
    for folder in (home / "secrets", home / ".glassbox" / "secrets") if demo else ():
        if all((folder / name).is_file() for name in SECRET_NAMES):
            files: dict[str, Any] = {f"{name}_file": folder / name for name in SECRET_NAMES}
            # The demo's stores live under --home too, unless the environment says otherwise.
            if "GLASSBOX_DATABASE_URL" not in os.environ:
                files["database_url"] = _demo_database_url(home)
            if "GLASSBOX_MLFLOW_TRACKING_URI" not in os.environ:
                files["mlflow_tracking_uri"] = _tracking_uri(home, None)
            try:
                settings = Settings(demo_mode=True, **files)
            except ValidationError as exc:
                failure = exc
            else:
                errors.print(f"[yellow]{DEMO_MODE_WARNING}[/] (secrets in {folder})")
                return settings
    errors.print("[red]The settings are incomplete or invalid:[/]")
    for problem in failure.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "settings"
        # The message only: pydantic's "input" could be a secret.
        errors.print(f"  {where}: {problem['msg']}", markup=False)
    errors.print(
        "Set the GLASSBOX_* secrets (or GLASSBOX_<NAME>_FILE); for the local demo, run "
        "`glassbox demo` or pass --demo to use its secrets under --home."
    )
    raise typer.Exit(2)


@contextmanager
def _database(settings: Settings, *, refusal: str = "Refused") -> Iterator[sessionmaker[Session]]:
    """Sessions on the service's database, migrated, once the secrets are known to open its data.

    An operations command with the wrong secrets would sign a checkpoint with another key or
    record them as the database's own: it stops as a start does, naming the secret.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from api.core.database import create_db_engine, create_session_factory, migrate
    from api.core.secret_check import SecretMismatchError
    from api.main import check_stored_secrets

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        engine = create_db_engine(settings.database_url)
    except (ValueError, SQLAlchemyError) as exc:
        errors.print(f"Cannot use the database {where}: {exc}", markup=False)
        raise typer.Exit(2) from None
    try:
        migrate(engine)
        sessions = create_session_factory(engine)
        try:
            check_stored_secrets(sessions, settings)
        except SecretMismatchError as exc:
            errors.print(f"{refusal}: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        yield sessions
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        errors.print(f"Database error on {where}: {reason}", markup=False)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


@keys_app.command("create")
def create_key(
    role: Annotated[str, typer.Option(help="application, reviewer, auditor or admin.")],
    name: Annotated[str, typer.Option(help="Who or what holds the key.")],
    application: Annotated[
        str | None,
        typer.Option(
            help="Application keys: the application it belongs to -- an existing one to "
            "rotate its key (same people), or a new one. Default: a new application named "
            "after the key."
        ),
    ] = None,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Create an API key and print it -- once; only its hash is stored."""
    from api.core.errors import InvalidRequestError
    from api.core.security import create_api_key

    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        try:
            raw_key, principal = create_api_key(
                session, name=name, role=role, application=application
            )
        except InvalidRequestError as exc:
            _refused(exc)
    console.print(
        f"Created key [bold]{principal.key_id}[/] ({principal.role}) for {principal.name!r}.",
        highlight=False,
    )
    if principal.application is not None:
        console.print(
            f"Application {principal.application!r}, pseudonym scope "
            f"{principal.pseudonym_scope!r}.",
            highlight=False,
        )
    console.print("Store it now, it cannot be shown again:")
    typer.echo(raw_key)


@keys_app.command("list")
def list_keys(home: HomeOption = Path(".glassbox"), demo: DemoOption = False) -> None:
    """List API keys (ids, names, roles; never the keys)."""
    from api.core.security import list_api_keys

    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        keys = list_api_keys(session)
    table = Table(title="API keys")
    table.add_column("key id", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("name")
    table.add_column("application")
    table.add_column("created", no_wrap=True)
    table.add_column("revoked", no_wrap=True)
    for key in keys:
        table.add_row(
            key.key_id,
            key.role.value,
            key.name,
            key.application or "",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `glassbox keys list`).")],
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Revoke an API key."""
    from api.core.errors import NotFoundError
    from api.core.security import DEFAULT_CACHE_TTL_SECONDS, revoke_api_key

    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        try:
            key = revoke_api_key(session, key_id)
        except NotFoundError:
            errors.print(f"No API key has the id {key_id!r}.", markup=False)
            raise typer.Exit(2) from None
    console.print(
        f"Revoked key {key.key_id} ({key.role.value}); running services refuse it within "
        f"{DEFAULT_CACHE_TTL_SECONDS:.0f} s.",
        highlight=False,
    )


@apps_app.command("allow-private-callbacks")
def allow_private_callbacks_command(
    name: Annotated[str, typer.Argument(help="The application (see `glassbox apps list`).")],
    withdraw: Annotated[bool, typer.Option("--withdraw", help="Take the allowance back.")] = False,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Let an application's webhooks reach loopback and private addresses (or stop them)."""
    from api.core.errors import NotFoundError
    from api.webhooks.service import allow_private_callbacks

    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        try:
            allow_private_callbacks(session, application=name, allowed=not withdraw)
        except NotFoundError:
            errors.print(f"No application is named {name!r}.", markup=False)
            raise typer.Exit(2) from None
    console.print(
        f"Application {name}: webhooks may {'no longer ' if withdraw else ''}go to loopback and "
        "private addresses (metadata, link-local and multicast ones stay refused).",
        highlight=False,
    )


def _refused(exc: ProblemError) -> NoReturn:
    reasons = "; ".join(f"{e.field} {e.message}" for e in exc.errors or [])
    errors.print(f"Refused: {reasons or exc.detail}", markup=False)
    raise typer.Exit(2)


@apps_app.command("list")
def list_apps(home: HomeOption = Path(".glassbox"), demo: DemoOption = False) -> None:
    """List applications and their pseudonym scopes."""
    from api.core.applications import list_applications

    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        applications = list_applications(session)
    table = Table(title="Applications")
    table.add_column("application", no_wrap=True)
    table.add_column("pseudonym scope", no_wrap=True)
    table.add_column("active keys", justify="right")
    table.add_column("decisions", no_wrap=True)
    for application in applications:
        table.add_row(
            application.name,
            application.pseudonym_scope,
            str(application.active_keys),
            "yes" if application.has_decisions else "none",
        )
    console.print(table)


@apps_app.command("group")
def group_apps(
    names: Annotated[list[str], typer.Argument(help="The applications.")],
    as_: Annotated[
        str,
        typer.Option(
            "--as",
            help="The group: its applications see the same people. `legacy` joins the keys "
            "created before applications had scopes of their own.",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            help="Move applications that already have decisions: their earlier decisions "
            "keep the old pseudonyms, so each such person is split in two."
        ),
    ] = False,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Let applications that share a customer base see the same people."""
    from api.core.applications import LEGACY_SCOPE, group_scope, set_pseudonym_scope
    from api.core.errors import ConflictError, InvalidRequestError, NotFoundError
    from api.core.security import DEFAULT_CACHE_TTL_SECONDS

    scope = LEGACY_SCOPE if as_ == LEGACY_SCOPE else group_scope(as_)
    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        try:
            applications = set_pseudonym_scope(session, names=names, scope=scope, force=force)
        except (ConflictError, InvalidRequestError, NotFoundError) as exc:
            _refused(exc)
    for application in applications:
        console.print(
            f"{application.name}: pseudonym scope {application.pseudonym_scope!r}",
            highlight=False,
        )
    console.print(
        f"Running services use it within {DEFAULT_CACHE_TTL_SECONDS:.0f} s.", highlight=False
    )


@app.command("verify-log")
def verify_log_command(
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Entries read per query.")] = 1000,
) -> None:
    """Re-compute the decision log's hash chain and check every decision row against its log
    entry or MAC; exit 1 naming the first bad entry, or each bad decision and its columns."""
    from api.audit.log import log_head
    from api.decisions.integrity import verify_records

    settings = _service_settings(home, demo=demo)
    kek = settings.key_encryption_key.get_secret_value()
    with _database(settings) as sessions, sessions() as session:
        stored, _ = log_head(session)
        with _progress() as progress:
            task = progress.add_task(f"Verifying {stored} log entries", total=None)
            result = verify_records(session, kek=kek, batch_size=batch_size)
            progress.update(task, total=1, completed=1)
    rows = f"{result.decisions_checked} decisions"
    if result.decisions_unverified:
        rows += f" ({result.decisions_unverified} unlogged, written before row MACs: unverified)"
    if result.ok:
        console.print(
            f"[green]OK[/]: {result.size} entries, head hash {result.head_hash}; {rows}",
            highlight=False,
        )
        return
    if result.first_bad_seq is not None:
        console.print(
            f"[red]BROKEN[/] at entry {result.first_bad_seq}: {result.reason}", highlight=False
        )
        console.print(
            f"The first {result.size} entries are intact (head hash {result.head_hash}).",
            highlight=False,
        )
    for problem in result.bad_decisions:
        console.print(
            f"[red]BROKEN[/] decision {problem.decision_id}: {problem.reason}", highlight=False
        )
    if result.bad_decisions:
        console.print(f"Checked {rows}.", highlight=False)
    raise typer.Exit(1)


@retention_app.command("run")
def retention_run_command(
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be shredded; change nothing.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(help="Apply the periods as of this ISO time (UTC), not the current time."),
    ] = None,
    spec: Annotated[
        list[Path] | None,
        typer.Option(help="Spec of a model in service (repeatable); the shipped ones otherwise."),
    ] = None,
) -> None:
    """Shred the data keys whose retention period has ended, per category of each spec, and
    finish erasures whose legal holds have lapsed. Never touches the log's entries."""
    from datetime import datetime

    from api.core.timestamps import as_utc
    from api.rights.service import run_retention
    from models.spec import SpecError, load_spec

    try:
        clock = datetime.fromisoformat(now) if now else None
        specs = [load_spec(path) for path in spec or []]
    except (ValueError, SpecError) as exc:
        errors.print(f"Refused: {exc}", markup=False)
        raise typer.Exit(2) from None
    if clock is not None:
        clock = as_utc(clock)  # a time typed without a zone means UTC, as stored
    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, _progress() as progress:
        task = progress.add_task("Applying retention periods", total=None)

        def step(line: str) -> None:
            progress.update(task, description=line)
            progress.console.print(f"  {line}", highlight=False)

        report = run_retention(
            sessions,
            specs=specs,
            now=clock,
            dry_run=dry_run,
            progress=step,
            engine=sessions.kw["bind"],
        )
        progress.update(task, total=1, completed=1, description="Retention applied")
    table = Table(title="Retention" + (" (dry run: nothing changed)" if dry_run else ""))
    table.add_column("category")
    table.add_column("models")
    table.add_column("period", justify="right")
    table.add_column("expired through", justify="right")
    table.add_column("keys shredded" if not dry_run else "keys to shred", justify="right")
    for category, row in report.categories.items():
        table.add_row(
            category,
            ", ".join(row["models"]),
            f"{row['days']} days",
            str(row["through_year"] or "-"),
            str(row["keys_shredded"]),
        )
    console.print(table)
    console.print(
        f"Erasures completed: {report.erasures_completed}; still under a legal hold: "
        f"{report.erasures_pending}; subjects with an open case kept: {report.held_subjects}.",
        highlight=False,
    )
    if report.log_entry_id:
        console.print(f"Logged as entry {report.log_entry_id}.", highlight=False)


@app.command("log")
def show_log_command(
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
    last: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries.")] = 20,
    kind: Annotated[
        str | None, typer.Option(help="Only entries of this kind (decision, contest, ...).")
    ] = None,
) -> None:
    """Show the newest log entries: their place in the chain, kind and non-personal facts.

    Sealed fields are shown by name only: their plaintext needs the subject's data key, and a
    terminal is no place for it.
    """
    import json

    from sqlalchemy import select

    from api.audit.models import LogEntry
    from api.vault.sealing import SEALED_KEY

    settings = _service_settings(home, demo=demo)
    query = select(LogEntry).order_by(LogEntry.seq.desc()).limit(last)
    if kind is not None:
        query = query.where(LogEntry.kind == kind)
    with _database(settings) as sessions, sessions() as session:
        entries = list(reversed(session.scalars(query).all()))
        table = Table("seq", "at", "kind", "facts", "sealed", "hash")
        for entry in entries:
            try:
                body = json.loads(entry.body)
            except ValueError:
                body = {"unreadable": True}
            sealed = ", ".join(sorted(body.pop(SEALED_KEY, {}) or {}))
            facts = ", ".join(f"{key}={value}" for key, value in sorted(body.items()))
            table.add_row(
                str(entry.seq), entry.entry_at, entry.kind, facts, sealed, entry.entry_hash[:12]
            )
    console.print(table)


@checkpoint_app.command("create")
def create_checkpoint_command(
    home: HomeOption = Path(".glassbox"), demo: DemoOption = False
) -> None:
    """Sign the log's current size and head hash with the checkpoint key."""
    from api.audit.checkpoints import create_checkpoint

    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        checkpoint = create_checkpoint(session, settings.checkpoint_signing_key.get_secret_value())
    console.print(
        f"Checkpoint {checkpoint.checkpoint_id}: {checkpoint.size} entries, head hash "
        f"{checkpoint.head_hash}, key {checkpoint.public_key_id}.",
        highlight=False,
    )
    console.print("Export it with `glassbox checkpoint export --out FILE` and keep it elsewhere.")


@checkpoint_app.command("export")
def export_checkpoint_command(
    out: Annotated[
        Path | None, typer.Option(help="Write the JSON here (default: standard output).")
    ] = None,
    checkpoint_id: Annotated[
        int | None, typer.Option("--id", help="Which checkpoint (default: the latest).")
    ] = None,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Export a signed checkpoint as a JSON document."""
    from api.audit.checkpoints import export_checkpoint
    from api.audit.errors import CheckpointNotFoundError

    settings = _service_settings(home, demo=demo)
    with _database(settings) as sessions, sessions() as session:
        try:
            document = export_checkpoint(session, checkpoint_id=checkpoint_id)
        except CheckpointNotFoundError:
            errors.print("No such checkpoint; create one with `glassbox checkpoint create`.")
            raise typer.Exit(2) from None
    text = document.model_dump_json(indent=2)
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"Checkpoint of {document.size} entries written to {out}.", highlight=False)


@checkpoint_app.command("verify")
def verify_checkpoint_command(
    file: Annotated[Path, typer.Argument(help="An exported checkpoint (JSON).")],
    public_key: Annotated[
        str | None,
        typer.Option(
            help="Trusted Ed25519 public key, base64 (default: the service's checkpoint key)."
        ),
    ] = None,
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
) -> None:
    """Check an exported checkpoint against the log; exit 1 if history changed since."""
    import base64
    import binascii

    from api.audit.checkpoints import verify_checkpoint
    from api.core.crypto import load_signing_key, public_key_bytes

    try:
        document = file.read_text(encoding="utf-8")
    except OSError as exc:
        errors.print(f"Cannot read {file}: {exc.strerror}", markup=False)
        raise typer.Exit(2) from None
    settings = _service_settings(home, demo=demo)
    if public_key is None:
        trusted = public_key_bytes(
            load_signing_key(settings.checkpoint_signing_key.get_secret_value())
        )
    else:
        try:
            trusted = base64.b64decode(public_key, validate=True)
        except (binascii.Error, ValueError):
            errors.print("--public-key must be base64.")
            raise typer.Exit(2) from None
    with _database(settings) as sessions, sessions() as session:
        result = verify_checkpoint(session, document, trusted)
    if result.ok:
        console.print(f"[green]OK[/]: the log still matches the checkpoint in {file}.")
        return
    console.print(f"[red]FAILED[/]: {result.reason}", highlight=False)
    raise typer.Exit(1)


def _demo_environment(home: Path, tracking_uri: str, *, host: str, port: int) -> dict[str, str]:
    """Settings of a local demo: generated demo secrets and stores under ``home``."""
    from api.core.settings import generate_demo_secrets

    env = generate_demo_secrets(home)
    env.setdefault("GLASSBOX_DATABASE_URL", _demo_database_url(home))
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = tracking_uri
    env["GLASSBOX_PUBLIC_URL"] = f"http://{host}:{port}"
    return {k: v for k, v in env.items() if k not in os.environ or k.endswith("_FILE")}


def _print_demo_keys(home: Path, *, host: str, port: int) -> None:
    from api.core.security import Role, create_api_key
    from api.core.settings import get_settings

    get_settings.cache_clear()
    settings = _service_settings(home, demo=True)
    table = Table(title="Demo API keys (shown once; stored hashed)")
    table.add_column("role")
    table.add_column("key")
    keys: dict[str, str] = {}
    with _database(settings) as sessions, sessions() as session:
        for role in Role:
            # One demo application across runs: a demo restarted on the same home keeps its people.
            keys[role.value], _ = create_api_key(
                session,
                name=f"demo {role.value}",
                role=role,
                application="demo" if role is Role.APPLICATION else None,
            )
            table.add_row(role.value, keys[role.value])
    console.print(table)
    base = f"http://{host}:{port}"
    console.print(f"API on {base} (OpenAPI at {base}/docs). Try:")
    console.print(
        f"  curl -s -X POST {base}/v1/decisions/fraud "
        f"-H 'Authorization: Bearer {keys['application']}' -H 'Content-Type: application/json' "
        '-d \'{"subject_ref": "customer-1", "legal_basis": "contract", '
        '"features": {"amount": 1250, "amount_ratio": 9.5, '
        '"merchant_category": "electronics", "country_mismatch": true, "hour": 3, '
        '"device_age_days": 0, "txn_count_1h": 6, "account_age_days": 20, '
        '"card_present": false, "distance_from_home_km": 900}}\'',
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print(
        "The person's page is the decision's notice.link (the token rides in the fragment); "
        f"the review console is {base}/review/ (sign in with the reviewer key).",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def _run_server(*, host: str, port: int, workers: int) -> None:
    import uvicorn

    from api.core.observability import configure_logging
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

    The secrets must open the data already stored (the first start records them) and each
    served model must have a champion in an existing MLflow store.
    """
    from api.decisions.runtime import ModelRegistry, ModelsUnavailableError

    with _database(settings, refusal="Refusing to start"):
        pass
    try:
        ModelRegistry(settings.mlflow_tracking_uri).check_servable(tuple(settings.served_models))
    except ModelsUnavailableError as exc:
        errors.print(f"Refusing to start: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    home: HomeOption = Path(".glassbox"),
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    demo: DemoOption = False,
) -> None:
    """Serve the API with the settings from the environment (with --demo: the demo's)."""
    from api.core.settings import get_settings

    settings = _service_settings(home, demo=demo)  # refuse incomplete settings, and say why
    if settings.demo_mode and not any(
        os.environ.get(f"GLASSBOX_PSEUDONYM_KEY{suffix}") for suffix in ("", "_FILE")
    ):
        # The workers read the environment: hand them the demo's settings found above.
        demo_env = _demo_environment(home, settings.mlflow_tracking_uri, host=host, port=port)
        os.environ.update(demo_env)
        get_settings.cache_clear()
    _refuse_unless_startable(settings)
    _run_server(host=host, port=port, workers=workers)


def main() -> None:
    """Entry point of the ``glassbox`` console script."""
    app()
