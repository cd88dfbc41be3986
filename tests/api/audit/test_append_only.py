"""The decision log has only append and read paths: no code path updates or deletes an entry.

Every module of ``api/`` is scanned, not only the log's own: a second place that inserts log
entries -- an ORM ``LogEntry(...)``, a Core ``insert`` of the table, driver SQL -- fails here
unless it chains its batch through :func:`api.audit.log.chain_entries` and is named below.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import api
from api.audit.writer import LogWriter

API_ROOT = Path(api.__file__).parent
API_MODULES = sorted(API_ROOT.rglob("*.py"))
# The log's own packages: the log, its writers and checkpoints, and the key vault that seals it.
LOG_PACKAGES = ("audit", "vault")
LOG_MODULES = [p for p in API_MODULES if p.relative_to(API_ROOT).parts[0] in LOG_PACKAGES]
# Every place that inserts into log_entry, by qualified name (module path under api/).
INSERT_PATHS = {"audit.log.append_prepared", "audit.direct.DirectWriter._append"}
CHAIN_FUNCTION = "chain_entries"

_MUTATING_NAME = re.compile(r"update|delete|remove|edit|truncate|purge|rewrite|replace|drop")
_RAW_CHANGE = re.compile(
    r"\b(update\s+log_entry|delete\s+from\s+log_entry|truncate\s+(table\s+)?log_entry)\b",
    re.IGNORECASE,
)
_RAW_INSERT = re.compile(r"\binsert\s+(or\s+\w+\s+)?into\s+\W?log_entry\b", re.IGNORECASE)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(API_ROOT).with_suffix("").parts)


def _mentions_log_entry(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id == "LogEntry")
        or (isinstance(n, ast.Constant) and n.value == "log_entry")
        for n in ast.walk(node)
    )


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _functions(tree: ast.AST, prefix: str) -> list[tuple[str, ast.AST]]:
    """Every function with its qualified name; the module itself (its top level) first."""
    found: list[tuple[str, ast.AST]] = [(prefix, tree)]

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualified = f"{name}.{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((qualified, child))
                visit(child, qualified)
            else:
                visit(child, name)

    visit(tree, prefix)
    return found


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, not of the functions defined inside it."""
    nodes: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def _inserts_into_the_log(node: ast.AST) -> bool:
    if isinstance(node, ast.Call):
        name = _call_name(node)
        if name == "LogEntry":  # an ORM object, added to a session
            return True
        if "insert" in name.lower() and any(
            _mentions_log_entry(arg) for arg in [*node.args, *(k.value for k in node.keywords)]
        ):
            return True
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _RAW_INSERT.search(node.value) is not None
    )


def insert_sites(source: str, module: str) -> dict[str, bool]:
    """Each function of ``source`` that inserts into the log, and whether it chains its batch."""
    sites: dict[str, bool] = {}
    for name, function in _functions(ast.parse(source), module):
        nodes = _own_nodes(function)
        if any(_inserts_into_the_log(node) for node in nodes):
            sites[name] = any(
                isinstance(node, ast.Call) and _call_name(node) == CHAIN_FUNCTION for node in nodes
            )
    return sites


@pytest.mark.parametrize("path", API_MODULES, ids=_module_name)
def test_no_update_or_delete_statement_targets_log_entry(path: Path) -> None:
    tree = ast.parse(path.read_text())
    in_the_log = path in LOG_MODULES
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name in {"update", "delete"}:
            assert not any(_mentions_log_entry(arg) for arg in node.args), (
                f"{path.name}:{node.lineno} {name}() on the log"
            )
        if not in_the_log:
            continue
        if name == "delete":
            # session.delete(obj) cannot be traced to a table statically: forbid it outright.
            raise AssertionError(f"{path.name}:{node.lineno} calls delete()")
        if isinstance(node.func, ast.Attribute) and node.func.attr in {
            "merge",
            "bulk_update_mappings",
        }:
            raise AssertionError(f"{path.name}:{node.lineno} may overwrite rows")


@pytest.mark.parametrize("path", API_MODULES, ids=_module_name)
def test_no_raw_sql_changes_the_log(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not _RAW_CHANGE.search(node.value), f"{path.name}:{node.lineno}"


@pytest.mark.parametrize("path", LOG_MODULES, ids=_module_name)
def test_no_public_name_of_the_log_suggests_changing_entries(path: Path) -> None:
    module = importlib.import_module(f"api.{_module_name(path)}")
    public = getattr(module, "__all__", [])
    assert {name for name in public if _MUTATING_NAME.search(name.lower())} == set()


def test_no_method_of_the_writer_suggests_changing_entries() -> None:
    for name, _ in inspect.getmembers(LogWriter, inspect.isfunction):
        assert not _MUTATING_NAME.search(name), name


def test_every_insert_into_the_log_chains_its_batch_in_one_function() -> None:
    sites: dict[str, bool] = {}
    for path in API_MODULES:
        sites.update(insert_sites(path.read_text(), _module_name(path)))
    # The session path and the driver path; a third place that writes entries fails here.
    assert set(sites) == INSERT_PATHS
    assert all(sites.values()), f"an insert into the log that does not chain: {sites}"


def test_the_chain_rule_is_applied_in_one_place() -> None:
    hashing: set[str] = set()
    for path in API_MODULES:
        for name, function in _functions(ast.parse(path.read_text()), _module_name(path)):
            if any(
                isinstance(node, ast.Call) and _call_name(node) == "compute_entry_hash"
                for node in _own_nodes(function)
            ):
                hashing.add(name)
    # Chaining a batch for writing, and re-computing the chain to verify it.
    assert hashing == {"audit.log.chain_entries", "audit.log.verify_log"}


@pytest.mark.parametrize(
    "source",
    [
        "def sneaky(session, rows):\n    session.execute(insert(LogEntry), rows)",
        "def sneaky(session):\n    session.add(LogEntry(seq=1))",
        "class Fast:\n    def sneaky(self, cursor):\n"
        "        cursor.execute('INSERT INTO log_entry (seq) VALUES (?)', (1,))",
        "def sneaky(writer, cursor):\n    plan = writer.insert_plan(LogEntry.__table__, ())",
        "def sneaky(conn, rows):\n    conn.execute(insert(table('log_entry')), rows)",
    ],
)
def test_the_scan_sees_a_second_insert_path(source: str) -> None:
    # The guard above is only as good as its scan: each of these would be a new way in.
    assert insert_sites(source, "elsewhere") != {}
    assert not any(insert_sites(source, "elsewhere").values())
