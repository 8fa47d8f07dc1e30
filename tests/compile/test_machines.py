"""The machines pass (netlab/compile/machines.py): files, the mirrored lab directory,
startup and pid into the node plans; every path from the file checked."""

from __future__ import annotations

import os
from pathlib import Path

from netlab.api import load
from netlab.compile.machines import check_path
from netlab.errors import TopologyError
from tests.support.compile import plan, problems

LAB = """
[lab]
name = "m"
[defaults]
pid = true
[nodes.r1]
startup = ["ip link set lo up", "echo ready"]
exec = ["sleep 9"]
[nodes.r1.files]
"/etc/motd" = "hi\\n"
"/usr/local/bin/go.sh" = { content = "#!/bin/sh\\n", mode = 0o755 }
[nodes.pc]
pid = false
[[links]]
endpoints = ["r1", "pc"]
"""


def _write(d: Path, text: str = LAB) -> Path:
    f = d / "topo.toml"
    f.write_text(text)
    return f


def test_files_startup_and_pid_reach_the_plan() -> None:
    p = plan(LAB)
    r1, pc = p.node("r1"), p.node("pc")
    assert [(f.path, f.mode, f.text) for f in r1.files] == [
        ("/etc/motd", 0o644, "hi\n"), ("/usr/local/bin/go.sh", 0o755, "#!/bin/sh\n")]
    assert r1.startup == ["ip link set lo up", "echo ready"] and r1.exec == ["sleep 9"]
    assert (r1.pid, pc.pid) == (True, False)
    assert pc.files == [] and pc.startup == []


def test_a_node_directory_beside_the_topology_is_mirrored(tmp_path: Path) -> None:
    (tmp_path / "r1" / "etc" / "frr").mkdir(parents=True)
    (tmp_path / "r1" / "etc" / "frr" / "frr.conf").write_text("router ospf\n")
    (tmp_path / "r1" / "etc" / "motd").write_text("from the directory\n")  # the key wins
    script = tmp_path / "r1" / "root" / "x.sh"
    script.parent.mkdir()
    script.write_text("echo\n")
    script.chmod(0o750)
    (tmp_path / "other").mkdir()  # not a node: not mirrored
    (tmp_path / "other" / "f").write_text("x")
    r1 = load(_write(tmp_path)).plan.node("r1")
    files = {f.path: f for f in r1.files}
    assert sorted(files) == ["/etc/frr/frr.conf", "/etc/motd", "/root/x.sh",
                             "/usr/local/bin/go.sh"]
    assert files["/etc/motd"].text == "hi\n"
    assert files["/etc/frr/frr.conf"].source == str(tmp_path.resolve() / "r1/etc/frr/frr.conf")
    assert files["/root/x.sh"].mode == 0o750


def test_links_in_the_lab_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "r1" / "etc").mkdir(parents=True)
    os.symlink("/etc/shadow", tmp_path / "r1" / "etc" / "shadow")
    os.symlink("/etc", tmp_path / "linked")
    text = LAB.replace('"/etc/motd" = "hi\\n"', '"/etc/motd" = { source = "linked/passwd" }')
    try:
        load(_write(tmp_path, text))
    except TopologyError as e:
        msgs = [p.message for p in e.problems]
    else:
        raise AssertionError("accepted")
    assert any("r1/etc/shadow" in m and "symbolic link" in m for m in msgs), msgs
    assert any('"linked" is a symbolic link' in m for m in msgs), msgs


def test_source_needs_a_file_topology() -> None:
    text = LAB.replace('"/etc/motd" = "hi\\n"', '"/etc/motd" = { source = "x" }')
    (p,) = [p for p in problems(text) if p.path.endswith(".source")]
    assert "not read from a file" in p.message


def test_check_path() -> None:
    assert check_path("/etc/frr/frr.conf") is None
    assert check_path("/srv/www/index.html") is None
    for bad in ("etc/x", "/etc/../x", "/etc/./x", "/etc//x", "/etc/", "/", "/x",
                "/proc/x/y", "/sys/a/b", "/dev/shm/x", "/etc/a\nb"):
        assert check_path(bad), bad
