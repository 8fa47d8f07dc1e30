"""`netlab web` without root (docs/rootless.md): its listening socket is made in the
host's network namespace, where the browser is, and it then joins the user's namespaces,
where the labs are. As a real unprivileged user: the page's API lists the user's lab and
serves its state; another user's server does not show it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.rootless.conftest import ROOT, User, lab_name


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@contextlib.contextmanager
def _web(u: User, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`netlab web --port 0 ARGS` as the user; (the process, its URL); ended by SIGTERM
    to its own process group (the runuser this test started) at the end."""
    p = subprocess.Popen(
        ["runuser", "-u", u.name, "--", "env", "-i",
         *(f"{k}={v}" for k, v in u.env().items()), sys.executable, "-m", "netlab", "web",
         "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True)
    try:
        assert p.stderr is not None
        first = p.stderr.readline()
        if not first.startswith("netlab web: http://"):
            p.wait(timeout=30)
            pytest.fail(f"netlab web did not start: {first}{p.stderr.read()}")
        yield p, first.split()[2].split("?")[0]
    finally:
        # SIGTERM to netlab (runuser's child, which passes it on to the server it forked
        # inside), as a service manager would stop it.
        with contextlib.suppress(OSError, ValueError):
            kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
            for kid in kids:
                os.kill(int(kid), signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=20) as r:
        return json.load(r)


def test_web_serves_the_users_lab_state(users: tuple[User, User], labfile) -> None:
    a, b = users
    name = lab_name()
    path = labfile("two-hosts", name)
    try:
        _ok(a.run("deploy", str(path)))
        with _web(a, "--read-only") as (p, url):
            assert url.startswith("http://127.0.0.1:")
            assert name in json.dumps(_get(url + "api/labs"))
            state = _get(url + f"api/labs/{name}/state")
            # Read inside the user's namespaces: the one wire, both ends up, no drift
            # (outside, there would be no such namespaces: an error, ends missing).
            assert state["lab"] == name and state["error"] == "" and state["drift"] == []
            ends = [e for edge in state["edges"].values() for e in edge["ends"]]
            assert len(ends) == 2 and {e["state"] for e in ends} == {"up"}, state
            graph = json.dumps(_get(url + f"api/labs/{name}/graph"))
            assert "h1" in graph and "h2" in graph
        assert p.returncode == 0
        # Another user's server sees none of A's labs.
        with _web(b) as (_, url):
            assert name not in json.dumps(_get(url + "api/labs"))
    finally:
        a.run("destroy", name)
    # The server's own namespaces-holder ends with it when no lab is left.
    r = a.run("list")
    assert name not in r.stdout
