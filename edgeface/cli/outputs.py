"""Where `edgeface run` writes: the one place that names output files (SECURITY.md).

Every input gets one stem, and every output is `<stem>_overlay.png`, `<stem>_face<i>.json|.obj`,
`<stem>_tracks.json` or `<stem>_overlay.mp4`. The stems are
- distinct over any set of inputs, compared case-blind (a.jpg, a.png and a_png.jpg give a, a_png
  and a_png~2, never one name for two inputs);
- text whatever the bytes of the input's name (bytes that are not UTF-8 and control characters
  become '_'), and short enough for a 255-byte file-name limit;
- chosen so that no output is one of the inputs (an input named x_overlay.png in the output
  folder is never overwritten by x.jpg's overlay).
Files are written to a new temporary file in the output folder and then renamed over the target:
a link planted at the target is replaced, never followed, and an interrupted write leaves no
half file under the target's name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

#: output names are cut to fit common file systems' 255-byte limit, with the suffix they get
MAX_STEM_BYTES = 180
#: the names an input's outputs take: its stem, then one of these
OUTPUT_NAME = re.compile(r"_(?:overlay\.png|overlay\.mp4|tracks\.json|face\d+\.(?:json|obj))")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\ufffd]")


def display(path) -> str:
    """A path as printable text, whatever its bytes (for messages)."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def safe_text(name: str) -> str:
    """A file-name part as UTF-8 text without control characters or separators."""
    text = os.fsencode(name).decode("utf-8", "replace")
    return _UNSAFE.sub("_", text) or "_"


def _short(stem: str, tag_source: str) -> str:
    if len(stem.encode("utf-8")) <= MAX_STEM_BYTES:
        return stem
    tag = hashlib.sha1(os.fsencode(tag_source)).hexdigest()[:8]
    return stem.encode("utf-8")[: MAX_STEM_BYTES - 9].decode("utf-8", "ignore") + "~" + tag


class Outputs:
    """The output folder of one run and the stem of each of its inputs."""

    def __init__(self, out: Path, inputs: list[Path]):
        self.out = Path(out)
        here = self.out.resolve()
        #: input files in the output folder, by case-blind name: no output may take one
        self._inputs_here = {p.name.casefold() for p in inputs if p.resolve().parent == here}
        self.stems: dict[Path, str] = {}
        taken: set[str] = set()
        plain = [safe_text(p.stem) for p in inputs]
        counts: dict[str, int] = {}
        for stem in plain:
            counts[stem.casefold()] = counts.get(stem.casefold(), 0) + 1
        for path, stem in zip(inputs, plain):
            base = stem if counts[stem.casefold()] == 1 else f"{stem}_{safe_text(path.suffix.lstrip('.'))}"
            base = _short(base, str(path))
            candidate, n = base, 1
            while candidate.casefold() in taken or self._hits_an_input(candidate):
                n += 1
                candidate = _short(f"{base}~{n}", f"{path}~{n}")
            taken.add(candidate.casefold())
            self.stems[path] = candidate

    def _hits_an_input(self, stem: str) -> bool:
        prefix = stem.casefold()
        return any(name.startswith(prefix) and OUTPUT_NAME.fullmatch(name[len(prefix) :]) for name in self._inputs_here)

    def path(self, stem: str, suffix: str) -> Path:
        """The output `<stem><suffix>`, e.g. path(stem, "_overlay.png")."""
        return self.out / f"{stem}{suffix}"

    def write(self, target: Path, write: Callable[[Path], object]) -> None:
        """Make `target` by `write(temporary path)` (same suffix), then rename it into place."""
        if target.name.casefold() in self._inputs_here:  # never, by construction of the stems
            raise FileExistsError(f"{display(target)} is an input of this run")
        fd, temporary = tempfile.mkstemp(prefix=".edgeface-", suffix=target.suffix, dir=self.out)
        os.close(fd)
        try:
            write(Path(temporary))
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
