"""The CLI's own faults, found by new users (issue 14, items 7, 8, 11): markup in a lab's
text, output that cannot be written, bad arguments, plurals, piped `shell`, `check LAB`.

Every command runs as a person would run it, in a child process (`python -m netlab`), so
that the CLI's `main` (not only typer's runner) is what is tested. Kernel tests deploy labs
named "t" + 8 hex digits and destroy them even when the test fails.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # tests/support/plugin.py: handed out early

REPO = Path(__file__).resolve().parents[2]
ARP = str(REPO / "topologies" / "arp.toml")
MARKUP = "[/link] [hard] [bold red]x"


def netlab(*args: str, stdout: int | None = subprocess.PIPE, stdin: int | None = None,
           input: str | None = None, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], stdout=stdout,
                          stderr=subprocess.PIPE, stdin=stdin, input=input, text=True,
                          timeout=120, cwd=REPO, env=env)


def no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + (r.stdout or ""), r.stderr


def topology(name: str, description: str = MARKUP, command: str = "sleep 600") -> str:
    return f"""
[lab]
name = "{name}"
description = '{description}'

[nodes.a]
exec = ['{command}']
[nodes.b]

[switches.sw]
subnet = "10.77.0.0/24"

[[links]]
endpoints = ["a", "sw"]
[[links]]
endpoints = ["b", "sw"]

[[expect]]
from = "a"
to = "b"
"""


# --- item 8: output that cannot be written, bad arguments (no root needed) -------------

@pytest.mark.parametrize("argv", [
    ["validate", ARP],
    ["plan", ARP],
    ["plan", ARP, "--json"],
    ["schema"],
    ["labs"],
    ["labs", "arp"],
])
def test_full_stdout_is_a_message_and_exit_1(argv: list[str]) -> None:
    with open("/dev/full", "w") as full:
        r = netlab(*argv, stdout=full.fileno())
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    assert "cannot write the output: No space left on device" in r.stderr


def test_closed_pipe_ends_quietly() -> None:
    read, write = os.pipe()
    os.close(read)  # like `netlab plan x.toml | head -0`
    try:
        r = netlab("plan", ARP, "--json", stdout=write)
    finally:
        os.close(write)
    no_traceback(r)
    assert r.returncode == 1
    assert r.stderr == ""


@pytest.mark.parametrize("where", ["missing-dir/x.dot", "a-directory.dot", "x.mmd"])
def test_graph_to_an_unwritable_path(where: str, tmp_path: Path) -> None:
    (tmp_path / "a-directory.dot").mkdir()
    if where == "x.mmd":
        os.chmod(tmp_path, 0o500)
        if os.access(tmp_path, os.W_OK):  # root writes anyway: a file in /proc instead
            os.chmod(tmp_path, 0o700)
            where = "/proc/version.mmd"
    try:
        r = netlab("graph", ARP, "-o", str(tmp_path / where))
    finally:
        os.chmod(tmp_path, 0o700)
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    assert "cannot write" in r.stderr


@pytest.mark.parametrize("argv", [
    ["validate"],
    ["validate", "--bogus", ARP],
    ["validate", "no/such/file.toml"],
    ["plan", "no/such/file.toml", "--json"],
    ["plan", ARP, "--json=yes"],
    ["graph", ARP],
    ["graph", ARP, "-o", "x.xyz"],
    ["schema", "extra"],
    ["labs", "no-such-lab"],
    ["labs", "a", "b"],
    ["ping", "a", "b", "--count", "0"],
    ["ping", "a", "b", "--interval", "x"],
    ["trace", "a", "b", "--max-hops", "0"],
    ["probe", "a", "b", "--tcp", "70000"],
    ["capture", "a:eth0", "--count", "0"],
    ["link", "a", "b", "sideways"],
    ["check", "--junit"],
    ["nosuchverb"],
    ["deploy"],
    ["deploy", "--bogus", ARP],
    ["destroy"],
    ["destroy", "--all", "extra"],
    ["list", "extra"],
    ["status", "--bogus"],
    ["exec"],
    ["exec", "a"],
    ["shell"],
    ["pingall", "--timeout", "x"],
    ["capture"],
    ["link", "a"],
    [MARKUP],  # markup in what a person typed is text too
    ["labs", MARKUP],
    ["plan", f"--{MARKUP}"],
    ["ping", "a", "b", "--count", MARKUP],
])
def test_bad_arguments_exit_2_with_a_message(argv: list[str]) -> None:
    r = netlab(*argv)
    no_traceback(r)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip()


@pytest.mark.parametrize("argv", [["validate", ARP], ["labs"], ["plan", ARP]])
def test_bad_arguments_with_full_stdout_too(argv: list[str]) -> None:
    with open("/dev/full", "w") as full:
        r = netlab(*argv, "--no-such-option", stdout=full.fileno())
    no_traceback(r)
    assert r.returncode == 2


# --- item 7: markup in a lab's own text is text -----------------------------------------

def test_markup_in_description_pure_verbs(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(topology("markup"))
    for argv in (["plan", str(path)], ["validate", str(path)]):
        r = netlab(*argv)
        no_traceback(r)
        assert r.returncode == 0, r.stderr
    assert MARKUP in netlab("plan", str(path)).stdout
    assert MARKUP in netlab("plan", str(path), "--json").stdout
    r = netlab("labs")
    no_traceback(r)
    assert r.returncode == 0


# --- item 11: plurals (no root) ---------------------------------------------------------

def test_deploy_summary_says_1_switch_and_1_link(tmp_path: Path) -> None:
    from netlab.api import load
    from netlab.backends.kernel.observe import summary

    path = tmp_path / "one.toml"
    path.write_text('[lab]\nname = "one"\n[nodes.a]\n[nodes.b]\n[switches.sw]\n'
                    '[[links]]\nendpoints = ["a", "sw"]\n'
                    '[[links]]\nendpoints = ["a", "b"]\n'
                    '[[links]]\nendpoints = ["b", "sw"]\n')
    p = load(path).plan
    assert len(p.switches) == 1
    text = summary(p)
    assert text.startswith("2 nodes, 1 switch, "), text
    path.write_text('[lab]\nname = "one"\n[nodes.a]\n[nodes.b]\n'
                    '[[links]]\nendpoints = ["a", "b"]\n')
    text = summary(load(path).plan)
    assert "0 switches, 1 link," in text, text


# --- kernel tests (root) ----------------------------------------------------------------

@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A deployed lab whose description and exec command carry rich markup; destroyed
    afterwards, also when the test fails."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    name = "t" + secrets.token_hex(4)
    path = tmp_path / f"{name}.toml"
    path.write_text(topology(name, command=f"sleep 600 # {MARKUP}"))
    try:
        r = netlab("deploy", str(path))
        no_traceback(r)
        assert r.returncode == 0, r.stderr
        yield name, path
    finally:
        netlab("destroy", name)
        from netlab.state.store import lab_dir

        assert not lab_dir(name).exists()
        assert not os.path.lexists(f"/run/netns/{name}-a")


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich tables wrap long cells


@pytest.mark.root
def test_markup_in_list_status_check_is_printed_literally(lab: tuple[str, Path]) -> None:
    name, path = lab
    env = {**os.environ, "COLUMNS": "400"}  # one line per row: the text is found whole
    r = netlab("list", env=env)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert MARKUP in r.stdout, r.stdout
    r = netlab("status", "--lab", name, env=env)
    no_traceback(r)
    assert r.returncode == 0, r.stdout + r.stderr
    assert MARKUP in r.stdout, r.stdout
    assert f"sleep 600 # {MARKUP}" in r.stdout
    for argv in (["check", str(path)], ["check", "--lab", name]):
        r = netlab(*argv, env=env)
        no_traceback(r)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1/1 expectations passed" in r.stdout


@pytest.mark.root
def test_check_accepts_a_deployed_labs_name(lab: tuple[str, Path]) -> None:
    name, _ = lab
    r = netlab("check", name)
    no_traceback(r)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no bundled lab" not in r.stderr
    assert "1/1 expectations passed" in r.stdout


@pytest.mark.root
def test_deploy_and_destroy_say_1_switch(lab: tuple[str, Path], tmp_path: Path) -> None:
    name, path = lab
    r = netlab("deploy", "--force", str(path))
    assert r.returncode == 0, r.stderr
    assert "1 switch," in r.stdout and "switches" not in r.stdout, r.stdout
    assert "4 links" not in r.stdout and "2 links," in r.stdout, r.stdout


@pytest.mark.root
def test_shell_with_piped_stdin_is_not_interactive(lab: tuple[str, Path]) -> None:
    name, _ = lab
    env = {**os.environ, "SHELL": "/bin/bash"}
    r = netlab("shell", "--lab", name, "a", input='echo "flags=$-"; hostname\n', env=env)
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    flags = [w for w in r.stdout.split() if w.startswith("flags=")]
    assert flags and "i" not in flags[0], r.stdout
    assert "a" in r.stdout.split()
    assert "no job control" not in r.stderr and f"[{name}]" not in r.stderr, r.stderr
