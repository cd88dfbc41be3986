"""The Spark engine: executors explain the file's rows, glassbox's one writer records them.

Spark reads the CSV or Parquet file and splits it into partitions. The served version's
explaining half (:class:`api.decisions.blocks.BlockExplainer`: the spec, the encoder and the
TreeSHAP explainer, no database and no secret) is broadcast once, and each executor's Python
worker unpickles it once per model version (:data:`_EXPLAINERS`), then explains each Arrow
batch of rows in ONE TreeSHAP call inside ``mapInPandas``. An executor sends back one pickled
block per Arrow batch: its rows' features, their validation (or the problems that refuse them),
the encoded rows and their SHAP values; nothing it computes is a decision.

The blocks come back to the driver (``toLocalIterator``, a partition at a time), which rebuilds
the explanations from the values (:meth:`BlockExplainer.rebuild`) and records each row through
:func:`api.batch.engine.run_batch` -- the local engine's own loop, with the same
``results.jsonl``, the same record ids, the same skipping of rows done and recovery of rows
recorded without their line. Sealing, the log and its chain stay with the driver's one
group-commit writer: an executor never touches the database or a key.

Spark runs in local mode (``local[2]`` by default), quiet, with its UI off, bound to
127.0.0.1, and downloads nothing (no ``spark.jars.packages``).
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from api.batch.engine import BatchSummary, Progress, run_batch
from api.batch.files import BatchFile, BatchFileError, BatchRow, frame_features
from api.context import AppContext
from api.core.security import Principal
from api.decisions.blocks import BlockExplainer, Explained
from api.decisions.runtime import ServedModel
from api.decisions.schemas import LegalBasis
from api.decisions.validation import FeatureProblemsError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

__all__ = ["run_spark_batch", "spark_refusal", "spark_rows", "spark_session"]

# Rows an executor explains in one TreeSHAP call (one Arrow batch of mapInPandas).
BLOCK_ROWS = 4096
# A file is cut in partitions of this size, so that both cores explain while the driver writes.
_PARTITION_BYTES = 2 * 1024 * 1024

# Spark's JVM logs errors only: a batch's output is its progress bar and its summary.
_LOG_CONFIG = Path(__file__).with_name("log4j2.properties")

# Per executor process: the explaining half of each model version, unpickled once.
_EXPLAINERS: dict[tuple[str, int], BlockExplainer] = {}


def spark_session(master: str = "local[2]", *, app_name: str = "glassbox-batch") -> SparkSession:
    """A local Spark session for batches: quiet, UI off, bound to 127.0.0.1.

    Parameters
    ----------
    master : str
        The Spark master; ``local[2]`` uses two cores of this machine.
    app_name : str
        The application's name in Spark's own logs.

    Returns
    -------
    SparkSession
        Stop it when done (``session.stop()``).
    """
    from pyspark.sql import SparkSession

    # The executors' Python is this one, so they import the same glassbox and libraries.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # Loopback only: a batch host needs no route to anywhere for local mode.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for name in ("py4j", "pyspark"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # pyspark warns about every pandas major it has not yet been tested with; the executors'
    # columns here are plain strings, binary and numbers.
    warnings.filterwarnings("ignore", message="PySpark does not yet", category=FutureWarning)
    session = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.files.maxPartitionBytes", str(_PARTITION_BYTES))
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BLOCK_ROWS))
        .config("spark.python.worker.reuse", "true")
        # A partition's explained rows go to the driver straight from the task, not through
        # the block manager, which lost one under memory pressure in a million-row run.
        .config("spark.driver.memory", "2g")
        .config("spark.task.maxDirectResultSize", str(64 * 1024 * 1024))
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_LOG_CONFIG}")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_refusal(served: ServedModel, batch: BatchFile) -> str | None:
    """Why the spark engine cannot score this file with this model, if it cannot.

    Executors explain classifiers by TreeSHAP; profiles, the recommender and rules are scored
    by the local engine. Spark's order is not the file's, so a row is named by its key column.
    """
    if served.is_profile or served.is_recommender or served.is_rules:
        return (
            f"the spark engine explains classifiers' decisions; the {served.name} model is "
            "scored by the local engine (--engine local)"
        )
    if batch.key_column is None:
        return (
            f"{batch.path}: the spark engine names each row by its key column (--key-column); "
            "the file has none"
        )
    return None


def _explainer(name: str, version: int, payload: bytes) -> BlockExplainer:
    key = (name, version)
    explainer = _EXPLAINERS.get(key)
    if explainer is None:
        # Pickled by this batch's own driver (run_spark_batch), never read from elsewhere.
        explainer = _EXPLAINERS[key] = pickle.loads(payload)  # noqa: S301
    return explainer


def _explain_partition(
    name: str,
    version: int,
    payload: Any,
    done: Any,
    key_column: str,
    subject_column: str,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The executors' work, for ``mapInPandas``: each batch of rows explained in one call."""

    def explain(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        explainer = _explainer(name, version, payload.value)
        finished: set[str] = done.value
        for frame in frames:
            keys = frame[key_column].astype(str).tolist()
            subjects = frame[subject_column].astype(str).tolist()
            features = frame_features(frame, explainer.spec)
            todo = [i for i, key in enumerate(keys) if key not in finished]
            validated, matrix = explainer.encode([features[i] for i in todo])
            values = explainer.explainer.values(matrix)
            # One pickled block per Arrow batch, not a row each: the driver pays Spark's
            # per-row cost (a Row built, its columns unpickled) once for thousands of rows.
            # The arrays go as they are: pickle keeps every float exactly, NaN included.
            block = _Block(
                keys=keys,
                subjects=subjects,
                features=features,
                todo=todo,
                checked=[
                    item.problems if isinstance(item, FeatureProblemsError) else item
                    for item in validated
                ],
                matrix=matrix,
                values=values,
            )
            yield pd.DataFrame({"block": [_pickled(block)]})

    return explain


@dataclass(frozen=True)
class _Block:
    """What an executor sends back for one Arrow batch of rows.

    ``keys``, ``subjects`` and ``features`` are every row's; ``todo`` the positions of the rows
    not done before, and ``checked`` theirs: the validated features, or the problems that
    refuse them. ``matrix`` and ``values`` are the encoded rows and SHAP values of the valid
    ones, in order.
    """

    keys: list[str]
    subjects: list[str]
    features: list[dict[str, Any]]
    todo: list[int]
    checked: list[dict[str, Any] | list[tuple[str, str]]]
    matrix: NDArray[np.float64]
    values: NDArray[np.float64]


def _pickled(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _unpickled(raw: bytes) -> Any:
    # Written by this batch's own executors (_explain_partition) in this Spark application:
    # pickle keeps NaN and every float exactly, which JSON would not.
    return pickle.loads(raw)  # noqa: S301


def _read(session: SparkSession, path: Path) -> Any:
    if path.suffix.lower() in (".parquet", ".pq"):
        return session.read.parquet(str(path))
    return session.read.csv(str(path), header=True, inferSchema=True)


def spark_rows(
    session: SparkSession, *, explainer: BlockExplainer, batch: BatchFile, done: set[str]
) -> Iterator[tuple[BatchRow, Explained | None]]:
    """The file's rows as Spark's executors explained them, a partition at a time.

    Rows in ``done`` are passed through unexplained (the driver skips them). The order is
    Spark's, not the file's: a row is named by its key column, never by its position.
    """
    assert batch.key_column is not None, "refused by spark_refusal"
    context = session.sparkContext
    payload = context.broadcast(pickle.dumps(explainer, protocol=pickle.HIGHEST_PROTOCOL))
    finished = context.broadcast(done)
    schema = "block binary"
    frame = _read(session, batch.path).mapInPandas(
        _explain_partition(
            explainer.name,
            explainer.version,
            payload,
            finished,
            batch.key_column,
            batch.subject_column,
        ),
        schema=schema,
    )
    try:
        for record in frame.toLocalIterator(prefetchPartitions=True):
            yield from _rebuilt(explainer, _unpickled(record["block"]))
    finally:
        payload.unpersist()
        finished.unpersist()


def _rebuilt(
    explainer: BlockExplainer, block: _Block
) -> Iterator[tuple[BatchRow, Explained | None]]:
    """A block's rows with the explanations rebuilt from the values its executor computed."""
    validated = [
        item if isinstance(item, dict) else FeatureProblemsError(item) for item in block.checked
    ]
    explained = dict(
        zip(block.todo, explainer.rebuild(validated, block.matrix, block.values), strict=True)
    )
    for i, (key, subject, features) in enumerate(
        zip(block.keys, block.subjects, block.features, strict=True)
    ):
        yield BatchRow(key=key, subject_ref=subject, features=features), explained.get(i)


def run_spark_batch(
    context: AppContext,
    session: SparkSession,
    *,
    model_name: str,
    batch: BatchFile,
    out_dir: Path,
    principal: Principal,
    locale: Literal["en", "es"] = "en",
    legal_basis: LegalBasis = "none",
    chunk_size: int = 1024,
    limit: int | None = None,
    progress: Progress | None = None,
) -> BatchSummary:
    """Score a whole file on Spark, idempotently and resumably, as the local engine does.

    Parameters
    ----------
    context : AppContext
        A running service context (its writer started) serving ``model_name``.
    session : SparkSession
        From :func:`spark_session`.
    model_name : str
        A decision model explained by TreeSHAP (a classifier).
    batch : BatchFile
        The file (:func:`api.batch.files.read_batch_file`), with a key column.
    out_dir, principal, locale, legal_basis, chunk_size, limit, progress
        As :func:`api.batch.engine.run_local_batch`.

    Returns
    -------
    BatchSummary
        What the run did.

    Raises
    ------
    BatchFileError
        The file has no key column, or ``out_dir`` holds another batch's results.
    api.decisions.errors.ProfileModelError
        The model builds profiles: the local engine scores those.
    """
    served = context.models.get(model_name)
    refusal = spark_refusal(served, batch)
    if refusal is not None:
        raise BatchFileError(refusal)
    explainer = BlockExplainer.of(served)
    return run_batch(
        context,
        served=served,
        batch=batch,
        out_dir=out_dir,
        principal=principal,
        engine="spark",
        stream=lambda done: spark_rows(session, explainer=explainer, batch=batch, done=done),
        locale=locale,
        legal_basis=legal_basis,
        chunk_size=chunk_size,
        limit=limit,
        progress=progress,
    )
