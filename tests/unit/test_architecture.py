"""The core stays pure: voting/ imports no framework, no database, no scheduler, no clock, no network."""

from __future__ import annotations

import ast
from pathlib import Path

VOTING = Path(__file__).resolve().parents[2] / "voting"
ALLOWED_THIRD_PARTY = {"cryptography", "openpyxl"}
FORBIDDEN_STDLIB = {
    "socket",
    "asyncio",
    "sqlite3",
    "urllib",
    "http",
    "subprocess",
    "time",
    "os",
    "pathlib",
    "random",
    "secrets",
    "shutil",
    "tempfile",
    "logging",
}
STDLIB_OK = {
    "__future__",
    "csv",
    "io",
    "re",
    "zipfile",
    "zlib",  # zipfile's decompressor: the verifier catches zlib.error from a damaged bundle
    "gc",  # the verifier pauses the cycle collector while it runs (and only that)
    "threading",  # the verifier decompresses the ledger in a second thread, ahead of the checks
    "queue",  # ... and hands the chunks over with a queue
    "multiprocessing",  # ... and checks large ledgers with a helper process, over os pipes (no socket)
    "collections",
    "dataclasses",
    "decimal",
    "enum",
    "fractions",
    "typing",
    "tomllib",
    "json",
    "hashlib",
    "hmac",
    "base64",
    "datetime",
    "itertools",
    "functools",
    "abc",
    "types",
    "string",
    "unicodedata",
    "math",
    "heapq",
    "bisect",
    "operator",
    "textwrap",
    "struct",
    "importlib",  # importlib.resources: the bundled default menu catalogue, read-only package data
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_voting_imports_only_the_standard_library_and_allowed_file_and_crypto_libraries() -> None:
    offenders = {}
    for path in VOTING.rglob("*.py"):
        bad = _imports(path) - STDLIB_OK - ALLOWED_THIRD_PARTY - {"voting"}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}, f"voting/ must stay pure; move these imports out or justify them: {offenders}"


def test_voting_never_reads_the_clock() -> None:
    for path in VOTING.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
            assert call not in text, f"{path.name} reads the clock with {call}; take `now` as an argument"


def test_voting_never_uses_float() -> None:
    for path in VOTING.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                raise AssertionError(f"{path.name}:{node.lineno} has a float literal")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float":
                raise AssertionError(f"{path.name}:{node.lineno} converts to float")


def test_the_forbidden_list_is_really_checked() -> None:
    """Guards the guard: a module importing socket would be reported."""
    assert "socket" in FORBIDDEN_STDLIB and "socket" not in STDLIB_OK
