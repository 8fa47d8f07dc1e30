"""Caps on what one class, and one user, may deploy: checked before anything is built, so
that going over is a refusal that names the numbers, never a half-built class.

Defaults can be set for the machine in the environment (NETLAB_MAX_COPIES,
NETLAB_MAX_LABS_PER_USER, NETLAB_MAX_NAMESPACES_PER_USER) and per command by options.
A user's labs are those whose state directory the user owns: as root, every lab; with
the rootless backend (issue 15), each student's own (its `deploy` calls `check_user`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from netlab.errors import UsageError, plural, who


def _env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


@dataclass(frozen=True)
class Caps:
    copies: int  # copies in one class
    labs: int  # labs of one user, the class's copies included
    namespaces: int  # namespaces of one user's labs

    @classmethod
    def defaults(cls, copies: int | None = None, labs: int | None = None,
                 namespaces: int | None = None) -> Caps:
        return cls(copies or _env("NETLAB_MAX_COPIES", 100),
                   labs or _env("NETLAB_MAX_LABS_PER_USER", 300),
                   namespaces or _env("NETLAB_MAX_NAMESPACES_PER_USER", 5000))


def users_labs(uid: int | None = None) -> tuple[int, int]:
    """Labs the user (default: this process's) has deployed, and their namespaces."""
    from netlab import api
    from netlab.state.layout import run_dir

    uid = os.geteuid() if uid is None else uid
    labs = namespaces = 0
    for name, plan in api.deployed():
        try:
            if os.lstat(run_dir() / name).st_uid != uid:
                continue
        except OSError:
            continue
        labs += 1
        namespaces += len(plan.namespaces) if not isinstance(plan, Exception) else 0
    return labs, namespaces


def check(caps: Caps, copies: int, namespaces_each: int, uid: int | None = None) -> None:
    """Refuse (UsageError, exit 2) `copies` new labs of `namespaces_each` namespaces when
    they would go over a cap; nothing has been built when this runs."""
    uid = os.geteuid() if uid is None else uid
    problems = []
    if copies > caps.copies:
        problems.append(f"{copies} copies asked, a class may have at most"
                        f" {caps.copies} (--max-copies, or NETLAB_MAX_COPIES)")
    labs, ns = users_labs(uid)
    if labs + copies > caps.labs:
        problems.append(f"{who(uid)} has {plural(labs, 'lab')} deployed; {copies} more would"
                        f" make {labs + copies}, over the cap of {caps.labs} (--max-labs, or"
                        " NETLAB_MAX_LABS_PER_USER)")
    new_ns = copies * namespaces_each
    if ns + new_ns > caps.namespaces:
        problems.append(f"{who(uid)}'s labs hold {plural(ns, 'namespace')}; the class adds"
                        f" {new_ns} ({copies} x {namespaces_each}), over the cap of"
                        f" {caps.namespaces} (--max-namespaces, or"
                        " NETLAB_MAX_NAMESPACES_PER_USER)")
    if problems:
        raise UsageError("refused, nothing was built: " + "; ".join(problems))
