"""Firewall text cannot leave netlab's table or read files (issue 10, item 5).

Every entry of INJECTIONS passed the old check (a tokenizer that read `\\"` as an escape
and strings as one-line) and, but for the two marked, really escapes netlab's table or
reads a file when nft loads it. Now netlab's tokenizer lexes as nft does, and nft itself
checks each firewall in a scratch namespace as an unprivileged user.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.backends.kernel import tc
from netlab.compile import firewall
from netlab.compile.compiler import compile_topology
from netlab.errors import NetlabError, TopologyError
from netlab.linux import nft
from netlab.plan.model import NatPlan, PortForwardPlan
from netlab.plan.render import nft_ruleset
from netlab.topology.loader import parse
from tests.support import REPO

HOOK = "type filter hook input priority 0 ;"
ESCAPE = f"table ip injected {{ chain d {{ {HOOK} }} ; }}"
REOPEN = "table inet netlab_fw { chain z {"
SECRET = "/nonexistent/netlab-secret"  # where the include variants point (tests swap it)


def chain(rule: str, tail: str = "") -> str:
    return f"chain c {{\n    {HOOK}\n    {rule}\n{tail}}}"


INJECTIONS = {
    # The report's text, word for word (nft finds `{...}` a syntax error, so it escapes
    # nothing; the next one is the same with a table nft accepts).
    "exact": chain(r'counter comment "x\" ; } ; } ; table ip injected {...} ; table inet'
                   r' netlab_fw { chain z { #"'),
    "exact-working": chain(rf'counter comment "x\" ; }} ; }} ; {ESCAPE} ; {REOPEN} #"'),
    # nft strings may span lines: the old check saw the next line as code, hidden in a
    # "string" or a "# comment" that nft never sees.
    "newline-in-string": chain('counter comment "a', f'" ; }} ; }} ; {ESCAPE} ; {REOPEN}'
                               ' comment "\n" ;\n'),
    "hash-comment-braces": chain('counter comment "a', f'# " ; }} ; }} ; {ESCAPE} ; {REOPEN}\n'),
    "brace-in-string": chain(r'counter comment "}\" ; } ; } ; ' + ESCAPE + f' ; {REOPEN} #"'),
    "backslash-before-quote": chain(r'counter comment "C:\temp\" ; } ; } ; ' + ESCAPE
                                    + f' ; {REOPEN} comment "\\"'),
    "include-spacing": chain(r'counter comment "x\" ; } ;   include' + '\t  '
                             + f'"{SECRET}" ;\ttable inet netlab_fw {{ chain z {{ #"'),
    # nft's keywords are case-sensitive, so this reads nothing; refused all the same.
    "include-case": chain(rf'counter comment "x\" ; }} ; Include "{SECRET}" ; chain z {{ #"'),
    # nft splits "1dinclude" into the time "1d" and the keyword `include`.
    "include-after-number": chain(f'1dinclude "{SECRET}"'),
    "flush-ruleset": chain(rf'counter comment "x\" ; }} ; }} ; flush ruleset ; {REOPEN} #"'),
    "delete-table": chain(rf'counter comment "x\" ; }} ; }} ; delete table ip filter ;'
                          f' {REOPEN} #"'),
    "add-table": chain(rf'counter comment "x\" ; }} ; }} ; add table ip injected ; {REOPEN} #"'),
}
VALID = ('\n\n  chain forward {\n    type filter hook forward priority filter; policy drop;\n'
         '    ct state established,related accept   # replies\n'
         '    iif eth0 accept comment "inside {, } and # are text"\n'
         '    oifname "eth1" tcp dport 80 accept\n  }\n')


def topo(body: str, name: str = "t10fw") -> str:
    """A router with the firewall `body`, as a TOML literal string (backslashes kept)."""
    assert "'''" not in body
    return f"""
[lab]
name = "{name}"
[nodes.a]
[nodes.gw]
kind = "router"
firewall = '''{body}'''
[nodes.b]
[[links]]
endpoints = ["a", "gw:eth0"]
[[links]]
endpoints = ["gw:eth1", "b"]
"""


def compile_text(text: str):  # type: ignore[no-untyped-def]
    return compile_topology(parse(text, "t.toml"), "t.toml")


def errors_of(body: str) -> list[str]:
    with pytest.raises(TopologyError) as err:
        compile_text(topo(body))
    assert {p.path for p in err.value.problems if p.severity == "error"} == {"nodes.gw.firewall"}
    return [p.message for p in err.value.problems if p.severity == "error"]


needs_nft = pytest.mark.skipif(not nft.available(), reason="needs nftables (libnftables)")


# -- netlab's tokenizer: nft's lexing ------------------------------------------------------

def test_tokens_are_nft_s_no_escapes_multiline_strings_comments_to_line_end() -> None:
    toks = [t for _, _, t in firewall.tokens('a "x\\" b" c # d "e\n"f\ng" {')]
    assert toks == ["a", '"x\\"', "b", '" c # d "', "e", '"f\ng"', "{"]
    # A quote never closed is one character; what follows it is code, as in nft.
    assert [t for _, _, t in firewall.tokens('x " }')] == ["x", '"', "}"]
    assert [line for _, line, _ in firewall.tokens('"a\nb" c\nd')] == [1, 2, 3]


@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_every_injection_is_an_error_of_the_firewall_key(case: str) -> None:
    assert errors_of(INJECTIONS[case])


@pytest.mark.parametrize("text", ["include", "INCLUDE", "x1include", "redefine", "undefine",
                                  "rulesets"])
def test_words_that_read_files_or_define_are_refused_inside_any_word(text: str) -> None:
    assert any("is not allowed here" in m for m in errors_of(chain(f'{text} "/x"')))


def test_control_characters_and_open_strings_are_errors() -> None:
    for c in "\r\x00\x1b\x7f":  # TOML escapes can put these in a firewall
        assert any("control character" in p.message and p.severity == "error"
                   for p in firewall.problems(chain(f"accept{c}")))
    assert any("never closed" in m for m in errors_of(chain('counter comment "open')))


def test_render_splits_lines_where_nft_does() -> None:
    """U+2028 is no line end to nft: a `# comment` runs on over it. Splitting there (as
    str.splitlines does) turned the rest into rules nft loads outside netlab's table."""
    body = chain(f"counter # x\u2028 }} ; }} ; {ESCAPE} ; {REOPEN}")
    assert firewall.problems(body) == []
    text = firewall.render(body)
    assert "\u2028" in text and text.count("\n") == body.count("\n") + 3  # + netlab's 3
    if nft.available():
        assert nft.sandbox({"x": text})["x"] == nft.Verdict(True)


# -- nft's own parser, in a scratch namespace ----------------------------------------------

@needs_nft
def test_valid_firewall_passes_nft_in_the_scratch_namespace() -> None:
    c = compile_text(topo(VALID))
    assert [p for p in c.warnings if p.path == "nodes.gw.firewall"] == []
    assert "table inet netlab_fw {" in (c.plan.node("gw").nftables or "")


@needs_nft
def test_nft_syntax_error_names_the_firewall_line_with_a_caret() -> None:
    body = VALID.replace("    oifname", "    oifname \"eth1\" tcp dprt 80 accept\n    oifname")
    (msg,) = errors_of(body)
    head, src, caret = msg.split("\n")
    # Line 6 of the text as TOML gives it (a blank line first: TOML drops the newline
    # right after the opening quotes), not the line nft saw in the wrapped text.
    assert head == "line 6: nft: syntax error, unexpected string", msg
    assert src == '        oifname "eth1" tcp dprt 80 accept'
    assert caret == " " * src.index("dprt") + "^^^^"  # right under the word


@needs_nft
def test_every_problem_at_once_over_several_nodes() -> None:
    bad = chain("tcp dport 80 acept")
    text = topo(bad).replace("[nodes.b]", f"[nodes.b]\nfirewall = '''{bad}'''")
    with pytest.raises(TopologyError) as err:
        compile_text(text)
    paths = sorted(p.path for p in err.value.problems if p.severity == "error")
    assert paths == ["nodes.b.firewall", "nodes.gw.firewall"]


@needs_nft
def test_one_child_process_checks_every_firewall(monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    real = os.fork

    def counting() -> int:
        forks.append(1)
        return real()

    monkeypatch.setattr(os, "fork", counting)
    text = topo(VALID).replace("[nodes.a]", f"[nodes.a]\nfirewall = '''{VALID}'''")
    text = text.replace("[nodes.b]", f"[nodes.b]\nfirewall = '''{VALID}'''")
    compile_text(text)
    assert len(forks) == 1


@needs_nft
@pytest.mark.parametrize("case", ["exact-working", "newline-in-string", "add-table"])
def test_the_scratch_namespace_sees_a_foreign_table(case: str, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    # Behind a tokenizer that missed it, nft's own listing still catches the escape.
    monkeypatch.setattr(firewall, "problems", lambda body, ifnames=None: [])
    msgs = errors_of(INJECTIONS[case])
    assert any(m.startswith("line ") and "table ip injected outside netlab's table" in m
               for m in msgs), msgs


@needs_nft
@pytest.mark.parametrize("case", ["flush-ruleset", "delete-table"])
def test_the_scratch_namespace_sees_a_flush_or_delete(case: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firewall, "problems", lambda body, ifnames=None: [])
    if case == "delete-table":  # delete the guard itself, the table nft must leave alone
        body = INJECTIONS[case].replace("table ip filter", "table ip netlab_guard")
    else:
        body = INJECTIONS[case]
    assert any(m.startswith("line 3: ") and "delete or flush tables outside" in m
               for m in errors_of(body))


@needs_nft
def test_no_text_netlab_passes_escapes_in_nft() -> None:
    """Random mixes of the injection's pieces: whatever netlab's own check lets through,
    nft loads inside netlab's table only (seeded; a few hundred texts, one child)."""
    pieces = [f" ; }} ; }} ; {ESCAPE} ; {REOPEN} ", '"', '\\"', "\\", "#", "\n", " ; ",
              ' comment "', '"x"', " } ", " { ", " flush ruleset ", " ; } ; } ; ", REOPEN,
              " add table ip injected "]
    rng = random.Random(10)
    texts: dict[str, str] = {}
    while len(texts) < 300:
        body = chain('counter comment "a' + "".join(
            rng.choice(pieces) for _ in range(rng.randint(1, 8))))
        if not [p for p in firewall.problems(body) if p.severity == "error"]:
            texts[f"t{len(texts)}"] = firewall.render(body)
    verdicts = nft.sandbox(texts)
    assert sum(v.ok for v in verdicts.values()) > 100  # many are valid nft: a real test
    assert {k: v for k, v in verdicts.items() if v.foreign or v.lost} == {}


@pytest.fixture
def secret_file() -> Iterator[tuple[str, str]]:
    """A root-only file (0600) holding a secret line, in a directory anyone may enter
    (pytest's own tmp_path is 0700: nobody would not even find the file)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (a file only root may read)")
    d = Path(tempfile.mkdtemp(prefix="netlab-t10-", dir="/tmp"))
    try:
        d.chmod(0o755)
        path = d / "secret"
        word = "SECRET-" + os.urandom(6).hex()
        path.write_text(f"{word}\n")
        path.chmod(0o600)
        yield str(path), word
    finally:
        shutil.rmtree(d)


@needs_nft
def test_nft_in_the_scratch_namespace_cannot_read_root_s_files(
        secret_file: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with both include guards gone, the checker is nobody: nft cannot read it."""
    path, word = secret_file
    monkeypatch.setattr(nft, "include_problem", lambda text: None)
    readable = Path(path).with_name("public")
    readable.write_text("table ip leaked { }\n")
    readable.chmod(0o644)
    verdicts = nft.sandbox({"secret": f'include "{path}"\n', "public": f'include "{readable}"\n'})
    assert word not in repr(verdicts)
    assert not verdicts["secret"].ok and "Permission denied" in verdicts["secret"].errors
    # The control: a file anyone may read is read, and shows up as a foreign table.
    assert verdicts["public"].foreign == ["table ip leaked"]


@needs_nft
def test_the_checker_inherits_no_file_descriptors(
        secret_file: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path, word = secret_file
    monkeypatch.setattr(nft, "include_problem", lambda text: None)
    fd = os.open(path, os.O_RDONLY)
    try:
        verdicts = nft.sandbox({"fd": f'include "/proc/self/fd/{fd}"\n'})
    finally:
        os.close(fd)
    assert word not in repr(verdicts) and not verdicts["fd"].ok


@needs_nft
@pytest.mark.root
def test_include_never_reaches_nft(secret_file: tuple[str, str]) -> None:
    path, word = secret_file
    verdicts = nft.sandbox({"x": f'include "{path}"\n'})
    assert not verdicts["x"].ok and "would make nft read another file" in verdicts["x"].errors
    assert word not in repr(verdicts)
    with pytest.raises(NetlabError, match="reads files") as err:
        nft.run(f'include "{path}"\n', None)
    assert word not in str(err.value)


def test_without_nftables_validate_warns_once_and_still_checks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nft, "_lib", lambda: None)
    text = topo(VALID).replace("[nodes.b]", f"[nodes.b]\nfirewall = '''{VALID}'''")
    c = compile_text(text)
    warned = [p for p in c.warnings if "not checked by nftables" in p.message]
    assert len(warned) == 1 and "nftables" in warned[0].fix
    assert "b, gw" in warned[0].message
    assert errors_of(INJECTIONS["exact-working"])  # netlab's own checks still run


def test_without_user_namespaces_validate_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    if not nft.available():
        pytest.skip("needs nftables")

    def refuse(flags: int) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(nft, "unshare", refuse)  # in the forked child
    c = compile_text(topo(VALID))
    (warned,) = [p for p in c.warnings if "not checked by nftables" in p.message]
    assert "no user namespace" in warned.message


# -- names netlab writes into nft text ------------------------------------------------------

@pytest.mark.parametrize("bad", ['eth0" ; flush ruleset ; #', "eth0\n", "ETH0", "a b", ""])
def test_generated_nft_text_refuses_names_that_are_not_interface_names(bad: str) -> None:
    with pytest.raises(firewall.UnsafeNftText):
        nft_ruleset(NatPlan(masquerade=[bad]))
    if bad:  # on="" is no `iifname` at all
        fwd = PortForwardPlan(proto="tcp", port=80, to_addr="10.0.0.2", to_port=80, on=bad)
        with pytest.raises(firewall.UnsafeNftText):
            nft_ruleset(NatPlan(forward=[fwd]))
    with pytest.raises(firewall.UnsafeNftText):
        tc.loss_ruleset(bad, 5.0)


def test_generated_port_forwards_refuse_what_is_not_an_address_or_port() -> None:
    ok = PortForwardPlan(proto="tcp", port=80, to_addr="10.0.0.2", to_port=8080, on="eth0")
    assert 'iifname "eth0" tcp dport 80 dnat to 10.0.0.2:8080' in nft_ruleset(NatPlan(
        forward=[ok]))
    for bad in (ok.model_copy(update={"to_addr": "10.0.0.2 ; flush ruleset"}),
                ok.model_copy(update={"to_port": 0}), ok.model_copy(update={"proto": "ip"})):
        with pytest.raises(firewall.UnsafeNftText):
            nft_ruleset(NatPlan(forward=[bad]))


def test_host_table_names_from_state_are_refused() -> None:
    from netlab.backends.kernel import uplink

    assert uplink.table_name("lab1") == "netlab-lab1"
    with pytest.raises(firewall.UnsafeNftText):
        uplink.table_name("x ; flush ruleset")
    with pytest.raises(NetlabError):
        nft.delete_host_table("ip", "x ; flush ruleset")
    with pytest.raises(NetlabError):
        nft.host_table_exists("ip ; flush ruleset", "x")


def test_one_nftables_driver() -> None:
    """libnftables is opened in one module, and no code runs the `nft` binary."""
    root = REPO / "netlab"
    users = {str(p.relative_to(root)) for p in root.rglob("*.py")
             if "libnftables" in p.read_text() and "CDLL" in p.read_text()}
    assert users == {"linux/nft.py"}
    # `nft` as a program to run: an argv starting with it, or a lookup on PATH (a table
    # mapping program names to packages, as the importer has, names it harmlessly).
    argv = re.compile(r'[\[(]\s*"nft"\s*,|which\(\s*"nft"')
    for p in root.rglob("*.py"):
        assert not argv.search(p.read_text()), p
