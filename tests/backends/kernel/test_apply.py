"""Deploy (netlab.backends.kernel.apply and its phases): interface sysctls are written
once their interface exists (issue 14 item 9), a failure half-way says that nothing was
built and leaves nothing, and an `exec` command that dies at once is a warning naming the
node, the command and its log (issue 14 item 10).

Each lab has a unique name and is destroyed by the `labs` fixture even when a test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netlab.errors import NetlabError
from tests.support.compile import plan_from
from tests.support.host import plan_leftovers
from tests.support.names import renamed_text, unique_name
from tests.support.netns import netns_exec

pytestmark = pytest.mark.root

TWO = """
[lab]
name = "x"
[defaults]
ipv6 = true
[nodes.a.sysctl]
"net.ipv6.conf.eth0.accept_ra" = 2
"net.ipv4.conf.eth0.rp_filter" = 2
"net.ipv4.conf.all.rp_filter" = 1
[nodes.b]
[[links]]
endpoints = ["a:eth0", "b:eth0"]
"""


PLAIN = """
[lab]
name = "x"
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a:eth0", "b:eth0"]
"""


def _read(netns: str, key: str) -> str:
    return netns_exec(netns, "sysctl", "-n", key, check=True).stdout.strip()


def test_interface_sysctls_are_set_at_deploy(labs) -> None:  # type: ignore[no-untyped-def]
    plan = plan_from(TWO, unique_name("t"))
    lab = labs.deploy(plan)
    a = plan.node("a").netns
    assert _read(a, "net.ipv6.conf.eth0.accept_ra") == "2"
    assert _read(a, "net.ipv4.conf.eth0.rp_filter") == "2"
    assert _read(a, "net.ipv4.conf.all.rp_filter") == "1"
    assert lab.status().drift == []


def test_failure_half_way_says_nothing_was_built(labs) -> None:  # type: ignore[no-untyped-def]
    """Forced: an interface sysctl for an interface the node lacks (compile refuses it;
    the plan is edited and deployed directly). Namespaces and links exist when it fails."""
    plan = plan_from(PLAIN, unique_name("t"))
    b = plan.node("b")
    b = b.model_copy(update={"sysctls": {**b.sysctls, "net.ipv4.conf.nope0.rp_filter": "2"}})
    plan = plan.model_copy(update={"nodes": [b if n.name == "b" else n for n in plan.nodes]})
    with pytest.raises(NetlabError) as e:
        labs.deploy(plan)
    text = str(e.value)
    assert "net.ipv4.conf.nope0.rp_filter" in text and "node b" in text, text
    assert "no interface nope0" in text, text
    assert "nothing was built" in text, text
    assert plan_leftovers(plan) == []


def test_oserror_half_way_says_nothing_was_built(labs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from netlab.backends.kernel import apply

    def fail(ctx: apply.Context) -> None:
        raise OSError(28, "No space left on device", "/somewhere")

    monkeypatch.setattr(apply, "PHASES", [*apply.PHASES[:3], ("fail", fail)])
    plan = plan_from(PLAIN, unique_name("t"))
    with pytest.raises(NetlabError) as e:
        labs.deploy(plan)
    assert "No space left on device: /somewhere" in str(e.value)
    assert "nothing was built" in str(e.value)
    assert plan_leftovers(plan) == []


EXEC = """
[lab]
name = "x"
[nodes.a]
exec = ["pyhton3 -m http.server", "sleep 30", "true"]
[nodes.b]
exec = ["sh -c 'echo going; exit 3'"]
[[links]]
endpoints = ["a", "b"]
"""


def test_exec_that_dies_at_once_is_a_warning(labs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("t")
    labs.track(plan_from(EXEC, name))  # for the fixture's destroy
    file = tmp_path / f"{name}.toml"
    file.write_text(renamed_text(EXEC, name))
    r = subprocess.run([sys.executable, "-m", "netlab", "deploy", str(file)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    log_a = f"/run/netlab/{name}/logs/a.log"
    lines = [x for x in r.stderr.splitlines() if x.startswith("warning: node ")]
    assert len(lines) == 2, r.stderr
    a = next(x for x in lines if x.startswith("warning: node a:"))
    assert "'pyhton3 -m http.server'" in a and "exit status 127: command not found" in a, a
    assert "pyhton3: not found" in a and log_a in a, a  # the shell's own words, the log
    b = next(x for x in lines if x.startswith("warning: node b:"))
    assert "exit status 3" in b and "(going)" in b, b
    # Commands still running ("sleep 30") or ended well ("true") are no warning.
    assert "sleep" not in r.stderr and "'true'" not in r.stderr
    assert os.path.exists(log_a)
