"""dns = {name, answer}: `answer` as a list of addresses, the exact set the answer must
hold (one address, as before: among the answer's). A dnsmasq with two A records for one
name, asked through the client's own resolver."""

from __future__ import annotations

import pytest

from netlab.probes import check, kinds
from tests.probes.conftest import TOPOLOGIES
from tests.support.deploy import Labs

pytestmark = pytest.mark.root

EXPECT = """
[[expect]]
from = "client"
dns = { name = "two", answer = ["10.47.0.98", "10.47.0.97"] }
[[expect]]
from = "client"
dns = { name = "two", answer = "10.47.0.98" }
[[expect]]
from = "client"
dns = { name = "two", answer = ["10.47.0.97"] }
[[expect]]
from = "client"
dns = { name = "two", answer = ["10.47.0.97", "10.47.0.98", "10.47.0.96"] }
"""


def lab_text() -> str:
    text = (TOPOLOGIES / "t4dns.toml").read_text()
    text = text.replace('name = "t4dns"', 'name = "{name}"\nwithin = "0s"')
    text = text.replace("--address=/svc.lab.test/10.47.0.99",
                        "--address=/svc.lab.test/10.47.0.99"
                        " --host-record=two.lab.test,10.47.0.97"
                        " --host-record=two.lab.test,10.47.0.98")
    return text + EXPECT


def test_answer_list_is_the_exact_set(labs: Labs) -> None:
    plan = labs.lab(lab_text())
    mine = plan.expect[4:]
    assert kinds.title(mine[0]) == "[4] client dns two=10.47.0.98,10.47.0.97: reach"
    # dnsmasq starts with the lab: the first expectation waits for it like `within`.
    first = check(plan, [mine[0].model_copy(update={"within": 5.0})])[0]
    assert first.passed, first.seen
    report = check(plan, mine)
    assert [r.passed for r in report] == [True, True, False, False], \
        [(r.title, r.seen) for r in report]
    assert report[0].seen in ("two -> 10.47.0.97, 10.47.0.98", "two -> 10.47.0.98, 10.47.0.97")
    # dnsmasq rotates the order of its answers: each seen text is checked for its parts.
    assert report[2].seen.startswith("two -> 10.47.0.9")
    assert report[2].seen.endswith(" (not exactly 10.47.0.97)"), report[2].seen
    assert report[3].seen.endswith(" (not exactly 10.47.0.97, 10.47.0.98, 10.47.0.96)"), \
        report[3].seen
