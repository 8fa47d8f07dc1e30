"""Labs of other tools as netlab topologies: `netlab import PATH` and `netlab deploy PATH`
on a Kathará lab directory or a containerlab `*.clab.yml` (docs/import.md).

Each format is one module (kathara, containerlab) that reads its files into an
`Imported` (common.py) with every problem noted; writer.py turns that into TOML text.
"""

from __future__ import annotations

import re
from pathlib import Path

from netlab.errors import Problem, TopologyError
from netlab.importers.common import Note

CLAB_SUFFIXES = (".clab.yml", ".clab.yaml")


def format_of(path: str | Path) -> str | None:
    """'kathara', 'containerlab', or None for anything else (a netlab topology)."""
    p = Path(path)
    if p.is_dir() and (p / "lab.conf").is_file():
        return "kathara"
    if p.name.endswith(CLAB_SUFFIXES):
        return "containerlab"
    return None


def convert(path: str | Path, out: Path | None,
            name: str | None = None) -> tuple[str, list[Problem]]:
    """The netlab topology text of another tool's lab, and the warnings about it.

    `out` is the topology file's path to be (its directory anchors the files' `source`
    paths), or None to inline every file's text; `name` replaces the lab name made from
    the directory or file name. Raises TopologyError naming the lab with
    every error: input that cannot be read, and what cannot run here.
    """
    from netlab.importers import writer

    p = Path(path)
    fmt = format_of(p)
    out_dir = out.parent if out is not None else None
    if fmt == "kathara":
        from netlab.importers import kathara

        imp = kathara.read(p, out_dir)
    elif fmt == "containerlab":
        from netlab.importers import containerlab

        imp = containerlab.read(p, out_dir)
    else:
        raise TopologyError(str(p), [Problem(
            "", "neither a Kathará lab (a directory with lab.conf) nor a containerlab"
            " topology (*.clab.yml)", "give the lab's directory or its .clab.yml file")])
    if name is not None:
        from netlab.names import lab_name_problem

        if why := lab_name_problem(name):
            imp.error("--name", why, "give a name such as ospf1")
        imp.lab["name"] = name
    problems = [n.problem() for n in sorted(imp.notes, key=_order)]
    if imp.errors:
        raise ImportProblems(str(p), problems)
    return writer.dumps(imp), problems


def _order(note: Note) -> tuple[object, ...]:
    # Files in the order they were read, then by line number (as numbers: 2 before 10).
    m = re.match(r"(.*?)\s*line (\d+)(.*)$", note.where)
    return (m.group(1), int(m.group(2)), m.group(3)) if m else (note.where, 0, "")


class ImportProblems(TopologyError):
    """Every problem of another tool's lab, in file and line order (TopologyError sorts
    by key path, which would put line 10 before line 2)."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        super().__init__(file, problems)
        self.problems = problems
        self.args = (self.render(),)

    def __str__(self) -> str:
        return self.render()
