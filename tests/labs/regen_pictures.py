"""Refresh the Mermaid picture in every lesson: `python3 -m tests.labs.regen_pictures`.

Each docs/labs/NAME.md holds one ```mermaid block, the output of
`netlab graph topologies/NAME.toml -o NAME.mmd`; test_library checks that it is current.
"""

from __future__ import annotations

import re

from netlab.api import load
from netlab.plan.render import to_mermaid
from netlab.topology import library

_BLOCK = re.compile(r"```mermaid\n.*?```", re.S)


def main() -> None:
    for lab in library.bundled():
        if lab.lesson is None:
            print(f"{lab.name}: no lesson (docs/labs/{lab.name}.md)")
            continue
        text = lab.lesson.read_text(encoding="utf-8")
        block = "```mermaid\n" + to_mermaid(load(lab.path).graph) + "```"
        new, n = _BLOCK.subn(lambda _m, b=block: b, text, count=1)
        if n == 0:
            print(f"{lab.name}: no ```mermaid block to refresh")
        elif new != text:
            lab.lesson.write_text(new, encoding="utf-8")
            print(f"{lab.name}: picture refreshed")


if __name__ == "__main__":
    main()
