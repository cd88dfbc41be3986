"""The monitoring figures: counts per model, version and UTC day, with no personal data in them.

One row is one cell: ``kind`` says what is counted (``outcome``: by outcome and score bin;
``feature``: by feature and bin; ``group``; ``group_actual``), ``name`` and ``value`` which cell
of it, ``outcome`` the decision's outcome where a cell is split by it. ``count`` is how many
decisions fell in the cell and ``total`` a sum over them (the score for ``outcome``, |SHAP| for
``feature``, positives for ``group_actual``); docs/report.md has the table. Rows are only
ever added to (``count = count + excluded.count``), so writers in any number of processes and
hosts add up, and nothing in them is about one person: an erasure leaves them as they are.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base

__all__ = ["FIGURE_KEY", "MonitoringFigure"]

# The columns that name a cell (the primary key), in order.
FIGURE_KEY = ("model_name", "model_version", "day", "kind", "name", "value", "outcome")


class MonitoringFigure(Base):
    """One cell of the monitoring figures of a model version on one UTC day."""

    __tablename__ = "monitoring_figure"
    # SQLite: the primary key is the table (one B-tree to update per cell, not a table and an
    # index), as a cell is only ever found and added to by its key.
    __table_args__ = ({"sqlite_with_rowid": False},)

    model_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Float)
