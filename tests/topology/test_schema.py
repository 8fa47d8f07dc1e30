"""`netlab schema` is a valid JSON Schema that accepts every bundled topology."""

from __future__ import annotations

import copy
import json
import tomllib

import jsonschema
import pytest

from tests.support import REPO
from tests.support.cli import netlab

TOPOLOGIES = sorted((REPO / "topologies").glob("*.toml"))


@pytest.fixture(scope="module")
def validator(request: pytest.FixtureRequest) -> jsonschema.protocols.Validator:
    mp = pytest.MonkeyPatch()
    try:
        run = netlab(mp, "schema")
    finally:
        mp.undo()
    assert run.code == 0
    schema = json.loads(run.stdout)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_bundled_topologies_validate(path, validator) -> None:
    errors = [e.message for e in validator.iter_errors(tomllib.loads(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize("where", ["top", "lab", "node", "link", "expect"])
def test_unknown_key_fails(where: str, validator) -> None:
    data = tomllib.loads((REPO / "topologies" / "natgw.toml").read_text())
    bad = copy.deepcopy(data)
    {"top": bad, "lab": bad["lab"], "node": bad["nodes"]["gw"], "link": bad["links"][0],
     "expect": bad["expect"][0]}[where]["colour"] = "red"
    assert validator.is_valid(data)
    assert not validator.is_valid(bad)


def test_wrong_types_fail(validator) -> None:
    base = {"lab": {"name": "t2s"}}
    assert validator.is_valid(base)
    assert not validator.is_valid({})  # [lab] is required
    assert not validator.is_valid({"lab": {"name": "t2s", "routing": "isis"}})
    assert not validator.is_valid({**base, "defaults": {"ipv6": "yes"}})
    assert not validator.is_valid({**base, "links": [{"endpoints": ["a"]}]})


def test_schema_has_descriptions_for_editors(validator) -> None:
    props = validator.schema["$defs"]["Node"]["properties"]
    assert all(p.get("description") for p in props.values())
    assert "null" not in json.dumps(validator.schema)  # TOML has no null
