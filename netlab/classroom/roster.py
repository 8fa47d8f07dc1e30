"""Students of a class and the lab name of each one's copy.

Roster names are untrusted text (a spreadsheet export): they are validated, shown only
escaped, and never become a path, a namespace or an interface name. Each copy is named
from the class name and the student's position ("lan4-03"), which is always a valid lab
name; the class record (record.py) maps the student to it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from netlab.errors import Problem, TopologyError, UsageError
from netlab.names import LAB_NAME_MAX, lab_name_problem

STUDENT_MAX = 80  # characters of a student's name as written in the roster
MAX_ROSTER_BYTES = 1 << 20


@dataclass(frozen=True)
class Student:
    name: str  # as in the roster (validated, printable)
    lab: str  # the copy's lab name


def student_problem(name: str) -> str | None:
    """Why `name` (one roster line, stripped) cannot be a student's name, or None."""
    if len(name) > STUDENT_MAX:
        return f"is {len(name)} characters long; at most {STUDENT_MAX} are allowed"
    bad = [c for c in name if unicodedata.category(c)[0] in "CZ" and c != " "]
    if bad:  # control, format (bidi overrides), separators other than a plain space
        return ("contains a control or invisible character (" +
                ", ".join(sorted({f"U+{ord(c):04X}" for c in bad})) + ")")
    if name.startswith(("=", "+", "-", "@")):
        # A spreadsheet would run it as a formula when the grade sheet is opened.
        return "starts with '=', '+', '-' or '@' (a spreadsheet formula)"
    return None


def read_roster(path: Path) -> list[str]:
    """Student names, one a line (blank lines and lines starting with '#' skipped); every
    problem at once (TopologyError, exit 2), each with its line number."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ROSTER_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read the roster {path}: {e.strerror or e}") from None
    if len(data) > MAX_ROSTER_BYTES:
        raise UsageError(f"the roster {path} is larger than {MAX_ROSTER_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"the roster {path} is not UTF-8 text (byte {e.start})") from None
    names: list[str] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for no, line in enumerate(text.splitlines(), 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        where = f"line {no}"
        if why := student_problem(name):
            problems.append(Problem(where, f"student name {why}",
                                    "write one name a line, as it should appear in the grade"
                                    " sheet"))
            continue
        key = name.casefold()
        if key in seen:
            problems.append(Problem(where, f"the same student as line {seen[key]}",
                                    "each student once; tell namesakes apart (e.g. add an"
                                    " initial)"))
            continue
        seen[key] = no
        names.append(name)
    if not names and not problems:
        problems.append(Problem("", "no student names", "one name a line"))
    if problems:
        raise TopologyError(str(path), problems)
    return names


def numbered(count: int) -> list[str]:
    """Student names for `--count N`: student01 .. studentNN."""
    width = max(2, len(str(count)))
    return [f"student{i:0{width}d}" for i in range(1, count + 1)]


def copy_names(base: str, count: int) -> list[str]:
    """Lab names of `count` copies: `base` cut short enough to leave "-NN" room."""
    width = max(2, len(str(count)))
    stem = base[: LAB_NAME_MAX - 1 - width].rstrip("-")
    names = [f"{stem}-{i:0{width}d}" for i in range(1, count + 1)]
    for n in names:  # by construction; a bug here would become namespace names
        assert lab_name_problem(n) is None, n
    return names
