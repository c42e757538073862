"""The docs stay true: every relative link and file path named in README.md, SECURITY.md,
CHANGELOG.md and docs/ exists, every `edgeface ...` example in README parses with the real command
line, and one version names the package and the model."""

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", REPO / "SECURITY.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
#: a backticked path of the repository: has a folder and a known file ending, or ends with /
PATH = re.compile(r"`((?:\.\./|[\w.-]+/)[\w./-]*(?:\.(?:py|md|json|sh|txt|jpg|png|toml|kt|npz)|/))`")
#: paths that name what a command makes or what lives outside the repository
#: past this marker a page archives earlier releases' text, whose paths are as they were then
ARCHIVE = "<!-- archive:"
NOT_HERE = (
    "../shared",
    "runs/",
    ".shards",
    "edgeface_out",
    "dist/",
    "build/",
    ".venv",
    ".cache",
    "~/",
    "/dev/",
    "/tmp",
    "android_demo/node_modules",
    "shards/",
    "out/",
)


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_links_and_paths_exist(page):
    assert page.exists(), page
    text = page.read_text().split(ARCHIVE)[0]
    missing = []
    for target in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    for path in PATH.findall(text):
        if path.startswith(NOT_HERE) or "<" in path or "*" in path:
            continue
        if not ((REPO / path).exists() or (page.parent / path).exists()):
            missing.append(path)
    assert not missing, f"{page.name} names what does not exist: {missing}"


def _examples(text: str) -> list[str]:
    lines, fence = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "text")
        elif fence in ("bash", "sh", "text"):
            lines.append(line)
    lines += re.findall(r"`(edgeface [^`]+)`", text)
    found = []
    for line in lines:
        for part in re.split(r"&&|;", line.split("#")[0]):
            part = part.strip()
            if part.startswith("edgeface "):
                found.append(part)
    return found


def test_readme_command_examples_parse():
    from edgeface.cli import parser

    examples = _examples((REPO / "README.md").read_text())
    assert len(examples) >= 4, examples
    for written in examples:
        # optional parts written [like this]: without them, and with them all
        for example in (re.sub(r"\[[^]]*\]", "", written), written.replace("[", "").replace("]", "")):
            _parses(parser, example, written)


def _parses(parser, example: str, written: str) -> None:
    """Each alternative of `example` (words written a|b|c) parses as `edgeface` would parse it."""
    choices = [[]]
    for word in shlex.split(example)[1:]:
        choices = [c + [w] for c in choices for w in (word.split("|") if "|" in word else [word])]
    for argv in choices:
        args = parser().parse_args(argv)
        assert args.command == argv[0], written


def test_one_version_for_the_package_and_the_model(capsys):
    import tomllib

    import edgeface
    from edgeface.cli import main
    from edgeface.runtime.pack import read_manifest

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    model = read_manifest().data["version"]
    assert edgeface.__version__ == project == model
    with pytest.raises(SystemExit):
        main(["--version"])
    out = capsys.readouterr().out
    assert f"edgeface {edgeface.__version__}" in out and f" {model})" in out
