"""Fixtures of the web tests that open the page: the server over the module's `lab`,
and a browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netlab.plan.model import Plan
from tests.web.browser import Browser


@pytest.fixture(scope="module")
def url(lab: Plan) -> Iterator[str]:
    from netlab.web.server import Background, make_app
    from netlab.web.source import ApiSource

    server = Background(make_app(ApiSource(), "test-token"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.close()
