"""Deploy: apply a compiled Plan to the kernel, in phases, rolling back on any failure.

The order of things: the lab's lock; a lab of that name already deployed is refused (or
destroyed, with force); the host is checked for names the lab would take
(netlab.backends.kernel.precheck: nothing is built if any is); the state directory and
plan are written, the journal opened; then every phase of PHASES
(netlab.backends.kernel.phases) runs in order, each journaling what it makes before or as
it makes it. On any failure or Ctrl-C, everything the journal lists is destroyed and the
error says so ("nothing was built"). Last, commands of the plan's `exec` that died at once
(a misspelt program: the shell's "not found") are reported as warnings.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

from netlab.backends.kernel import procs
from netlab.backends.kernel.phases import PHASES as PHASES
from netlab.backends.kernel.phases import Context as Context
from netlab.backends.kernel.phases import DeployError as DeployError
from netlab.backends.kernel.precheck import ConflictError as ConflictError
from netlab.backends.kernel.precheck import precheck
from netlab.errors import NetlabError, require_root
from netlab.linux import mounts, namespaces, netlink
from netlab.plan.model import Plan
from netlab.state import layout
from netlab.state.journal import Record
from netlab.state.layout import deployed_labs, lab_dir
from netlab.state.locks import lab_lock
from netlab.state.plans import mark_deployed, write_plan

Warn = Callable[[str], None]


def _stderr(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def deploy(plan: Plan, force: bool = False, warn: Warn = _stderr) -> Record:
    """Build the lab; on any failure (or Ctrl-C) destroy what was built and re-raise,
    saying that nothing was built. `warn` gets what is worth telling about a lab that
    was built (an `exec` command that died at once); by default, on stderr."""
    try:
        record = _deploy(plan, force)
    except OSError as e:  # the kernel or the disk said no: a message, not a traceback
        if isinstance(e, NetlabError):
            raise
        raise DeployError(f"cannot deploy lab {plan.lab!r}: {_oserror(e)}; nothing was"
                          " built") from e
    for text in procs.died_at_once(record.of("proc")):
        warn(text)
    return record


def _oserror(e: OSError) -> str:
    return f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")


def _deploy(plan: Plan, force: bool) -> Record:
    from netlab.backends.kernel.destroy import destroy_lab

    require_root("deploy")
    with lab_lock(plan.lab):
        if plan.lab in deployed_labs():
            if not force:
                raise DeployError(f"lab {plan.lab!r} is already deployed; destroy it first"
                                  f" (netlab destroy {plan.lab}) or deploy with --force")
            destroy_lab(plan.lab, locked=True)
        elif lab_dir(plan.lab).exists():  # leftovers of a deploy killed before its plan
            destroy_lab(plan.lab, locked=True)
        namespaces.raise_nofile(2 * len(plan.namespaces) + 256)
        origin = namespaces.Origin()
        root = netlink.open_socket()
        ctx = Context(plan, Record(plan.lab), origin, root)
        try:
            precheck(plan, root)
            with ctx.interrupts.deferred():
                try:
                    _write_state(plan, ctx.record)
                    for _name, step in PHASES:
                        step(ctx)
                    ctx.interrupts.check()  # Ctrl-C during the last phase rolls back too
                    mark_deployed(plan.lab)  # a check right after it lets the lab settle
                except BaseException as e:
                    note = _roll_back(ctx)
                    if isinstance(e, NetlabError):
                        _add_note(e, note)
                    elif isinstance(e, OSError):
                        raise DeployError(f"cannot deploy lab {plan.lab!r}: {_oserror(e)};"
                                          f" {note}") from e
                    raise
        finally:
            ctx.close()
            ctx.record.close()
            root.close()
            origin.close()
        return ctx.record


def _roll_back(ctx: Context) -> str:
    """Stop the phases' threads and destroy everything the journal lists; what to tell."""
    from netlab.backends.kernel.destroy import undo

    lab = ctx.plan.lab
    ctx.cancel.set()
    with contextlib.suppress(BaseException):
        ctx.join()  # nothing may appear after undo removed it
    ctx.close()
    try:
        undo(lab, ctx.record, ctx.plan.namespaces)
    except Exception as e:  # said to the user, with what to do
        return (f"removing what this deploy had built failed too ({e}): `netlab destroy"
                f" {lab}` removes the rest")
    return "nothing was built (this deploy removed everything it had made)"


def _add_note(e: NetlabError, note: str) -> None:
    """Append `note` to the error's message, keeping its type (and exit code)."""
    if e.args and isinstance(e.args[0], str) and len(e.args) == 1:
        e.args = (f"{e.args[0]}; {note}",)


def _write_state(plan: Plan, record: Record) -> None:
    """State first, so that an interrupted deploy can always be destroyed. The lab's
    directory is a tmpfs: its many small files (UTS pins, DNS files) cost ~0.01 ms each
    there, against ~0.4 ms of CPU on this VM's ext4 /run."""
    if str(layout.run_dir()) == layout.DEFAULT_RUN_DIR:
        # Shared, like /run/netns: unmounting a lab then also reaches the mount namespaces
        # of `netlab exec` sessions. (Not done for a NETLAB_RUN_DIR override, e.g. in a
        # test's temporary directory, which must stay removable.)
        mounts.ensure_run_dirs(str(layout.run_dir()))
    d = lab_dir(plan.lab)
    d.mkdir(parents=True)
    mounts.mount_tmpfs(str(d))
    write_plan(plan.lab, plan)
    record.open()
