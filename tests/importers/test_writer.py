"""The TOML writer of imported labs: whatever a lab's files hold reads back the same."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from netlab.importers.common import Imported
from netlab.importers.writer import dumps

TEXTS = [
    "plain\n",
    "no newline at the end",
    "tabs\tand 'quotes' and \"double\" and \\backslashes\\n\n",
    "a ''' literal-breaker\nline 2\n",
    'three """ quotes\n',
    "crlf\r\nline\r\n",
    "control \x01 and \x7f\n",
    "unicode: Kathará ✓\n",
    "",
    "ends with a quote\n'",
    "ends with two quotes\n''",
    "\nstarts with a newline\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_file_text_round_trips(text: str) -> None:
    imp = Imported(Path("x"), "Kathará", lab={"name": "x"})
    imp.nodes["r1"] = {"kind": "router", "startup": ["bash /root/r1.startup", text],
                       "files": {"/root/a b.txt": {"mode": 0o755, "content": text},
                                 "/etc/x": {"source": "r1/etc/x"}}}
    t = tomllib.loads(dumps(imp))
    assert t["nodes"]["r1"]["files"]["/root/a b.txt"] == {"mode": 0o755, "content": text}
    assert t["nodes"]["r1"]["startup"][1] == text
    assert t["nodes"]["r1"]["files"]["/etc/x"] == {"source": "r1/etc/x"}
