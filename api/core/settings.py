"""The one settings class of glassbox, read from ``GLASSBOX_*`` environment variables.

Nothing is read at import time: :func:`get_settings` builds the settings on first call and caches
them; tests override them with ``get_settings.cache_clear()`` plus environment variables, or with
FastAPI's ``dependency_overrides``.

Secrets (Art. 32: keys are the security of the whole log) come from the environment or from files,
so they can be mounted by a secret store rather than sit in a process listing::

    GLASSBOX_KEY_ENCRYPTION_KEY=<base64 of 32 bytes>
    GLASSBOX_KEY_ENCRYPTION_KEY_FILE=/run/secrets/kek      # the file holds the same base64 text

``glassbox init`` creates a deployment's secrets as owner-only files with :func:`create_secrets`
(never over existing ones: a new key-encryption key would leave every sealed record unreadable).
``glassbox demo`` creates local random secrets with :func:`generate_demo_secrets`. They carry a
``demo-`` prefix, and the service refuses any demo secret unless ``GLASSBOX_DEMO_MODE`` is true,
so keys that sat in a developer's checkout never protect real people's data.

List settings (``GLASSBOX_SERVED_MODELS``, ``GLASSBOX_ALLOWED_HOSTS``) are written comma-separated
(``fraud,telco-churn``) or as a JSON list (``["fraud", "telco-churn"]``). Invalid settings are
reported by :func:`get_settings` as one line naming each variable (:class:`InvalidSettingsError`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "DEFAULT_SERVED_MODELS",
    "DEMO_MODE_WARNING",
    "DEMO_PREFIX",
    "MODEL_NAME_PATTERN",
    "SECRET_NAMES",
    "InvalidSettingsError",
    "SecretKey",
    "SecretsExistError",
    "Settings",
    "create_secrets",
    "describe_settings_error",
    "generate_demo_secrets",
    "get_settings",
]

DEMO_PREFIX = "demo-"
# Said at every start in demo mode, so that a demo never runs unnoticed where real data is.
DEMO_MODE_WARNING = (
    "demo mode: running with the demo's generated secrets; never use this service for real "
    "people's data"
)
SECRET_NAMES = (
    "pseudonym_key",
    "key_encryption_key",
    "checkpoint_signing_key",
    "token_signing_key",
    "webhook_signing_key",
)
_MIN_DISTINCT_BYTES = 8
# A served model's name, as the decision URL carries it. Never 32 characters long, the length of
# a decision id, so that a path ``/v1/decisions/<segment>`` belongs to one route or the other
# whatever the method: a POST to a decision is a 405, not "no such model". (No look-ahead:
# pydantic's regex engine has none.)
MODEL_NAME_PATTERN = r"^[a-z](?:[a-z0-9_-]{0,30}|[a-z0-9_-]{32,63})$"
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)


class InvalidSettingsError(ValueError):
    """The ``GLASSBOX_*`` settings are missing or invalid; the message names each variable."""


class SecretsExistError(FileExistsError):
    """Secrets are already there: creating them again would replace keys the data depends on."""


def _split_list(value: Any) -> Any:
    """A list setting from the environment: comma-separated names, or a JSON list."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not a valid JSON list ({exc.msg}); or write a,b,c") from None
    return [part.strip() for part in text.split(",")]


class SecretKey:
    """Decoded key material that never shows itself in a repr, a log line or a dump.

    Parameters
    ----------
    raw : bytes
        The key bytes.
    demo : bool
        Whether the key was generated for the local demo.
    """

    __slots__ = ("_raw", "demo")

    def __init__(self, raw: bytes, *, demo: bool = False) -> None:
        self._raw = raw
        self.demo = demo

    @classmethod
    def parse(cls, text: str) -> SecretKey:
        """Decode ``[demo-]<base64>`` text.

        Parameters
        ----------
        text : str
            Standard or URL-safe base64, optionally with the ``demo-`` prefix.

        Returns
        -------
        SecretKey
            The decoded key.
        """
        value = text.strip()
        demo = value.startswith(DEMO_PREFIX)
        if demo:
            value = value[len(DEMO_PREFIX) :]
        try:
            raw = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("is not valid base64") from exc
        return cls(raw, demo=demo)

    def get_secret_value(self) -> bytes:
        """Return the key bytes.

        Returns
        -------
        bytes
            The raw key.
        """
        return self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return secrets.compare_digest(self._raw, other._raw) and self.demo == other.demo

    def __hash__(self) -> int:
        return hash((self._raw, self.demo))

    def __repr__(self) -> str:
        return f"SecretKey('**********', demo={self.demo})"

    @classmethod
    def _validate(cls, value: object) -> SecretKey:
        if isinstance(value, SecretKey):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, bytes):
            return cls(value)
        raise ValueError("must be base64 text")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _: "**********"),
        )


# A recommender's request carries the learner's history: at most this many events by default.
DEFAULT_MAX_HISTORY_EVENTS = 5000


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / '.glassbox' / 'glassbox.db'}"


def _default_artifacts_dir() -> Path:
    return Path.cwd() / ".glassbox" / "mlartifacts"


DEFAULT_SERVED_MODELS = (
    "fraud",
    "churn",
    "credit",
    "recommendation",
    "refund",
    "geo-restriction",
    "account-suspension",
    "lifetime_value",
    "propensity",
    "segments",
)


class Settings(BaseSettings):
    """Configuration of the glassbox service.

    Every field is read from ``GLASSBOX_<FIELD>``; every secret may instead be read from the file
    named by ``GLASSBOX_<FIELD>_FILE``.
    """

    model_config = SettingsConfigDict(env_prefix="GLASSBOX_", extra="ignore", frozen=True)

    _exact_lengths: ClassVar[dict[str, int]] = {
        "key_encryption_key": 32,  # AES-256
        "checkpoint_signing_key": 32,  # raw Ed25519 private key
    }
    _min_lengths: ClassVar[dict[str, int]] = {
        "pseudonym_key": 32,
        "token_signing_key": 32,
        "webhook_signing_key": 32,  # HMAC-SHA256: a key shorter than the hash weakens it
    }

    database_url: str = Field(default_factory=_default_database_url)
    mlflow_tracking_uri: str = "sqlite:///.glassbox/mlflow.db"
    mlflow_artifacts_dir: Path = Field(default_factory=_default_artifacts_dir)
    demo_mode: bool = False
    pseudonym_namespace: str = Field(default="default", min_length=1)
    # Decision requests are a few hundred bytes; anything near this is a mistake or an attack.
    max_body_bytes: int = Field(default=65536, gt=0)
    # A recommendation request carries the learner's history: up to this many events, and a
    # body limit raised by HISTORY_EVENT_BYTES per event for that route only.
    max_history_events: int = Field(default=DEFAULT_MAX_HISTORY_EVENTS, gt=0)
    # The registered models this deployment serves (each by its champion alias), comma-separated
    # or a JSON list: the trained ones and the decisions made by rules. An empty JSON list
    # (``[]``) serves none: the staff routes only.
    served_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_SERVED_MODELS)
    )
    # Where people reach the service: notices link the subject page from here, and its host is
    # the one Host header the service answers (besides loopback and ``allowed_hosts``).
    public_url: str = Field(default="http://127.0.0.1:8000", min_length=1)
    # Other host names the service answers on (an internal name a load balancer probes).
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The API docs (/docs, a public /openapi.json) outside demo mode; otherwise the OpenAPI
    # document is for API keys only and there is no /docs.
    api_docs: bool = False
    # How long a reviewer's claim on a case lasts before it returns to the queue, so a case
    # abandoned mid-review still meets its Art. 12(3) deadline.
    review_lease_minutes: int = Field(default=30, gt=0, le=24 * 60)
    # Review health (SPEC §5): the share of upheld cases a second, different reviewer checks,
    # and when a reviewer's record reads as rubber-stamping (agreement at or above the share,
    # with a median time under the seconds, over at least the cases).
    review_quality_sample_rate: float = Field(default=0.05, ge=0, le=1)
    rubber_stamp_agreement: float = Field(default=0.95, gt=0, le=1)
    rubber_stamp_median_seconds: float = Field(default=60.0, gt=0)
    rubber_stamp_min_cases: int = Field(default=10, ge=1)
    # Rate limits (token buckets, kept per worker process; see api/core/ratelimit.py). Per API
    # key on POST /v1/decisions: far above what one worker can serve (~1,300/s), so only a
    # runaway client is stopped.
    decision_rate_per_second: float = Field(default=5000.0, gt=0)
    decision_rate_burst: int = Field(default=10000, ge=1)
    # Per person (the token's pseudonym) on every /v1/me route: a page load makes a few.
    subject_rate_per_minute: float = Field(default=120.0, gt=0)
    subject_rate_burst: int = Field(default=60, ge=1)
    # Per person, on top, for the rights requests (registered, logged): export, objection,
    # restriction, erasure. Contests are not among them: a person may correct and resend a
    # refused form several times in a minute, and a decision has one open case at most.
    subject_rights_rate_per_minute: float = Field(default=5.0, gt=0)
    subject_rights_rate_burst: int = Field(default=5, ge=1)
    # An irreversible request (erasure, Art. 17) needs a token issued at most this long ago:
    # a link found in an old e-mail or a shared device must not erase a person's data. Seconds
    # or an ISO 8601 duration (``PT15M``); the application that decided issues a fresh link.
    irreversible_max_token_age: timedelta = Field(
        default=timedelta(minutes=15), gt=timedelta(0), le=timedelta(days=90)
    )
    # The HTTP server (glassbox serve, api/core/server.py). Idle keep-alive connections close
    # after keep_alive_timeout; a request's line and headers must arrive within
    # request_head_timeout of the connection opening (or of the next request's first bytes, on
    # a kept-alive connection), its body within request_body_timeout of the headers: half-open
    # connections (slowloris) are closed instead of held. Beyond max_concurrency connections or
    # requests in flight a worker answers 503 at once.
    keep_alive_timeout: int = Field(default=5, gt=0)
    request_head_timeout: float = Field(default=5.0, gt=0)
    request_body_timeout: float = Field(default=10.0, gt=0)
    # A request line and headers larger than this are refused (431); an API call's are < 2 KiB.
    max_request_head_bytes: int = Field(default=16384, gt=0)
    max_concurrency: int = Field(default=1000, ge=1)
    graceful_shutdown_timeout: int = Field(default=30, gt=0)

    pseudonym_key: SecretKey
    key_encryption_key: SecretKey
    checkpoint_signing_key: SecretKey
    token_signing_key: SecretKey
    # Signs the webhooks that tell applications of human outcomes; applications hold a copy.
    webhook_signing_key: SecretKey

    pseudonym_key_file: Path | None = None
    key_encryption_key_file: Path | None = None
    checkpoint_signing_key_file: Path | None = None
    token_signing_key_file: Path | None = None
    webhook_signing_key_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in SECRET_NAMES:
            path = data.get(f"{name}_file")
            if data.get(name) is not None:
                if path:
                    # Two sources for one key: refusing beats silently picking the wrong one.
                    raise ValueError(f"set either GLASSBOX_{name.upper()} or its _FILE, not both")
                continue
            if not path:
                env = f"GLASSBOX_{name.upper()}"
                raise ValueError(f"{env} or {env}_FILE is missing")
            try:
                data[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read GLASSBOX_{name.upper()}_FILE: {exc}") from exc
        return data

    @field_validator("served_models", mode="before")
    @classmethod
    def _parse_served_models(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                "is empty: name the registered models to serve, such as fraud,telco-churn "
                "(or [] to serve none)"
            )
        return _split_list(value)

    @field_validator("served_models")
    @classmethod
    def _check_served_models(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _MODEL_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a model name (a lower-case letter, then lower-case letters, "
                    "digits, '-' or '_', at most 64 characters and never 32); write the names "
                    "comma-separated, such as fraud,telco-churn"
                )
        # The same model named twice is served once.
        return list(dict.fromkeys(value))

    @field_validator("irreversible_max_token_age", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        # Seconds as the environment gives them ("900"), or an ISO 8601 duration ("PT15M").
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            return float(value)
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _parse_allowed_hosts(cls, value: Any) -> Any:
        parsed = _split_list(value)
        return [name for name in parsed if name] if isinstance(parsed, list) else parsed

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL, such as https://decisions.example")
        return value

    @property
    def docs_served(self) -> bool:
        """Whether /docs and a public /openapi.json are served (demo mode, or asked for)."""
        return self.demo_mode or self.api_docs

    @field_validator(*SECRET_NAMES)
    @classmethod
    def _check_key_length(cls, value: SecretKey, info: ValidationInfo) -> SecretKey:
        name = info.field_name or ""
        raw = value.get_secret_value()
        exact = cls._exact_lengths.get(name)
        if exact is not None and len(raw) != exact:
            raise ValueError(f"must decode to exactly {exact} bytes, got {len(raw)}")
        minimum = cls._min_lengths.get(name, 0)
        if len(raw) < minimum:
            raise ValueError(f"must decode to at least {minimum} bytes, got {len(raw)}")
        if len(set(raw)) < _MIN_DISTINCT_BYTES:
            # Placeholders such as 32 zero bytes decode fine but are not secrets.
            raise ValueError("looks like a placeholder, not random key material")
        return value

    @model_validator(mode="after")
    def _refuse_demo_secrets(self) -> Settings:
        if not self.demo_mode:
            demo = [name for name in SECRET_NAMES if getattr(self, name).demo]
            if demo:
                raise ValueError(
                    "demo secrets are refused outside demo mode: "
                    + ", ".join(f"GLASSBOX_{name.upper()}" for name in demo)
                )
        return self


@functools.cache
def get_settings() -> Settings:
    """Build the settings once, from the environment.

    Returns
    -------
    Settings
        The cached settings; ``get_settings.cache_clear()`` makes the next call re-read them.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettingsError(describe_settings_error(exc)) from None


def describe_settings_error(exc: ValidationError) -> str:
    """The problems of invalid settings in one line, each naming its environment variable.

    Only pydantic's messages are used, never the input, which could be a secret.

    Parameters
    ----------
    exc : ValidationError
        Raised by :class:`Settings`.

    Returns
    -------
    str
        Such as ``GLASSBOX_SERVED_MODELS: 'Telco Churn' is not a model name …``.
    """
    problems: list[str] = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        field = next((part for part in error["loc"] if isinstance(part, str)), None)
        problems.append(f"GLASSBOX_{field.upper()}: {message}" if field else message)
    return "; ".join(" ".join(problem.split()) for problem in dict.fromkeys(problems))


def _new_secret(*, prefix: str = "") -> str:
    while True:
        raw = secrets.token_bytes(32)
        # Random 32 bytes all but never have fewer than 8 distinct values; the settings refuse
        # a key that does, so never write one.
        if len(set(raw)) >= _MIN_DISTINCT_BYTES:
            return prefix + base64.b64encode(raw).decode("ascii")


def _write_secret(path: Path, value: str, *, replace: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    # Owner-only permissions from the first byte written.
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def create_secrets(home: Path) -> dict[str, str]:
    """Create a deployment's secrets as owner-only files under ``<home>/secrets/``.

    Each is 32 random bytes in base64, without the demo's prefix, so the service accepts them
    outside demo mode. Nothing that exists is replaced: rotating the key-encryption key or the
    pseudonym key would leave the data written under the old ones unreadable or unfindable.

    Parameters
    ----------
    home : Path
        The deployment's state folder.

    Returns
    -------
    dict of str to str
        ``GLASSBOX_<NAME>_FILE`` variables pointing at the files (absolute paths).

    Raises
    ------
    SecretsExistError
        When any of the secret files is already there (nothing is written then).
    """
    directory = Path(home).resolve() / "secrets"
    present = [name for name in SECRET_NAMES if (directory / name).exists()]
    if present:
        raise SecretsExistError(f"{directory} already holds {', '.join(present)}")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    env: dict[str, str] = {}
    for name in SECRET_NAMES:
        path = directory / name
        _write_secret(path, _new_secret(), replace=False)
        env[f"GLASSBOX_{name.upper()}_FILE"] = str(path)
    return env


def generate_demo_secrets(home: Path) -> dict[str, str]:
    """Create (or reuse) local random demo secrets under ``<home>/secrets/``.

    Existing demo secrets are kept: a restarted demo must still open the log it wrote before.

    Parameters
    ----------
    home : Path
        The demo's state folder (``.glassbox`` by default).

    Returns
    -------
    dict of str to str
        Environment variables that point the service at the secrets and turn demo mode on,
        ready for ``os.environ.update`` or a subprocess's ``env``.

    Raises
    ------
    SecretsExistError
        When the folder holds a deployment's own secrets (``glassbox init``): replacing them
        would lose the data sealed under them, so the demo needs a ``--home`` of its own.
    """
    directory = Path(home) / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    real = [
        name
        for name in SECRET_NAMES
        if (directory / name).exists() and not _is_demo_secret_file(directory / name)
    ]
    if real:
        raise SecretsExistError(
            f"{directory.resolve()} holds secrets that are not the demo's ({', '.join(real)}): "
            "the demo never replaces them; give it another --home"
        )
    env = {"GLASSBOX_DEMO_MODE": "true"}
    for name in SECRET_NAMES:
        path = directory / name
        if not path.exists():
            _write_secret(path, _new_secret(prefix=DEMO_PREFIX), replace=True)
        env[f"GLASSBOX_{name.upper()}_FILE"] = str(path.resolve())
    return env


def _is_demo_secret_file(path: Path) -> bool:
    try:
        key = SecretKey.parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return key.demo and len(key) == 32
