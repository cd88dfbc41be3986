"""The local engine's worker processes: a classifier's rows validated, explained, worded and
composed in other processes, while this one hands them to the one writer and writes the lines.

One process cannot spread a decision's Python over two cores (the GIL), and about half of a
batch decision's CPU is work that needs neither the database nor the writer: validating and
encoding the features, TreeSHAP, the factors and reasons, the record and its row MAC, the
monitoring cells (:func:`api.decisions.blocks.compose_block`). The workers do that half, and issue
each person's link, handed out only once the row is written; the process that started them
keeps what must stay in one place -- whether the person objected, the writer's seals and
chain, ``results.jsonl``.

The workers are forked from this process when a run starts, so they inherit the served
version and the settings instead of receiving them (no model is pickled, no secret crosses a
pipe); they open no database and write nothing. What they send back is plain data
(:class:`~api.decisions.blocks.Composed`). A row they could not compose (bad features, bad
monitoring groups) comes back as None and is done again in this process, which words its
refusal exactly as over HTTP.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType
from typing import Any, Literal

from pydantic import ValidationError

from api.core.security import Principal
from api.core.settings import Settings
from api.decisions.blocks import BlockExplainer, Composed, compose_block
from api.decisions.runtime import ServedModel
from api.decisions.schemas import DecisionCreate, LegalBasis

__all__ = ["ComposerPool", "Task"]

# A row to compose: whom it is about, its features, its record id.
Task = tuple[str, dict[str, Any], str]


@dataclass(frozen=True)
class _Composer:
    """What a worker composes with, inherited from the process that forked it."""

    served: ServedModel
    explainer: BlockExplainer
    settings: Settings
    principal: Principal
    locale: Literal["en", "es"]
    legal_basis: LegalBasis


_COMPOSER: _Composer | None = None


def _compose(rows: list[Task], human_only: bool) -> list[Composed | None]:
    """In a worker: the rows' composed decisions, None where a row is refused."""
    state = _COMPOSER
    if state is None:  # pragma: no cover - a worker is always forked with its state
        raise RuntimeError("a batch worker was started without its served model")
    positions: list[int] = []
    requests: list[DecisionCreate] = []
    for position, (subject_ref, features, _) in enumerate(rows):
        try:
            request = DecisionCreate(
                subject_ref=subject_ref,
                features=features,
                legal_basis=state.legal_basis,
                locale=state.locale,
            )
        except ValidationError:
            continue
        positions.append(position)
        requests.append(request)
    composed = compose_block(
        state.served,
        settings=state.settings,
        requests=requests,
        explained=state.explainer.explain([request.features for request in requests]),
        decision_ids=[rows[position][2] for position in positions],
        principal=state.principal,
        human_only=human_only,
        issue_links=True,
    )
    out: list[Composed | None] = [None] * len(rows)
    for position, item in zip(positions, composed, strict=True):
        out[position] = item if isinstance(item, Composed) else None
    return out


class ComposerPool:
    """Worker processes that compose a served classifier's rows (a context manager).

    Parameters
    ----------
    served : ServedModel
        The deciding version; a classifier.
    processes : int
        How many workers.
    settings, principal, locale, legal_basis
        As the batch run's.
    """

    def __init__(
        self,
        served: ServedModel,
        *,
        processes: int,
        settings: Settings,
        principal: Principal,
        locale: Literal["en", "es"],
        legal_basis: LegalBasis,
    ) -> None:
        self._state = _Composer(
            served, BlockExplainer.of(served), settings, principal, locale, legal_basis
        )
        self.processes = processes
        self._pool: Pool | None = None

    def __enter__(self) -> ComposerPool:
        global _COMPOSER
        # Forked, not spawned: the workers start with the served version and settings in
        # memory. The state is set only while they start.
        _COMPOSER = self._state
        # Objects from before the fork are left out of the workers' collections: a collection
        # would touch every inherited page and copy it into the worker.
        gc.freeze()
        try:
            self._pool = multiprocessing.get_context("fork").Pool(self.processes)
        finally:
            gc.unfreeze()
            _COMPOSER = None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def submit(
        self, rows: Sequence[Task], *, human_only: bool
    ) -> AsyncResult[list[Composed | None]]:
        """Compose ``rows`` in a worker, under the oversight mode ``human_only``.

        Returns
        -------
        AsyncResult
            Its ``get()`` gives, per row in order, its :class:`Composed` decision, or None
            for a row to be done again in this process.
        """
        if self._pool is None:
            raise RuntimeError("the composer pool is not started")
        return self._pool.apply_async(_compose, (list(rows), human_only))
