"""Problems found in a topology, and how they are shown to people."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, order=True)
class Problem:
    path: str  # key path in the file, e.g. "links[3].endpoints[1]"; "" for the whole file
    message: str
    fix: str = ""
    severity: Literal["error", "warning"] = "error"

    def render(self, file: str) -> str:
        where = f"{file}: {self.path}" if self.path else file
        text = f"{self.severity}: {where}: {self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


@dataclass
class Problems:
    """Collects every problem of a topology so that all are reported at once."""

    items: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str, fix: str = "") -> None:
        self.items.append(Problem(path, message, fix, "error"))

    def warning(self, path: str, message: str, fix: str = "") -> None:
        self.items.append(Problem(path, message, fix, "warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]


class NetlabError(Exception):
    """An error meant for people: the CLI prints it without a traceback."""

    exit_code = 1


class UsageError(NetlabError):
    exit_code = 2


class TopologyError(NetlabError):
    """A topology file that cannot be used; carries every problem found."""

    exit_code = 2

    def __init__(self, file: str, problems: Iterable[Problem]):
        self.file = file
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        errors = [p for p in self.problems if p.severity == "error"]
        lines = [p.render(self.file) for p in self.problems]
        lines.append(f"{self.file}: {len(errors)} error(s); nothing was built")
        return "\n".join(lines)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a choice is close to `word`, else ''."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def key_path(loc: Iterable[str | int]) -> str:
    """('links', 3, 'endpoints', 1) -> 'links[3].endpoints[1]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
