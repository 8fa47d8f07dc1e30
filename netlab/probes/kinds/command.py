"""command = {run, exit, output}: a command run in the node (by the lab's backend, as
`netlab exec` runs it; no shell) ends with that exit code and/or prints output matching a
regular expression. The escape hatch for what no other kind checks (`vtysh -c '... json'`)."""

from __future__ import annotations

import re
import shlex
import subprocess
from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

SHOWN = 160  # characters of output quoted in a failure


def run(a: Attempt) -> Outcome:
    from netlab import backends

    e, plan = a.expect, a.plan
    c = e.command
    assert c is not None
    # A command is given more than a probe's timeout: it is a program starting up.
    limit = max(5.0, e.timeout)
    try:
        proc = backends.for_plan(plan).run(plan, plan.node(e.from_node), c.argv,
                                           capture_output=True, text=True, timeout=limit,
                                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Outcome(False, f"still running after {limit:g} s")
    except OSError as ex:
        return Outcome(False, f"cannot run {c.argv[0]}: {ex.strerror or ex}")
    out = proc.stdout or ""
    words = [f"exit {proc.returncode}"]
    ok = c.exit is None or proc.returncode == c.exit
    if c.output is not None:
        m = re.search(c.output, out, re.MULTILINE)
        ok &= m is not None
        words.append(f"output matches: {m.group(0)[:SHOWN]!r}" if m else
                     f"output does not match /{c.output}/: {_quote(out)}")
    elif not ok and (proc.stderr or out).strip():
        words.append(_quote(proc.stderr or out))
    return Outcome(ok, ", ".join(words))


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:SHOWN] + ("..." if len(text) > SHOWN else "")) if text else "no output"


def label(e: ExpectPlan) -> str:
    c = e.command
    assert c is not None
    return "command " + shlex.join(c.argv) + (
        f" exit {c.exit}" if c.exit is not None else "") + (
        f" output /{c.output}/" if c.output is not None else "")


KIND = ExpectKind(
    name="command",
    description="a command run in the node: its exit code and output",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.command is not None,
    names=label,
    verdicts=("as expected", "not as expected"),
)
