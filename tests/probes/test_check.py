"""`netlab check`: expectations incl. via, source_nat and dns; failures, exit codes, JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.plan.model import ExpectPlan, Plan
from netlab.probes import check
from tests.probes.conftest import TOPOLOGIES
from tests.support.names import renamed_text, run_prefix
from tests.support.traffic import Listeners

pytestmark = pytest.mark.root
runner = CliRunner()


def expect(index: int, **kw: object) -> ExpectPlan:
    fields: dict[str, object] = dict(
        index=index, from_node="pc1", to=None, target_address=None, proto="icmp", port=None,
        reach=True, via=None, source_nat=None, dns_name=None, dns_answer=None, timeout=0.5)
    fields.update(kw)
    if fields["to"] and not fields["target_address"]:
        fields["target_address"] = {"web": "203.0.113.2", "pc2": "10.0.0.3",
                                    "far": "198.51.100.2"}[str(fields["to"])]
    return ExpectPlan(**fields)  # type: ignore[arg-type]


def test_file_expectations_pass(t4a: Plan, listeners: Listeners) -> None:
    listeners.tcp(t4a.node("web").netns, 8080)
    report = check(t4a)
    assert [r.passed for r in report] == [True] * 4, [r.seen for r in report]
    assert "arrived at web from 203.0.113.1" in report[1].seen
    assert "path crossed gw" in report[1].seen
    assert report[2].seen == "RST from pc2 (10.0.0.3)"  # tcp/22 no reach: closed


def test_failures_say_what_was_seen(t4a: Plan) -> None:
    report = check(t4a, [
        expect(0, to="far"),  # ICMP unreachable from gw
        expect(1, to="web", proto="tcp", port=8090),  # RST
        expect(2, to="web", source_nat="10.0.0.2"),  # NAT did rewrite it
        expect(3, to="web", via="pc2"),  # not on the path
        expect(4, dns_name="far", dns_answer="10.9.9.9"),  # hosts says otherwise
        expect(5, dns_name="nosuchname.invalid"),
        expect(6, to="pc2", reach=False),  # it is reachable
    ])
    assert not report.ok and [r.passed for r in report] == [False] * 7
    seen = [r.seen for r in report]
    assert seen[0] == "ICMP net unreachable from gw (10.0.0.1)"
    assert seen[1].startswith("RST from web")
    assert "arrived at web from 203.0.113.1, not 10.0.0.2" in seen[2]
    assert "path did not cross pc2" in seen[3]
    assert "far -> 198.51.100.2 (not 10.9.9.9)" in seen[4]
    assert "does not resolve" in seen[5]
    assert seen[6].startswith("reached: ")


def test_negative_expectations_pass(t4a: Plan) -> None:
    report = check(t4a, [
        expect(0, to="far", reach=False),
        expect(1, dns_name="nosuchname.invalid", reach=False),
        expect(2, from_node="far", to="web", proto="udp", port=53, reach=False),
    ])
    assert report.ok, [r.seen for r in report]


def test_cli_check_failing_file_exit_code_and_junit(t4a: Plan, tmp_path: Path) -> None:
    topo = tmp_path / "t4a.toml"
    topo.write_text((TOPOLOGIES / "t4a.toml").read_text().replace(  # failures are final
        "[lab]\n", '[lab]\nwithin = "0s"\n') + '\n[[expect]]\nfrom = "pc2"\nto = "far"\n')
    junit = tmp_path / "out.xml"
    out = runner.invoke(app, ["check", str(topo), "--junit", str(junit)])
    assert out.exit_code == 1, out.output
    assert "FAIL" in out.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "netlab.t4a"
    assert suite.get("tests") == "5" and suite.get("failures") == "2"  # 8080 closed, far
    cases = suite.findall("testcase")
    last = cases[-1].find("failure")
    # Right after the module's deploy the check settles first (probes/retry.py): then the
    # message also says how long it kept failing.
    assert last is not None and (last.get("message") or "").startswith(
        "ICMP net unreachable from gw (10.0.0.1)"), last.get("message")
    assert cases[-1].get("name") == "[4] pc2 -> far (198.51.100.2) icmp: reach"


def test_cli_check_passing_json(t4a: Plan, listeners: Listeners) -> None:
    listeners.tcp(t4a.node("web").netns, 8080)
    out = runner.invoke(app, ["check", "--lab", "t4a", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["ok"] and data["passed"] == 4 and data["failed"] == 0


DEPLOY_CHECK = """
[lab]
name = "t4dc"
[nodes.a]
[nodes.b]
exec = ["python3 -m http.server 8000 --bind 0.0.0.0"]
[switches.s]
subnet = "10.46.0.0/24"
[[links]]
endpoints = ["a", "s"]
[[links]]
endpoints = ["b", "s"]
[[expect]]
from = "a"
to = "b"
proto = "tcp"
port = 8000
[[expect]]
from = "a"
to = "b"
reach = %s
"""


@pytest.mark.parametrize(("second", "code"), [("true", 0), ("false", 1)])
def test_cli_deploy_check(run_dir: Path, tmp_path: Path, second: str, code: int) -> None:
    from netlab.lab import Lab

    topo = tmp_path / "t4dc.toml"
    # the run dir is private, /run/netns is not: this run's namespace prefix (support/names)
    topo.write_text(renamed_text(DEPLOY_CHECK % second, "t4dc", run_prefix("t4") + "dc"))
    junit = tmp_path / "dc.xml"
    try:
        out = runner.invoke(app, ["deploy", str(topo), "--force", "--check", "--junit",
                                  str(junit)])
        assert out.exit_code == code, out.output
        # the listener is started by exec after deploy: --check waits for it
        assert "SYN-ACK from b (10.46.0.2)" in out.output
        assert ET.parse(junit).getroot().get("failures") == str(code)
    finally:
        Lab.attach("t4dc").destroy()


def test_dns_expectations_use_the_nodes_resolver(deploy) -> None:  # type: ignore[no-untyped-def]
    plan = deploy(TOPOLOGIES / "t4dns.toml")
    from netlab.lab import Lab

    # dnsmasq is started by exec after deploy; give it a moment like `deploy --check` does
    report = Lab(plan).check(retry=5.0)
    assert report.ok, [r.seen for r in report]
    assert report[0].seen == "svc -> 10.47.0.99"
    assert report[1].seen == "ns -> 10.47.0.1"
    assert report[2].seen.startswith("other does not resolve")
    assert report[3].seen == "SYN-ACK from ns (10.47.0.1)"
