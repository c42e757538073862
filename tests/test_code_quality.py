"""The tree's own rules, run with the tests (and so in CI): ruff's lint and format over the whole tree,
mypy over the runtime (pyproject.toml configures all three), and the size limits: no file in edgeface/
or export/ over 400 lines without its reason in its opening docstring, no function over 80 lines."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 80


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (the dev extra installs it)")
    return found


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff(command):
    run = subprocess.run([_tool("ruff"), *command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_mypy_on_the_runtime():
    run = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def _sources():
    return sorted([*(ROOT / "edgeface").rglob("*.py"), *(ROOT / "export").rglob("*.py")])


def long_files(paths) -> list[str]:
    """Files over the limit whose opening docstring does not say why (a line starting 'Over 400 lines:')."""
    out = []
    for path in paths:
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if f"Over {MAX_FILE_LINES} lines:" not in doc:
                out.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
    return out


def long_functions(paths) -> list[str]:
    out = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    return out


def test_no_file_over_400_lines_without_a_reason():
    assert long_files(_sources()) == []


def test_no_function_over_80_lines():
    assert long_functions(_sources()) == []


def test_the_size_checks_see_what_they_look_for(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    body = "\n".join(f"    x{i} = {i}" for i in range(85))
    long = tmp_path / "long.py"
    long.write_text('"""A module."""\n\n\ndef f():\n' + body + "\n" + "\n" * 320)
    assert long_functions([long]) == ["long.py:4 f: 86 lines"]
    assert long_files([long]) == ["long.py: 409 lines"]
    long.write_text('"""A module.\n\nOver 400 lines: one table.\n"""\n' + "\n" * 410)
    assert long_files([long]) == []
