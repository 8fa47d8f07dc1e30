"""docs/labs/failover.md's "Watch it in the web view", in a real headless browser: the
bundled OSPF failover lab, the last `netlab check` shown when the page opens, then
`netlab link r1 r2 down` and Check: the path drawn for pc1 -> pc2 goes through r3."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from netlab.topology import library
from tests.support.cli import run
from tests.web.browser import Browser, missing
from tests.web.shared import edge_of

if TYPE_CHECKING:
    from netlab.plan.model import Plan

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(missing() is not None, reason=f"no browser: {missing()}")]


@pytest.fixture(scope="module")
def lab(deploy) -> Plan:  # type: ignore[no-untyped-def]
    text = library.find("failover").path.read_text()
    assert text.count('name = "failover"') == 1
    return deploy(text.replace('name = "failover"', 'name = "{name}"'))





def _pc1_pc2(browser: Browser) -> dict[str, Any] | None:
    """The page's shown check: its origin, time, and the pc1 -> pc2 path expectation."""
    return browser.js(  # type: ignore[no-any-return]
        "if (!checkData) return null;"
        " const r = checkData.results.find(x => x.title.includes('pc1 -> pc2'));"
        " return r ? {origin: checkData.origin, at: checkData.at, passed: r.passed,"
        " path: r.path} : null;")


def test_the_path_moves_to_r3_when_the_primary_is_cut(browser: Browser, url: str,
                                                       lab: Plan) -> None:
    from selenium.webdriver.common.by import By

    env = dict(os.environ)
    # OSPF converges within the expectations' `within` (10 s): the CLI's check passes.
    done = run("check", "--lab", lab.lab, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    browser.open(url, lab.lab)
    # The last `netlab check` is on the page as it opens, its paths traced then.
    before = browser.until(lambda: _pc1_pc2(browser), timeout=30)
    assert before["origin"] == "cli" and before["passed"], before
    assert "by netlab check" in browser.driver.find_element(By.ID, "check-sum").text
    assert "r2" in before["path"]["nodes"] and "r3" not in before["path"]["nodes"]
    assert edge_of(lab, "r1", "r2") in before["path"]["edges"]
    primary = edge_of(lab, "r1", "r2")
    state = f"return cy.getElementById('{primary}').data('state')"
    try:
        done = run("link", "r1", "r2", "down", "--lab", lab.lab, env=env)
        assert done.returncode == 0, done.stderr
        browser.until(lambda: browser.js(state) == "cut", timeout=3)
        # A check in the terminal while the page is open: the page follows within ~1 s.
        done = run("check", "--lab", lab.lab, env=env, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        cli = browser.until(lambda: (a := _pc1_pc2(browser)) and a["at"] > before["at"]
                            and a, timeout=30)
        assert cli["origin"] == "cli"
        _through_r3(browser, lab, cli)
        browser.driver.find_element(By.ID, "check").click()  # and the Check button
        after = browser.until(lambda: (a := _pc1_pc2(browser)) and a["origin"] == "web"
                              and a, timeout=90)
        _through_r3(browser, lab, after)
    finally:
        assert run("link", "r1", "r2", "up", "--lab", lab.lab, env=env).returncode == 0


def _through_r3(browser: Browser, lab: Plan, shown: dict[str, Any]) -> None:
    """The detour: r1 -> r3 -> r2, drawn green on the graph; not the cut link."""
    path = shown["path"]
    assert path is not None and path["reached"], shown
    assert [n for n in path["nodes"] if n in ("r1", "r2", "r3")] == ["r1", "r3", "r2"]
    detour, primary = [edge_of(lab, "r1", "r3"), edge_of(lab, "r3", "r2")], edge_of(lab, "r1", "r2")
    assert all(e in path["edges"] for e in detour) and primary not in path["edges"]
    green = browser.js("return cy.edges('.path-ok').map(e => e.id())")
    assert all(e in green for e in detour) and primary not in green
    assert not shown["passed"]  # it asks for r1 and r2 only: red in the list
