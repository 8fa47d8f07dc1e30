"""Caps on what one class, and one user, may deploy: checked before anything is built, so
that going over is a refusal that names the numbers, never a half-built class.

Defaults can be set for the machine in the environment (NETLAB_MAX_COPIES,
NETLAB_MAX_LABS_PER_USER, NETLAB_MAX_NAMESPACES_PER_USER) and per command by options.
A user's labs are those whose state directory the user owns: as root, every lab; with
the rootless backend, each student's own (its preflight calls `check` for every deploy).
A student can change their own environment, so these caps are advisory there: the
kernel's per-user limits (docs/rootless.md, "Quotas") are the ones a student cannot lift.
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


def users_labs(uid: int | None = None, replacing: str | None = None) -> tuple[int, int]:
    """Labs the user (default: this process's) has deployed, and their namespaces; lab
    `replacing` (a redeploy with --force) is not counted."""
    from netlab import api
    from netlab.state.layout import run_dir

    uid = os.geteuid() if uid is None else uid
    labs = namespaces = 0
    for name, plan in api.deployed():
        if name == replacing:
            continue
        try:
            if os.lstat(run_dir() / name).st_uid != uid:
                continue
        except OSError:
            continue
        labs += 1
        namespaces += len(plan.namespaces) if not isinstance(plan, Exception) else 0
    return labs, namespaces


def outer_uid() -> int:
    """The user as the host knows them: in a rootless user namespace uid 0 is the user
    who made it (backends/userns), whom messages must name, not "root"."""
    from netlab.linux.userns import _uid_map

    uid = os.geteuid()
    for inside, outside, count in _uid_map():
        if inside <= uid < inside + count:
            return outside + uid - inside
    return uid


def check(caps: Caps, copies: int, namespaces_each: int, uid: int | None = None,
          replacing: str | None = None, options: bool = True) -> None:
    """Refuse (UsageError, exit 2) `copies` new labs of `namespaces_each` namespaces when
    they would go over a cap; nothing has been built when this runs. `options`: name the
    `class up` options beside the environment variables."""
    uid = os.geteuid() if uid is None else uid
    name = who(outer_uid() if uid == os.geteuid() else uid)

    def how(option: str, env: str) -> str:
        return f"({option}, or {env})" if options else f"(set by {env})"

    problems = []
    if copies > caps.copies:
        problems.append(f"{copies} copies asked, a class may have at most"
                        f" {caps.copies} {how('--max-copies', 'NETLAB_MAX_COPIES')}")
    labs, ns = users_labs(uid, replacing)
    if labs + copies > caps.labs:
        problems.append(f"{name} has {plural(labs, 'lab')} deployed; {copies} more would"
                        f" make {labs + copies}, over the cap of {caps.labs}"
                        f" {how('--max-labs', 'NETLAB_MAX_LABS_PER_USER')}")
    new_ns = copies * namespaces_each
    if ns + new_ns > caps.namespaces:
        adds = (f"the class adds {new_ns} ({copies} x {namespaces_each})" if options
                else f"this lab adds {new_ns}")
        problems.append(f"{name}'s labs hold {plural(ns, 'namespace')}; {adds},"
                        f" over the cap of {caps.namespaces}"
                        f" {how('--max-namespaces', 'NETLAB_MAX_NAMESPACES_PER_USER')}")
    if problems:
        raise UsageError("refused, nothing was built: " + "; ".join(problems))
