"""`netlab check FILE` on the lab deployed from that very file (the same path, the same
text: Plan.source_sha256) checks the saved expectations without compiling the file again
(netlab.api._deployed_from), so that `netlab check natgw` starts as fast as `netlab check`
of the lab's name; a file changed since deploy is compiled and compared as before: a
comment changes nothing, an address is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.deploy import Labs
from tests.support.names import unique_name

LAB = """
[lab]
name = "{name}"
within = "0s"
[nodes.h1]
[nodes.h2]
[[links]]
endpoints = ["h1", "h2"]
subnet = "192.168.72.0/30"
[[expect]]
from = "h1"
to = "h2"
"""


def netlab(*args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", "netlab", *args],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def compiled(r: subprocess.CompletedProcess[str]) -> bool:
    """Whether the run imported the compiler (-X importtime lists every import)."""
    return "netlab.compile.compiler" in r.stderr


def test_check_of_the_deployed_file_compiles_nothing_until_it_changes(labs: Labs) -> None:
    name = unique_name("tu")
    path = labs.write(name, LAB.format(name=name))
    r = netlab("deploy", str(path))
    assert r.returncode == 0, r.stdout + r.stderr

    r = netlab("check", str(path), importtime=True)
    assert r.returncode == 0 and "1/1 expectations passed" in r.stdout, r.stdout + r.stderr
    assert not compiled(r)

    # A comment: the text differs, so the file is compiled and compared; nothing a probe
    # depends on changed, so it is checked.
    path.write_text(path.read_text() + "# a comment\n")
    r = netlab("check", str(path), importtime=True)
    assert r.returncode == 0 and "1/1 expectations passed" in r.stdout, r.stdout + r.stderr
    assert compiled(r)

    # Another subnet: refused, as before, saying how to redeploy.
    path.write_text(path.read_text().replace("192.168.72.0/30", "192.168.73.0/30"))
    r = netlab("check", str(path))
    assert r.returncode == 2 and "differs from the deployed lab" in r.stderr, r.stderr

    # The same text at another path (its own directory may hold other node files): compiled.
    other = path.parent / "copy" / path.name
    other.parent.mkdir()
    other.write_text(LAB.format(name=name))
    r = netlab("check", str(other), importtime=True)
    assert r.returncode == 0 and compiled(r), r.stdout + r.stderr
    Path(other).unlink()
