"""The decision log has only append and read paths: no code path updates or deletes an entry."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import api.audit
from api.audit import service

AUDIT_MODULES = sorted(Path(api.audit.__file__).parent.glob("*.py"))
_MUTATING_NAME = re.compile(r"update|delete|remove|edit|truncate|purge|rewrite|replace|drop")


def _mentions_log_entry(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id == "LogEntry")
        or (isinstance(n, ast.Constant) and n.value == "log_entry")
        for n in ast.walk(node)
    )


@pytest.mark.parametrize("path", AUDIT_MODULES, ids=lambda p: p.name)
def test_no_update_or_delete_statement_targets_log_entry(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name in {"update", "delete"}:
            assert not any(_mentions_log_entry(arg) for arg in node.args), (
                f"{path.name}:{node.lineno} {name}() on the log"
            )
        if name == "delete":
            # session.delete(obj) cannot be traced to a table statically: forbid it outright.
            raise AssertionError(f"{path.name}:{node.lineno} calls delete()")
        if isinstance(func, ast.Attribute) and func.attr in {"merge", "bulk_update_mappings"}:
            raise AssertionError(f"{path.name}:{node.lineno} may overwrite rows")


_RAW_CHANGE = re.compile(
    r"\b(update\s+log_entry|delete\s+from\s+log_entry|truncate\s+(table\s+)?log_entry)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", AUDIT_MODULES, ids=lambda p: p.name)
def test_no_raw_sql_changes_the_log(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not _RAW_CHANGE.search(node.value), f"{path.name}:{node.lineno}"


def test_no_public_name_of_the_service_suggests_changing_entries() -> None:
    suspicious = {name for name in service.__all__ if _MUTATING_NAME.search(name.lower())}
    assert suspicious == set()
    for name, _ in inspect.getmembers(service.LogWriter, inspect.isfunction):
        assert not _MUTATING_NAME.search(name), name


def test_the_log_is_written_by_exactly_one_insert() -> None:
    inserting: list[str] = []
    for path in AUDIT_MODULES:
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) == "insert"
                    and any(_mentions_log_entry(arg) for arg in node.args)
                ):
                    inserting.append(f"{path.stem}.{function.name}")
    # Every write to the log goes through the one append that chains onto the head.
    assert inserting == ["service._append_prepared"]
