"""Each node as a small machine (backends/kernel/machine.py): private /etc, /var, /run,
/tmp and /root, files and startup at deploy, the working directory, a PID namespace;
against the kernel, with the kernel's own tools (`ip netns exec`, `ps`, `ls`) as
witnesses where they see something."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import run as cli
from tests.support.names import unique_name

pytestmark = pytest.mark.root

# Every directory a node's writes must stay in (the list; /var/run is /run).
PRIVATE = ["/etc", "/run", "/var/run", "/var/log", "/var/lib", "/var/cache", "/tmp", "/root"]


def _lab(name: str, extra: str = "") -> str:
    return f"""
[lab]
name = "{name}"
[nodes.a]
{extra}
[nodes.b]
[switches.lan]
[[links]]
endpoints = ["a", "lan"]
[[links]]
endpoints = ["b", "lan"]
"""


def _host_state() -> dict[str, str]:
    """The host's /etc, /run and /var: each file's content hash (or a link's target, a
    directory's mode); /run/netns, /run/netlab and /etc/netns belong to running labs (of
    other tests too) and are left out, as is /var/tmp."""
    out: dict[str, str] = {}
    skip = ("/run/netns", "/run/netlab", "/etc/netns", "/var/tmp", "/run/user")
    for top in ("/etc", "/run", "/var"):
        for dirpath, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if os.path.join(dirpath, d) not in skip]
            for name in dirs + files:
                p = os.path.join(dirpath, name)
                try:
                    st = os.lstat(p)
                    if os.path.islink(p):
                        out[p] = "link " + os.readlink(p)
                    elif os.path.isfile(p) and st.st_size < 1 << 20:
                        with open(p, "rb") as f:
                            out[p] = hashlib.sha1(f.read()).hexdigest()
                    else:
                        out[p] = f"{st.st_mode:o} {st.st_size if os.path.isfile(p) else ''}"
                except OSError:
                    out[p] = "unreadable"
    return out


@pytest.mark.host_exclusive  # the whole of /etc, /run and /var: no user made meanwhile
def test_writes_stay_in_the_node_and_destroy_leaves_the_host_as_it_was(labs) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("tm")
    before = _host_state()
    lab = labs.deploy(labs.write(name, _lab(name)))
    marker = f"netlab-{name}"
    for d in PRIVATE:
        r = lab.exec("a", ["sh", "-c", f"echo written > {d}/{marker}"])
        assert r.returncode == 0, f"{d}: {r.stderr}"
    # The writer sees its files (a later command: the same machine, not a fresh view).
    r = lab.exec("a", ["sh", "-c", " ".join(f"cat {d}/{marker};" for d in PRIVATE)])
    assert r.stdout.split() == ["written"] * len(PRIVATE)
    for d in PRIVATE:
        assert not os.path.lexists(f"{d}/{marker}"), f"the host sees {d}/{marker}"
        r = lab.exec("b", ["ls", f"{d}/{marker}"])
        assert r.returncode != 0, f"node b sees {d}/{marker}"
    # `netlab exec` (the CLI, in its own process) sees the same machine.
    r = cli("exec", "--lab", name, "a", "--", "cat", f"/var/log/{marker}")
    assert r.returncode == 0 and r.stdout == "written\n", r.stderr
    lab.destroy()
    after = _host_state()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == [], f"destroy left the host changed: {changed[:10]}"


def test_own_etc_files_working_directory_and_sys(labs) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("tm")
    lab = labs.deploy(labs.write(name, _lab(name)))
    plan = lab.plan
    r = lab.exec("a", ["sh", "-c", "pwd; cat /etc/hostname; ls /sys/class/net"])
    lines = r.stdout.split()
    assert lines[:2] == ["/root", "a"]
    assert sorted(lines[2:]) == ["eth0", "lo"]
    # `ip netns exec` users see the same /etc/hosts and /etc/resolv.conf as netlab's.
    netns = plan.node("a").netns
    for f in ("/etc/hosts", "/etc/resolv.conf"):
        ours = lab.exec("a", ["cat", f]).stdout
        theirs = subprocess.run(["ip", "netns", "exec", netns, "cat", f],
                                capture_output=True, text=True).stdout
        assert ours == theirs, f
    assert "b" in lab.exec("a", ["cat", "/etc/hosts"]).stdout.split()


def test_files_and_startup(labs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("tm")
    topo = tmp_path / name
    topo.mkdir()
    (topo / "a" / "etc" / "app").mkdir(parents=True)  # mirrored into node a
    (topo / "a" / "etc" / "app" / "app.conf").write_text("mirrored\n")
    (topo / "a" / "srv").mkdir()
    (topo / "a" / "srv" / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (topo / "a" / "srv" / "run.sh").chmod(0o755)
    (topo / "conf.txt").write_text("from a file\n")
    extra = """startup = ["/srv/run.sh > /root/out", "echo second >> /root/out",
           "cp /root/out /tmp/seen"]
exec = ["cat /tmp/seen > /run/exec-saw; exec sleep 300"]
[nodes.a.files]
"/etc/motd" = "inline\\n"
"/opt/x/copy.txt" = { source = "conf.txt", mode = 0o600 }
"""
    file = topo / "topo.toml"
    file.write_text(_lab(name, extra))
    labs.track(name)
    lab = labs.deploy(file)
    r = lab.exec("a", ["sh", "-c", "cat /etc/motd /etc/app/app.conf /opt/x/copy.txt;"
                       " stat -c %a /opt/x/copy.txt /srv/run.sh; cat /root/out"])
    assert r.stdout.split("\n")[:7] == ["inline", "mirrored", "from a file", "600", "755",
                                        "ran", "second"]
    # startup ran before exec: the service saw its output.
    for _ in range(50):
        r = lab.exec("a", ["cat", "/run/exec-saw"])
        if r.returncode == 0:
            break
        time.sleep(0.05)
    assert r.stdout == "ran\nsecond\n"
    # Node b got none of it, nor did the host.
    assert lab.exec("b", ["ls", "/etc/motd", "/opt/x"]).returncode != 0
    assert not os.path.exists("/opt/x/copy.txt")


def test_failing_startup_fails_the_deploy_with_its_output(labs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from netlab.errors import NetlabError

    name = unique_name("tm")
    extra = 'startup = ["echo preparing", "echo broken config >&2; exit 4", "touch /never"]'
    file = labs.write(name, _lab(name, extra))
    with pytest.raises(NetlabError) as e:
        labs.deploy(file)
    text = str(e.value)
    assert "node a: startup command 2" in text and "exit status 4" in text
    assert "broken config" in text
    assert "nothing was built" in text
    r = cli("deploy", str(file))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "broken config" in r.stderr


def test_startup_that_never_ends_is_stopped(labs, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from netlab.backends.kernel import procs
    from netlab.errors import NetlabError

    monkeypatch.setattr(procs, "STARTUP_TIMEOUT", 0.5)
    name = unique_name("tm")
    file = labs.write(name, _lab(name, 'startup = ["sleep 30"]'))
    t0 = time.monotonic()
    with pytest.raises(NetlabError, match="did not end within 0.5 s"):
        labs.deploy(file)
    assert time.monotonic() - t0 < 10


def test_pid_namespace(labs) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("tm")
    extra = 'pid = true\nexec = ["sleep 301"]'
    lab = labs.deploy(labs.write(name, _lab(name, extra)))
    # The node's ps sees only the node: its init, the service, ps itself.
    r = lab.exec("a", ["ps", "-e", "-o", "pid=,comm="])
    procs = [line.split() for line in r.stdout.splitlines()]
    assert procs[0] == ["1", "sh"], r.stdout
    assert {c for _, c in procs} <= {"sh", "sleep", "ps"}, r.stdout
    r = cli("exec", "--lab", name, "a", "--", "sh", "-c", "echo $$; exit 5")
    assert r.returncode == 5 and int(r.stdout) < 100, r.stdout  # a pid of the node's
    # Node b (no PID namespace) sees the host's processes.
    assert len(lab.exec("b", ["ps", "-e"]).stdout.splitlines()) > 10
    # status shows the service (sleep), not the shell that started it.
    st = lab.status()
    (p,) = [p for n in st.nodes if n.name == "a" for p in n.processes]
    with open(f"/proc/{p.pid}/comm") as f:
        assert f.read().strip() == "sleep"
    # Ending the node's init ends everything in it; status says so and exits 1.
    from netlab.state.journal import read_record

    (init,) = read_record(name).of("init")
    os.kill(init["pid"], signal.SIGKILL)
    for _ in range(100):
        if not os.path.exists(f"/proc/{p.pid}"):
            break
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{p.pid}")
    r = cli("status", "--lab", name)
    assert r.returncode == 1 and "is not running" in r.stdout


def test_service_that_dies_in_its_first_second_is_a_warning(  # type: ignore[no-untyped-def]
        labs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETLAB_SERVICE_SETTLE", "1")
    name = unique_name("tm")
    extra = 'exec = ["sleep 0.4; echo cannot bind >&2; exit 3", "sleep 300"]'
    file = labs.write(name, _lab(name, extra))
    labs.track(name)
    r = cli("deploy", str(file))
    assert r.returncode == 0, r.stderr
    assert "ended right after it started, exit status 3 (cannot bind)" in r.stderr
    assert "logs/a.log" in r.stderr
