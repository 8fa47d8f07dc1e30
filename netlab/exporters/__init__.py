"""netlab labs in other tools' formats: `netlab export LAB --to FORMAT` (docs/import.md,
"Export"). One module per format (containerlab), each turning a compiled plan into an
`Exported`: the main file's text, the files it refers to, and a note per thing that does
not carry over. Writing is shared here: nothing is overwritten without `force`, and no
symlink is followed (every directory is opened relative to its parent, O_NOFOLLOW).
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from netlab.errors import Problem, UsageError

if TYPE_CHECKING:
    from netlab.plan.model import Plan

# format -> (module, default file suffix); modules are imported when used
FORMATS: dict[str, tuple[str, str]] = {
    "containerlab": ("netlab.exporters.containerlab", ".clab.yml"),
}


@dataclass
class Exported:
    """A lab in another tool's format, before it is written."""

    text: str  # the main file
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # rel path -> (data, mode)
    notes: list[Problem] = field(default_factory=list)  # warnings: what did not carry over


def default_output(plan: Plan, fmt: str) -> Path:
    return Path(plan.lab + FORMATS[fmt][1])


def export(plan: Plan, fmt: str, out: Path, images: dict[str, str] | None = None,
           optional_files: bool = True) -> Exported:
    """The lab of `plan` in format `fmt`, its files named relative to `out`'s directory;
    without `optional_files`, only the files the lab needs (for `-o -`: none can be
    written then)."""
    import importlib

    if fmt not in FORMATS:
        from netlab.errors import did_you_mean

        raise UsageError(f"unknown export format {fmt!r}{did_you_mean(fmt, FORMATS)}"
                         f" (formats: {', '.join(FORMATS)})")
    module = importlib.import_module(FORMATS[fmt][0])
    result: Exported = module.export(plan, out, images or {}, optional_files)
    return result


def _parts(rel: str) -> list[str]:
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"refusing to write {rel!r}: not a plain relative path")
    return parts


def conflicts(exported: Exported, out: Path) -> list[str]:
    """What writing would overwrite (each path), and what it refuses even with force: a
    symlink in the way, or a directory where a file goes."""
    existing, refused = [], []
    base = out.parent
    for rel in [out.name, *exported.files]:
        p = base
        for i, part in enumerate(_parts(rel)):
            p = p / part
            if not os.path.lexists(p):
                break
            if p.is_symlink():
                refused.append(f"{p} is a symlink (netlab writes through none)")
                break
            last = i == len(_parts(rel)) - 1
            if last and p.is_dir():
                refused.append(f"{p} is a directory")
            elif last:
                existing.append(str(p))
            elif not p.is_dir():
                refused.append(f"{p} is not a directory")
                break
    return existing + [f"!{r}" for r in refused]


def write(exported: Exported, out: Path, force: bool = False) -> list[Path]:
    """Write the main file at `out` and the others beside it (every problem at once, before
    anything is written); the paths written."""
    found = conflicts(exported, out)
    refused = [c[1:] for c in found if c.startswith("!")]
    existing = [c for c in found if not c.startswith("!")]
    if refused or (existing and not force):
        lines = refused + ([f"{p} exists" for p in existing] if not force else [])
        hint = "; give --force to overwrite existing files" if existing and not force else ""
        raise UsageError("will not write the export:\n  " + "\n  ".join(lines) + hint
                         + ("; remove what is in the way, or -o elsewhere" if refused else ""))
    written = []
    items = [*exported.files.items(), (out.name, (exported.text.encode(), 0o644))]
    base = os.open(out.parent if str(out.parent) else ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for rel, (data, mode) in items:
            _write_one(base, _parts(rel), data, mode)
            written.append(out.parent / rel)
    except OSError as e:
        raise UsageError(f"cannot write {out.parent / rel}: {_why(e)}") from None
    finally:
        os.close(base)
    return written


def _why(e: OSError) -> str:
    if e.errno in (errno.ELOOP, errno.ENOTDIR):
        return "a symlink or a file is in the way (netlab follows no symlink)"
    return e.strerror or str(e)


def _write_one(base: int, parts: list[str], data: bytes, mode: int) -> None:
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    fds = []
    fd = base
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=fd)
            fds.append(fd)
        f = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | nofollow, mode,
                    dir_fd=fd)
        try:
            os.fchmod(f, mode)  # the umask and an existing file's mode do not count
            view = memoryview(data)
            while view:
                view = view[os.write(f, view):]
        finally:
            os.close(f)
    finally:
        for d in fds:
            os.close(d)
