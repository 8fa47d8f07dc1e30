"""command = {run, exit, output}: a command run in the node (through the backend, as
`netlab exec` runs it, no shell) ends with an exit code and/or prints matching output."""

from __future__ import annotations

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.probes.kindlab import expectations

pytestmark = pytest.mark.root

COMMANDS = """
[[expect]]
from = "pc1"
command = { run = "hostname", output = '^pc1$' }
[[expect]]
from = "pc1"
command = { run = ["ip", "route"], output = 'default via 10\\.0\\.0\\.1' }
[[expect]]
from = "gw"
command = { run = "sh -c 'exit 3'", exit = 3 }
[[expect]]
from = "pc1"
command = { run = "ip route", output = 'via 10\\.0\\.0\\.9' }
[[expect]]
from = "pc1"
command = { run = "sh -c 'echo no such thing >&2; exit 1'" }
[[expect]]
from = "pc1"
command = { run = "no-such-program-h10" }
[[expect]]
from = "pc1"
command = { run = "true" }
reach = false
"""


def test_commands_exit_codes_and_output(t4a: Plan) -> None:
    report = check(t4a, expectations(COMMANDS))
    assert [r.passed for r in report] == [True, True, True, False, False, False, False], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0] == "exit 0, output matches: 'pc1'"  # its own UTS namespace
    assert seen[2] == "exit 3"
    assert seen[3].startswith("exit 0, output does not match /via 10\\.0\\.0\\.9/: "
                              "'default via 10.0.0.1 dev eth0 ")  # what it printed instead
    assert seen[4] == "exit 1, 'no such thing'"
    assert seen[5].startswith("cannot run no-such-program-h10")
    assert report[2].title == "[6] gw command sh -c 'exit 3' exit 3: as expected"
    assert report[6].title == "[10] pc1 command true exit 0: not as expected"
