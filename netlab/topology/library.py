"""The bundled classroom labs: topologies/NAME.toml, each with a lesson in docs/labs/NAME.md.

In a source checkout (and an editable install) they are read where they are, at the repo
root next to netlab/; a wheel installs them under <prefix>/share/netlab/ (pyproject's
data-files). `resolve` lets a verb take a bundled lab's name where it takes a path, and
says which is which.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from netlab.errors import UsageError, did_you_mean

_REPO = Path(__file__).resolve().parents[2]  # netlab/topology/library.py -> the repo
_SHARE = Path(sys.prefix) / "share" / "netlab"
# (topologies dir, lessons dir), first existing one wins.
_PLACES = ((_REPO / "topologies", _REPO / "docs" / "labs"),
           (_SHARE / "topologies", _SHARE / "labs"))


@dataclass(frozen=True)
class BundledLab:
    name: str  # the file's stem: what `netlab deploy NAME` takes
    path: Path
    description: str
    lesson: Path | None  # docs/labs/NAME.md, if there is one

    def lesson_text(self) -> str:
        """The lesson: docs/labs/NAME.md, else the topology's [lab] lesson text."""
        if self.lesson is not None:
            return self.lesson.read_text(encoding="utf-8")
        return _lab_table(self.path).get("lesson", "")


def _dirs() -> tuple[Path, Path] | None:
    for topologies, lessons in _PLACES:
        if topologies.is_dir():
            return topologies, lessons
    return None


def _lab_table(path: Path) -> dict:  # type: ignore[type-arg]
    import tomllib  # here: `netlab check NAME` only needs names()

    # Listing must not fail on one broken file: `netlab validate` reports it properly.
    try:
        lab = tomllib.loads(path.read_text(encoding="utf-8")).get("lab", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return lab if isinstance(lab, dict) else {}


def bundled() -> list[BundledLab]:
    """Every bundled lab, sorted by name."""
    dirs = _dirs()
    if dirs is None:
        return []
    topologies, lessons = dirs
    out = []
    for path in sorted(topologies.glob("*.toml")):
        lesson = lessons / f"{path.stem}.md"
        description = _lab_table(path).get("description", "")
        out.append(BundledLab(path.stem, path, str(description),
                              lesson if lesson.is_file() else None))
    return out


def names() -> list[str]:
    """The bundled labs' names (their files' stems), sorted, without reading the files:
    what `netlab check NAME` asks before it checks a deployed lab of that name."""
    dirs = _dirs()
    return [] if dirs is None else sorted(p.stem for p in dirs[0].glob("*.toml"))


def find(name: str) -> BundledLab:
    """The bundled lab called `name`; UsageError naming the choices if there is none."""
    labs = {lab.name: lab for lab in bundled()}
    if name in labs:
        return labs[name]
    choices = ", ".join(labs) or "none are installed"
    raise UsageError(f"no bundled lab named {name!r}{did_you_mean(name, labs)}"
                     f" (bundled labs: {choices}; `netlab labs` lists them)")


def is_path(text: str) -> bool:
    """Whether a topology argument names a file: it contains '/' or ends in '.toml' (or is
    '.' or '..', never a lab's name). Anything else is a bundled lab's name (`resolve`)."""
    return "/" in text or text.endswith((".toml", ".clab.yml", ".clab.yaml")) or text in (
        ".", "..")


def resolve(name_or_path: str | Path) -> Path:
    """The topology file meant by what a person typed: a bundled lab's name, or a path.

    The rule: text with a '/' or ending in '.toml' is a path (`./natgw`, `labs/x.toml`,
    `natgw.toml`); anything else is a bundled lab's name, never a file that happens to be
    in the current directory (as root, that file could be anyone's). A Path object is
    always a path: code chose it. The file itself is read, and checked, by the loader.
    """
    if isinstance(name_or_path, Path):
        path = name_or_path
    elif is_path(name_or_path):
        path = Path(name_or_path)
    else:
        try:
            return find(name_or_path).path
        except UsageError as e:
            if os.path.lexists(name_or_path):  # a file of that name is here: say how
                raise UsageError(f"{e} (to use the file {name_or_path!r} here, give it as"
                                 f" a path: ./{name_or_path})") from None
            raise
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such topology file (a bundled lab's name has no '/'"
                         " and does not end in '.toml'; `netlab labs` lists them)")
    return path
