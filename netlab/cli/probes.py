"""Probe verbs: ping, trace, probe, pingall, check. They read the deployed lab's saved
plan and send real packets from inside its namespaces (netlab/probes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from netlab.cli.checkrun import run_check as run_check  # `deploy --check` (cli/lab.py)
from netlab.cli.common import attached, friendly_errors
from netlab.cli.plain import emit_json
from netlab.errors import UsageError, require_root

LabOpt = Annotated[str | None, typer.Option(
    "--lab", "-l", help="Lab name (default: the only deployed lab).")]
SrcArg = Annotated[str, typer.Argument(help="Node to send from.", show_default=False)]
DstArg = Annotated[str, typer.Argument(help="Target: node, node:ifname, or an IP address.",
                                       show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", "-W", min=0.01, max=60,
                                           help="Seconds to wait for an answer.")]
Family6 = Annotated[bool, typer.Option("-6", help="Use the target's IPv6 address.")]


def ping(a: SrcArg, b: DstArg, lab: LabOpt = None,
         count: Annotated[int, typer.Option("--count", "-c", min=1, max=100000,
                                            help="Echo requests to send.")] = 3,
         interval: Annotated[float, typer.Option("--interval", "-i", min=0.0, max=60,
                                                 help="Seconds between requests.")] = 0.2,
         timeout: TimeoutOpt = 1.0, v6: Family6 = False, as_json: JsonOpt = False) -> None:
    """ICMP echo from node A to B, printed like ping; exit 0 if any reply came back."""
    from netlab.probes import icmp, targets
    from netlab.probes.results import IcmpError, Reply

    with friendly_errors():
        handle = attached(lab, "ping")
        family = 6 if v6 else None
        names = targets.address_map(handle.plan)

        def show(ev: Reply | IcmpError) -> None:
            if isinstance(ev, Reply):
                typer.echo(f"{ev.size} bytes from {targets.label(names, ev.address)}: "
                           f"icmp_seq={ev.seq} ttl={ev.ttl} time={ev.rtt_ms:.3f} ms")
            else:
                typer.echo(f"From {targets.label(names, ev.address)} icmp_seq={ev.seq} {ev.text}")

        if not as_json:
            address, src = handle.route(a, b, family)
            typer.echo(f"PING {b} ({address}) from {a} ({src or '?'}): "
                       f"{len(icmp.PAYLOAD)} data bytes")
        result = handle.ping(a, b, count=count, interval=interval, timeout=timeout,
                             family=family, on_event=None if as_json else show)
        if as_json:
            emit_json(result.to_dict())
        else:
            for e in result.errors:
                if e.type < 0:
                    typer.echo(e.text)
            typer.echo(f"\n--- {b} ping statistics ---")
            for line in result.summary_lines():
                typer.echo(line)
    raise typer.Exit(0 if result.ok else 1)


def trace(a: SrcArg, b: DstArg, lab: LabOpt = None,
          max_hops: Annotated[int, typer.Option("--max-hops", "-m", min=1, max=64)] = 16,
          timeout: TimeoutOpt = 1.0, v6: Family6 = False, as_json: JsonOpt = False) -> None:
    """Traceroute from node A to B: each hop as node name and address."""
    with friendly_errors():
        handle = attached(lab, "trace")
        result = handle.trace(a, b, max_hops=max_hops, timeout=timeout,
                              family=6 if v6 else None)
        if as_json:
            emit_json(result.to_dict())
        else:
            typer.echo(f"trace from {a} to {b} ({result.address}), {max_hops} hops max")
            for h in result.hops:
                if h.address is None:
                    typer.echo(f"{h.ttl:>2}  *" + (f"  {h.note}" if h.note else ""))
                    continue
                who = f"{h.node} ({h.address})" if h.node else h.address
                note = f"  !{h.note}" if h.note else ""
                typer.echo(f"{h.ttl:>2}  {who}  {h.rtt_ms:.3f} ms{note}")
            if not result.reached:
                typer.echo(f"{b} not reached")
    raise typer.Exit(0 if result.reached else 1)


def probe(a: SrcArg, b: DstArg, lab: LabOpt = None,
          tcp: Annotated[int | None, typer.Option("--tcp", min=1, max=65535,
                                                  help="TCP port: send a SYN.")] = None,
          udp: Annotated[int | None, typer.Option("--udp", min=1, max=65535,
                                                  help="UDP port: send a datagram.")] = None,
          timeout: TimeoutOpt = 1.0, v6: Family6 = False, as_json: JsonOpt = False) -> None:
    """TCP SYN or UDP probe from A to B:PORT; exit 0 if open or answered."""
    with friendly_errors():
        if (tcp is None) == (udp is None):
            raise UsageError("give exactly one of --tcp PORT or --udp PORT")
        proto, port = ("tcp", tcp) if tcp is not None else ("udp", udp)
        assert port is not None
        result = attached(lab, "probe").probe(a, b, proto, port, timeout=timeout,
                                              family=6 if v6 else None)
        if as_json:
            emit_json(result.to_dict())
        else:
            rtt = f", {result.rtt_ms:.3f} ms" if result.rtt_ms is not None else ""
            typer.echo(f"{proto}/{port} {a} -> {b} ({result.address}): {result.state} "
                       f"({result.detail}{rtt})")
    raise typer.Exit(0 if result.ok else 1)


def pingall(lab: LabOpt = None, timeout: TimeoutOpt = 1.0, as_json: JsonOpt = False) -> None:
    """Reachability matrix between all nodes, all pairs in parallel; exit 0 if all reach."""
    with friendly_errors():
        result = attached(lab, "pingall").pingall(timeout=timeout)
        if as_json:
            emit_json(result.to_dict())
        else:
            _print_matrix(result)
    raise typer.Exit(0 if result.ok else 1)


def _print_matrix(result: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    names = result.nodes
    width = 14 + sum(max(3, len(n)) + 3 for n in names)
    if width <= console.width:
        table = Table(title=f"pingall: lab {escape(result.lab)}  (rows: from, columns: to)")
        table.add_column("from \\ to", style="bold")
        for n in names:
            table.add_column(escape(n), justify="center")
        for s in names:
            cells = ["·" if s == d else ("[green]✓[/]" if result.reached[s][d] else "[red]✗[/]")
                     for d in names]
            table.add_row(escape(s), *cells)
    else:  # too wide for a matrix: one row per source
        table = Table(title=f"pingall: lab {escape(result.lab)}")
        table.add_column("from", style="bold")
        table.add_column("reached", justify="right")
        table.add_column("unreachable")
        for s in names:
            row = result.reached[s]
            bad = [d for d, ok in row.items() if not ok]
            table.add_row(escape(s), f"{len(row) - len(bad)}/{len(row)}",
                          "[red]" + escape(", ".join(bad)) + "[/]" if bad else "[green]none[/]")
    console.print(table)
    loss = 100.0 * (1 - result.ok_pairs / result.pairs) if result.pairs else 0.0
    console.print(f"{result.ok_pairs}/{result.pairs} pairs reachable ({loss:.0f}% dropped) "
                  f"in {result.elapsed_s:.3f} s")


def check(file: Annotated[str | None, typer.Argument(
              help="The deployed lab's bundled name or topology file (its expect tables"
                   " are used; a file's path has a '/' or ends in .toml), or the name of"
                   " a deployed lab (its saved expectations).",
              show_default=False)] = None,
          lab: LabOpt = None, as_json: JsonOpt = False,
          junit: Annotated[Path | None, typer.Option(
              "--junit", help="Also write the results as JUnit XML to this file.")] = None,
          csv: Annotated[Path | None, typer.Option(
              "--csv", help="Also write one CSV row per expectation (index, title, result,"
                            " points, score, hint, seen) to this file.")] = None,
          gradescope: Annotated[Path | None, typer.Option(
              "--gradescope", help="Also write Gradescope's results.json (score,"
                                   " max_score, one test per expectation) to this file.")
          ] = None,
          ) -> None:
    """Run the lab's expectations (expect tables) against it; exit 1 if any fails."""
    with friendly_errors():
        require_root("check")
        report = run_check(file, lab, as_json=as_json, junit=junit, csv=csv,
                           gradescope=gradescope)
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    app.command("ping")(ping)
    app.command("trace")(trace)
    app.command("probe")(probe)
    app.command("pingall")(pingall)
    app.command("check")(check)
