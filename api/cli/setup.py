"""``glassbox init``: a deployment's secrets under ``--home``, and the settings file to source.

The secrets are owner-only files (``<home>/secrets/<name>``, base64 of 32 random bytes, not the
demo's); ``<home>/glassbox.env`` exports ``GLASSBOX_<NAME>_FILE`` for each, the home, its
decision database and its MLflow store, so that ``source <home>/glassbox.env`` followed by
``glassbox train`` and ``glassbox serve`` works. Nothing existing is ever replaced.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import typer

from api.cli.common import HomeOption, console, demo_database_url, errors, home_tracking_uri
from api.core.settings import DEFAULT_SERVED_MODELS

__all__ = ["init"]

ENV_FILE = "glassbox.env"


def _environment_file(home: Path, secret_files: dict[str, str]) -> str:
    lines = [
        f"# glassbox settings for {home} (written by `glassbox init`).",
        "# Read them with:  source " + shlex.quote(str(home / ENV_FILE)),
        "# Back up secrets/: without the key-encryption key the sealed data cannot be read.",
        f"export GLASSBOX_HOME={shlex.quote(str(home))}",
        *(f"export {name}={shlex.quote(path)}" for name, path in secret_files.items()),
        f"export GLASSBOX_DATABASE_URL={shlex.quote(demo_database_url(home))}",
        f"export GLASSBOX_MLFLOW_TRACKING_URI={shlex.quote(home_tracking_uri(home))}",
        "# The registered models to serve, comma-separated (each by its champion version):",
        "export GLASSBOX_SERVED_MODELS=" + ",".join(DEFAULT_SERVED_MODELS),
        "# Where people reach the service (notices link here; the only Host answered):",
        "# export GLASSBOX_PUBLIC_URL=https://decisions.example",
    ]
    return "\n".join(lines) + "\n"


def init(home: HomeOption = Path(".glassbox")) -> None:
    """Create a deployment's secrets under --home and the settings file to source before serving.

    Refuses if --home already holds secrets or a glassbox.env: a new key-encryption key would
    leave the data sealed under the old one unreadable.
    """
    from api.core.settings import create_secrets

    home = home.resolve()
    env_file = home / ENV_FILE
    if env_file.exists():
        errors.print(
            f"Refused: {env_file} already exists; glassbox init never replaces settings or "
            f"secrets (read them with: source {env_file}).",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    # SecretsExistError (secrets there already, perhaps the demo's) is said in one line by the
    # command group, and nothing is written.
    secret_files = create_secrets(home)
    text = _environment_file(home, secret_files)
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    console.print(
        f"Created {len(secret_files)} secrets in {home / 'secrets'} (owner-only files). Back "
        "them up: without the key-encryption key the data sealed under it cannot be read.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"Wrote {env_file}:", markup=False, highlight=False, soft_wrap=True)
    for line in text.splitlines():
        if line.startswith("export "):
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print("Next:", markup=False)
    for step in (
        f"source {shlex.quote(str(env_file))}",
        "glassbox train churn --data YOUR-DATA.csv --spec YOUR-SPEC.yaml",
        "glassbox serve",
    ):
        console.print(f"  {step}", markup=False, highlight=False, soft_wrap=True)
