"""The saved plan of a deployed lab (plan.json): written before anything is built, read
back by every later verb (status, exec, probes, destroy), never from the topology file.

Read back, it is untrusted like the rest of the state: the names in it that become paths
are checked again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from netlab.errors import NetlabError, UsageError
from netlab.names import check_lab_name, lab_name_problem, netns_name_problem, node_name_problem
from netlab.plan import saved
from netlab.state.layout import (
    LOG_DIR,
    PLAN_FILE,
    UTS_DIR,
    LabNotFound,
    StateError,
    ensure_run_dir,
    lab_dir,
    list_labs,
    read_state_file,
)

if TYPE_CHECKING:  # imported when needed: `netlab destroy` and `list` need no pydantic
    from netlab.plan.model import Plan


# The validated plan, cached for the readers that need no pydantic (netlab/plan/saved.py).
CACHE_FILE = PLAN_FILE + ".cache"
_records = False  # read_plan may return the cached record (inside read_only())


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Within: read_plan returns the cached, read-only record of a saved plan when it is
    current (PlanRecord: the same attributes, no pydantic), else the pydantic Plan, and
    caches it. For code that only reads the plan: `netlab check NAME` (netlab/cli/fast.py)."""
    global _records
    before, _records = _records, True
    try:
        yield
    finally:
        _records = before


def read_plan(name: str) -> Plan:
    path = lab_dir(name) / PLAN_FILE
    text = read_state_file(path)
    if text is None:
        raise LabNotFound(_not_deployed(name))
    plan = _cached(path, text) if _records else None
    if plan is None:
        plan = _validated(name, path, text)
        if _records:  # deployed by a netlab without the cache, or another model: renew it
            _write_cache(path, plan, text)
    if why := _plan_problem(name, plan):
        raise StateError(f"the saved plan {path} is damaged: {why};"
                         f" `netlab destroy {name}` removes the lab")
    return plan


def _validated(name: str, path: Path, text: str) -> Plan:
    from netlab.plan.model import Plan

    try:
        return Plan.from_json(text)
    except NetlabError as e:  # a format this netlab cannot read (plan.PlanFormatError)
        raise StateError(f"{path}: {e}") from None
    except ValueError as e:  # pydantic's ValidationError too
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise StateError(f"the saved plan {path} is damaged ({why});"
                         f" `netlab destroy {name}` removes the lab") from None


def _cached(path: Path, text: str) -> Plan | None:
    """The cache's record of the plan `text`; None: no cache, or not this text's."""
    try:
        cache = read_state_file(path.with_name(CACHE_FILE))
        return saved.loads(cache, text) if cache is not None else None  # type: ignore[no-any-return]
    except (OSError, NetlabError):
        return None


def _write_cache(path: Path, plan: Plan, text: str) -> None:
    """Cache the validated plan (atomically, 0600); one that cannot be written only
    costs later reads their speed."""
    cache = path.with_name(CACHE_FILE)
    tmp = path.with_name(f"{CACHE_FILE}.{os.getpid()}.tmp")
    try:
        data = saved.dumps(plan, text)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(data)
        tmp.replace(cache)
    except (OSError, saved.Uncacheable):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _plan_problem(name: str, plan: Plan) -> str | None:
    """The names in a saved plan that become paths (namespaces, UTS pins, logs) are
    checked again: the plan is read back from state, like the journal."""
    if plan.lab != name:
        return f"it names lab {plan.lab!r}, not {name!r}"
    if plan.prefix and (why := lab_name_problem(plan.prefix)):
        return why.replace("lab name", "prefix")
    for x in [*plan.nodes, *plan.switches]:
        if why := node_name_problem(x.name) or netns_name_problem(x.netns):
            return why
    if plan.uplink is not None and (why := netns_name_problem(plan.uplink.netns)):
        return why
    return None


def resolve_lab(name: str | None) -> str:
    """The lab a verb acts on: the one given (checked first), or the only one deployed."""
    if name is not None:
        check_lab_name(name)
    labs = list_labs()
    if name is not None:
        if name not in labs:
            raise LabNotFound(_not_deployed(name))
        return name
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise UsageError("no lab is deployed (deploy one with `netlab deploy FILE`)")
    raise UsageError("several labs are deployed; pick one with --lab: " + ", ".join(labs))


def _not_deployed(name: str) -> str:
    labs = list_labs()
    listing = ", ".join(labs) if labs else "none"
    return f"lab {name!r} is not deployed (deployed labs: {listing})"



def mark_deployed(name: str) -> None:
    """The saved plan's time becomes the end of the lab's deploy (deployed_at)."""
    os.utime(lab_dir(name) / PLAN_FILE, follow_symlinks=False)


def deployed_at(name: str) -> float | None:
    """When lab `name`'s deploy finished (mark_deployed), None if unknown."""
    try:
        return os.lstat(lab_dir(name) / PLAN_FILE).st_mtime
    except OSError:
        return None


def write_plan(name: str, plan: Plan) -> Path:
    """Create the lab's state directory (0700) and save its plan (0600), before anything
    is built. Format 2 plans grow linearly with the lab: one string is fine."""
    ensure_run_dir()
    d = lab_dir(name)
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)  # deploy mounts a tmpfs here first, whose own mode is 0755
    (d / LOG_DIR).mkdir(mode=0o700, exist_ok=True)
    (d / UTS_DIR).mkdir(mode=0o700, exist_ok=True)
    tmp = d / (PLAN_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    text = plan.to_json()
    with open(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(d / PLAN_FILE)
    _write_cache(d / PLAN_FILE, plan, text)
    return d
