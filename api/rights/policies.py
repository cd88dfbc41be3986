"""Retention policies: how long each category of personal data is kept, and when a key dies.

A subject has one data key per retention category and calendar year
(:class:`api.vault.keys.KeyId`), so erasure and retention shred keys, never log entries.

Retention rule: a key of year ``Y`` seals records created in ``Y`` at the latest, so it expires
when the **end** of year ``Y`` plus the category's period has passed -- at
``datetime(Y + 1, 1, 1) + timedelta(days=retention.days)`` (UTC). Nothing is ever shredded
before its period ends; a record may outlive its period by up to a year, which is the price of
one key per year instead of one per record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import get_args

from api.context import AppContext
from api.decisions.runtime import ModelNotServedError
from models.spec import (
    ModelKind,
    ModelSpec,
    Retention,
    default_spec_path,
    load_spec,
    shipped_rule_specs,
)

__all__ = [
    "RetentionPolicies",
    "key_expires_at",
    "retention_policies",
    "served_spec",
    "served_specs",
]

# Retention category -> its rule and the names of the models sealed under it.
RetentionPolicies = Mapping[str, tuple[Retention, list[str]]]


def key_expires_at(retention: Retention, epoch: int) -> datetime:
    """When the data key of year ``epoch`` of a category has outlived its retention period.

    Parameters
    ----------
    retention : Retention
        The category's retention (from a model spec).
    epoch : int
        The key's calendar year.

    Returns
    -------
    datetime
        The end of year ``epoch`` plus the period: every record the key seals is at least
        ``retention.days`` old then.
    """
    return datetime(epoch + 1, 1, 1, tzinfo=UTC) + timedelta(days=retention.days)


def retention_policies(specs: Iterable[ModelSpec] = ()) -> dict[str, tuple[Retention, list[str]]]:
    """Each retention category's rule and the models that use it.

    Parameters
    ----------
    specs : iterable of ModelSpec
        Specs of the models in service; they override the shipped specs of the same name.

    Returns
    -------
    dict of str to (Retention, list of str)
        Category -> its retention and the model names sealed under it.
    """
    by_name: dict[str, ModelSpec] = {}
    paths = [default_spec_path(kind) for kind in get_args(ModelKind)] + shipped_rule_specs()
    for path in paths:
        shipped = load_spec(path)
        by_name[shipped.name] = shipped
    for spec in specs:
        by_name[spec.name] = spec
    policies: dict[str, tuple[Retention, list[str]]] = {}
    for name, spec in sorted(by_name.items()):
        retention, models = policies.setdefault(spec.retention.category, (spec.retention, []))
        models.append(name)
        if spec.retention.days > retention.days:
            # Two models sharing a category with different periods: the longer one governs.
            policies[spec.retention.category] = (spec.retention, models)
    return policies


def served_spec(context: AppContext, *, name: str) -> ModelSpec | None:
    """The spec of a model in service, or None if it is not served (any more).

    Parameters
    ----------
    context : AppContext
        The running service.
    name : str
        The model's name.

    Returns
    -------
    ModelSpec or None
        Its spec as served.
    """
    try:
        return context.models.get(name).spec
    except ModelNotServedError:
        return None


def served_specs(context: AppContext) -> list[ModelSpec]:
    """The specs of the models in service, which override the shipped ones of the same name.

    Parameters
    ----------
    context : AppContext
        The running service.

    Returns
    -------
    list of ModelSpec
        One per served model that is loaded.
    """
    specs = (served_spec(context, name=name) for name in context.settings.served_models)
    return [spec for spec in specs if spec is not None]
