"""The page in a real headless browser (Debian's chromium, driven by selenium), on a
deployed lab: it shows every node, follows `netlab link down` within 2 s, and draws a
failing expectation in red after a check. One browser and one server for the module."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from tests.support.cli import run
from tests.web.browser import Browser, missing
from tests.web.shared import edge_of

if TYPE_CHECKING:
    from netlab.plan.model import Plan

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(missing() is not None, reason=f"no browser: {missing()}")]

# pc1 reaches web through gw; nothing listens on web's tcp/81: [1] fails.
LAB = """
[lab]
name = "{name}"
[nodes.pc1]
[nodes.pc2]
[nodes.gw]
kind = "router"
[nodes.web]
[switches.lan]
[[links]]
endpoints = ["pc1", "lan"]
[[links]]
endpoints = ["pc2", "lan"]
[[links]]
endpoints = ["gw", "lan"]
[[links]]
endpoints = ["gw", "web"]
[[expect]]
from = "pc1"
to = "web"
[[expect]]
from = "pc1"
to = "web"
proto = "tcp"
port = 81
"""


@pytest.fixture(scope="module")
def lab(deploy) -> Plan:  # type: ignore[no-untyped-def]
    return deploy(LAB)





def test_page_shows_every_node(browser: Browser, url: str, lab: Plan) -> None:
    shown = browser.open(url, lab.lab)
    assert shown["nodes"] == len(lab.nodes) + len(lab.switches)
    ids = browser.js("return cy.nodes().map(n => n.id())")
    assert sorted(ids) == sorted([n.name for n in lab.nodes] + [s.name for s in lab.switches])
    assert browser.js("return cy.edges().length") == len(lab.veths)
    assert browser.js("return document.getElementById('lab').value") == lab.lab
    # Live: every wire up, from the kernel.
    states = browser.until(lambda: browser.js(
        "return cy.edges().map(e => e.data('state'))"))
    assert set(states) == {"up"}


def test_link_down_shows_within_two_seconds(browser: Browser, url: str, lab: Plan) -> None:
    browser.open(url, lab.lab)
    edge = edge_of(lab, "gw", "web")
    state = f"return cy.getElementById('{edge}').data('state')"
    assert browser.until(lambda: browser.js(state) == "up")
    try:
        done = run("link", "gw", "web", "down", "--lab", lab.lab, env=dict(os.environ))
        assert done.returncode == 0, done.stderr
        start = time.monotonic()
        browser.until(lambda: browser.js(state) == "cut", timeout=2.0)
        assert time.monotonic() - start <= 2.0
    finally:
        assert run("link", "gw", "web", "up", "--lab", lab.lab,
                   env=dict(os.environ)).returncode == 0
    browser.until(lambda: browser.js(state) == "up", timeout=2.0)


def test_failing_expectation_is_red_after_a_check(browser: Browser, url: str,
                                                   lab: Plan) -> None:
    from selenium.webdriver.common.by import By

    browser.open(url, lab.lab)
    browser.driver.find_element(By.ID, "check").click()
    items = browser.until(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "#expect li"),
                          timeout=30)
    assert len(items) == 2
    ok, bad = items
    assert "pass" in ok.get_attribute("class") and "fail" in bad.get_attribute("class")
    assert "tcp/81" in bad.text
    assert bad.value_of_css_property("color") in ("rgba(220, 38, 38, 1)", "rgb(220, 38, 38)")
    # On the graph: web, where the tcp/81 probe was answered wrongly, is red; the wires
    # pc1 -> lan -> gw -> web that packets crossed are green.
    assert browser.js("return cy.getElementById('web').hasClass('path-bad')")
    green = browser.js("return cy.edges('.path-ok').map(e => e.id())")
    assert sorted(green) == sorted(edge_of(lab, *p) for p in
                                   (("pc1", "lan"), ("gw", "lan"), ("gw", "web")))


def test_actions_from_the_page(browser: Browser, url: str, lab: Plan) -> None:
    """Down and Up on a link, and a command in a node, through the page's buttons (the
    token header, the API): the kernel's `ip` is the witness."""
    import subprocess

    from selenium.webdriver.common.by import By

    browser.open(url, lab.lab)
    edge = edge_of(lab, "gw", "web")
    browser.js(f"const e = cy.getElementById('{edge}'); e.select(); e.emit('tap');")
    gw = lab.node("gw")
    ifname = next(i.name for i in gw.interfaces if i.peer.node == "web")

    def kernel_up() -> bool:
        out = subprocess.run(["ip", "-n", gw.netns, "-o", "link", "show", ifname],
                             capture_output=True, text=True, check=True).stdout
        return "UP" in out.split("<", 1)[1].split(">", 1)[0].split(",")  # <...,UP,...>

    state = f"return cy.getElementById('{edge}').data('state')"
    try:
        browser.driver.find_element(By.ID, "link-down").click()
        browser.until(lambda: browser.js(state) == "cut", timeout=3)
        assert not kernel_up()
    finally:
        browser.driver.find_element(By.ID, "link-up").click()
    browser.until(lambda: browser.js(state) == "up", timeout=3)
    assert kernel_up()
    browser.js("const n = cy.getElementById('pc1'); cy.$(':selected').unselect();"
               " n.select(); n.emit('tap');")
    browser.driver.find_element(By.ID, "exec-cmd").send_keys("hostname; echo done-$((6*7))")
    browser.driver.find_element(By.CSS_SELECTOR, "#exec-form button").click()
    out = browser.until(lambda: "exit 0" in (t := browser.driver.find_element(
        By.ID, "exec-out").text) and t, timeout=10)
    assert "pc1" in out and "done-42" in out
