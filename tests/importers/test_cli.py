"""`netlab import` on the command line: listed by --help without loading the importers."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO


def test_help_lists_import_and_loads_no_importer() -> None:
    code = ("import sys; sys.argv = ['netlab', '--help']\n"
            "from netlab.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('yaml', 'scapy', 'pyroute2') or m.startswith('netlab.importers'))\n"
            "print('IMPORTED', bad, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert "IMPORTED []" in done.stderr, done.stderr
    assert " import " in done.stdout


def test_import_of_something_else_is_a_usage_error(tmp_path: object) -> None:
    from pathlib import Path

    from tests.support.cli import invoke

    d = Path(str(tmp_path))
    (d / "x.yml").write_text("a: 1\n")
    out = invoke("import", str(d / "x.yml"))
    assert out.code == 2 and "neither a Kathará lab" in out.stderr
    assert "Traceback" not in out.output
    missing = invoke("import", str(d / "nope"))
    assert missing.code == 2 and "no such file" in missing.stderr


def test_other_tools_labs_are_paths_for_every_verb(tmp_path: object) -> None:
    """`netlab deploy lab.clab.yml` is the file, not a bundled lab's name; `netlab destroy
    ./kathara-dir` reads the lab's name through the importer."""
    from pathlib import Path

    from netlab.topology import library, loader

    assert library.is_path("frr01.clab.yml") and library.is_path("x.clab.yaml")
    assert not library.is_path("natgw")
    d = Path(str(tmp_path)) / "kathara-lab_two"
    d.mkdir()
    (d / "lab.conf").write_text('a[0]="A"\nb[0]="A"\n')
    assert loader.read_table(d)["lab"]["name"] == "two"
