"""Interruptions: deploy killed with SIGINT (Ctrl-C) or SIGKILL after every phase and at
random object counts of a 200-node lab. Ctrl-C rolls back by itself; after SIGKILL,
`netlab destroy` leaves nothing behind; either way the same lab deploys again."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support import topogen
from tests.support.cli import no_traceback, spawn
from tests.support.cli import run as cli
from tests.support.host import leftovers, marker, netns_inodes, pids_in, settled_leftovers
from tests.support.names import run_prefix

pytestmark = [pytest.mark.root, pytest.mark.slow]

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

HERE = Path(__file__).parent
NATGW = (topogen.TOPOLOGIES / "natgw.toml").read_text()
# NETLAB_T5_SEED=<n> replays a run's random kill points.
SEED = int(os.environ.get("NETLAB_T5_SEED", str(int(time.time()) % 100000)))


def _phases() -> list[str]:
    from netlab.backends.kernel.apply import PHASES

    return [name for name, _ in PHASES]


def _redeploy_and_destroy(file: Path, name: str) -> None:
    from netlab.lab import Lab

    lab = Lab.deploy(file)
    assert leftovers(name), "redeploy built nothing?"
    lab.destroy()
    assert settled_leftovers(name) == []


def _after_interrupt(sig: str, rc: int, stderr: str, file: Path, name: str, where: str) -> None:
    """What must hold after a deploy was interrupted, whatever the point."""
    assert "Traceback" not in stderr, f"{where}: {stderr}"
    if sig in ("SIGINT", "SIGTERM"):
        # 130 and "interrupted"; or, when Ctrl-C also killed a child (nft) first, exit 1
        # with its error. Either way the deploy rolled back by itself.
        ok = (rc == 130 and "interrupted" in stderr) or (rc == 1 and "error:" in stderr)
        assert ok, f"{where}: rc {rc}: {stderr}"
        assert settled_leftovers(name) == [], f"{where}: {sig} did not roll back by itself"
    else:
        assert rc == -signal.SIGKILL, f"{where}: rc {rc}: {stderr}"
        inodes = netns_inodes(f"{name}-")
        r = cli("destroy", name)
        assert r.returncode == 0 and no_traceback(r), f"{where}: {r.stderr}"
        assert settled_leftovers(name) == [], f"{where}: destroy after SIGKILL left things"
        # A process started in the lab keeps its namespace alive even when unpinned.
        assert pids_in(f"{name}-", inodes) == [], f"{where}: a lab process survived"
    _redeploy_and_destroy(file, name)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupt_after_every_phase(labs, sig: str) -> None:  # type: ignore[no-untyped-def]
    """natgw with an uplink and an exec'd server, so that every phase has work to do."""
    name = {"SIGINT": f"{P}ip", "SIGTERM": f"{P}it", "SIGKILL": f"{P}ik"}[sig]
    text = topogen.with_uplink(topogen.renamed(NATGW, name)) or ""
    # A second, tagged process: found by its tag even once its namespace is unpinned.
    text = topogen.with_exec(
        text, "pc1", f"exec python3 -c 'import time; time.sleep(3600)' {marker(name)}")
    # A node with startup work and a PID namespace (its init is a process of the lab too).
    text = topogen.with_machine(text, "pc2", ["echo ready > /run/ready"], pid=True)
    file = labs.write(name, text)
    points = [(str(k), f"after phase {phase}") for k, phase in enumerate(_phases())]
    points.append(("exec", "inside the first exec start"))
    for k, phase in points:
        p = spawn_killer(k, sig, file)
        _, err = p.communicate(timeout=60)
        _after_interrupt(sig, p.returncode, err, file, name, f"{sig} {phase}")


def spawn_killer(k: str, sig: str, file: Path):  # type: ignore[no-untyped-def]
    import subprocess

    return subprocess.Popen([sys.executable, str(HERE / "killer.py"), str(k), sig, str(file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lab_namespaces(prefix: str) -> int:
    try:
        return sum(n.startswith(prefix) for n in os.listdir("/run/netns"))
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_interrupt_200_node_lab_at_random_points(labs, sig: str) -> None:  # type: ignore[no-untyped-def]
    """The real `netlab deploy` process, signalled when k of its 204 namespaces exist (k
    random), and once more just after the last one (links, addresses, later phases).
    SIGINT goes to its whole process group, children included, as Ctrl-C does."""
    name = f"{P}rn" if sig == "SIGINT" else f"{P}rk"
    file = labs.write(name, topogen.star_lab(name, 199, switches=4, uplink=True))
    total = 204
    rng = random.Random(SEED + (sig == "SIGKILL"))
    points = sorted(rng.sample(range(1, total), 3)) + [total]
    for k in points:
        where = f"{sig} at {k}/{total} namespaces (NETLAB_T5_SEED={SEED})"
        p = spawn("deploy", str(file), group=True)
        deadline = time.monotonic() + 60
        while _lab_namespaces(name + "-") < k and p.poll() is None:
            assert time.monotonic() < deadline, where
            time.sleep(0.0005)
        # At the instant the k-th file appears (the most hostile moment: in step with the
        # backend's work), or a random moment later.
        time.sleep(rng.choice([0.0, rng.uniform(0.0, 0.03 if k == total else 0.003)]))
        if sig == "SIGINT":
            os.killpg(p.pid, signal.SIGINT)
        else:
            p.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        if "deployed lab" in out:  # finished before the signal landed: nothing to test
            assert cli("destroy", name).returncode == 0
            continue
        _after_interrupt(sig, p.returncode, err, file, name, where)
