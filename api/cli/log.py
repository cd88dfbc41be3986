"""The decision log from the command line: ``verify-log``, ``log`` and signed checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import (
    DemoOption,
    HomeOption,
    console,
    errors,
    open_database,
    progress_display,
    service_settings,
)

__all__ = ["checkpoint_app", "show_log_command", "verify_log_command"]

checkpoint_app = typer.Typer(help="Signed checkpoints of the decision log.", no_args_is_help=True)


def verify_log_command(
    home: HomeOption = Path(".glassbox"),
    demo: DemoOption = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Entries read per query.")] = 1000,
) -> None:
    """Re-compute the decision log's hash chain and check every decision row against its log
    entry or MAC; exit 1 naming the first bad entry, or each bad decision and its columns."""
    from api.audit.log import log_head
    from api.decisions.integrity import verify_records

    settings = service_settings(home, demo=demo)
    kek = settings.key_encryption_key.get_secret_value()
    with open_database(settings) as sessions, sessions() as session:
        stored, _ = log_head(session)
        with progress_display() as progress:
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

    settings = service_settings(home, demo=demo)
    query = select(LogEntry).order_by(LogEntry.seq.desc()).limit(last)
    if kind is not None:
        query = query.where(LogEntry.kind == kind)
    with open_database(settings) as sessions, sessions() as session:
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

    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
        checkpoint = create_checkpoint(
            session, signing_key=settings.checkpoint_signing_key.get_secret_value()
        )
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

    settings = service_settings(home, demo=demo)
    with open_database(settings) as sessions, sessions() as session:
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
    settings = service_settings(home, demo=demo)
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
    with open_database(settings) as sessions, sessions() as session:
        result = verify_checkpoint(session, document=document, public_key=trusted)
    if result.ok:
        console.print(f"[green]OK[/]: the log still matches the checkpoint in {file}.")
        return
    console.print(f"[red]FAILED[/]: {result.reason}", highlight=False)
    raise typer.Exit(1)
