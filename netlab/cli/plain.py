"""What verbs print and how they end, without typer: shared by the typer verbs
(netlab/cli/common.py, probes.py) and the verbs run before typer is imported
(netlab/cli/fast.py), so that both say the same bytes and exit with the same codes."""

from __future__ import annotations

import json
import sys
from typing import Any

from netlab.errors import NetlabError, TopologyError, report_interrupted


def echo(text: str, err: bool = False) -> None:
    """One line on stdout (or stderr), flushed: what typer.echo does with plain text."""
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def emit_json(data: dict[str, Any]) -> None:
    echo(json.dumps(data, indent=2))


def said(e: NetlabError | KeyboardInterrupt) -> int:
    """Say a people-facing error (or an interruption) on stderr, without traceback; its
    exit code."""
    if isinstance(e, TopologyError):
        echo(e.render(), err=True)
        return e.exit_code
    if isinstance(e, NetlabError):
        echo(f"error: {e}", err=True)
        return e.exit_code
    report_interrupted()  # Ctrl-C, or SIGTERM/SIGHUP (netlab.cli.catch_signals)
    return 130
