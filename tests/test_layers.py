"""The import contract: edgeface's parts form layers, and no module imports from a layer above it.

    runtime  (edgeface/__init__.py, edgeface/runtime, edgeface/models)   numpy, OpenCV, a backend
    tools    (edgeface/tools)      evaluation, benchmarks, datasets: uses the runtime
    train    (edgeface/train)      networks, data, losses: uses tools and the runtime
    export   (export/, installed as edgeface.export)   packs from trained networks: uses train, tools, runtime
    cli      (edgeface/cli, edgeface/__main__.py)       the one entry point: uses everything; nothing uses it

Export sits beside train: it reads trained networks (so it may import train), and train never imports
export. Every import counts, at module level or inside a function. The contract is read from the
source (ast), so it needs nothing installed."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "runtime": {"runtime"},
    "tools": {"runtime", "tools"},
    "train": {"runtime", "tools", "train"},
    "export": {"runtime", "tools", "train", "export"},
    "cli": {"runtime", "tools", "train", "export", "cli"},
}


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "export":
        parts = ["edgeface", *parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str | None:
    """The layer of an edgeface module; None for anything outside edgeface."""
    parts = module.split(".")
    if parts[0] != "edgeface":
        return None
    part = parts[1] if len(parts) > 1 else ""
    return {"tools": "tools", "train": "train", "export": "export", "cli": "cli", "__main__": "cli"}.get(
        part, "runtime"
    )


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved, `from X import Y`
    also as X.Y (Y may be a module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names if a.name != "*"]
    return found


def violations(root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted([*(root / "edgeface").rglob("*.py"), *(root / "export").rglob("*.py")]):
        mine = layer(module_name(path, root))
        for line, target in imports(path, root):
            theirs = layer(target)
            if theirs is not None and theirs not in ALLOWED[mine]:
                out.append(f"{path.relative_to(root).as_posix()}:{line}: {mine} imports {target} ({theirs})")
    return sorted(set(out))


def test_no_module_imports_from_a_layer_above_it():
    assert violations() == []


def test_the_contract_sees_imports_of_every_form():
    """The checker itself: relative imports at any depth, `from . import x`, function-level imports."""
    tools = ROOT / "edgeface" / "tools" / "evaluate.py"
    assert module_name(tools) == "edgeface.tools.evaluate" and layer("edgeface.tools.evaluate") == "tools"
    assert module_name(ROOT / "export" / "fp32.py") == "edgeface.export.fp32"
    assert module_name(ROOT / "edgeface" / "runtime" / "backends" / "__init__.py") == "edgeface.runtime.backends"
    assert layer("edgeface") == "runtime" and layer("edgeface.__main__") == "cli" and layer("numpy") is None
    found = {target for _, target in imports(ROOT / "export" / "fp32.py")}
    assert "edgeface.runtime.pack" in found  # `from ..runtime.pack import ...` at the top
    found = {target for _, target in imports(ROOT / "edgeface" / "cli" / "__init__.py")}
    assert any(t.startswith("edgeface.cli.") for t in found)


def test_planted_upward_imports_are_caught(tmp_path):
    for folder in ("edgeface/runtime", "edgeface/tools", "edgeface/train", "export"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "edgeface/runtime/planted.py").write_text(
        "import numpy\nfrom . import pack\n\ndef f():\n    from ..train import trainer\n    import edgeface.cli\n"
    )
    (tmp_path / "edgeface/train/planted.py").write_text("from ..export import fp32\nfrom ..tools import bench\n")
    (tmp_path / "export/planted.py").write_text("from ..train import trainer\nfrom ..cli import main\n")
    assert violations(tmp_path) == [
        "edgeface/runtime/planted.py:5: runtime imports edgeface.train (train)",
        "edgeface/runtime/planted.py:5: runtime imports edgeface.train.trainer (train)",
        "edgeface/runtime/planted.py:6: runtime imports edgeface.cli (cli)",
        "edgeface/train/planted.py:1: train imports edgeface.export (export)",
        "edgeface/train/planted.py:1: train imports edgeface.export.fp32 (export)",
        "export/planted.py:2: export imports edgeface.cli (cli)",
        "export/planted.py:2: export imports edgeface.cli.main (cli)",
    ]
