"""The docs follow the model: the key reference is generated and must not be stale."""

from __future__ import annotations

import importlib.util
import re

from pydantic import BaseModel

from netlab.plan import model as plan_module

from .golden import REPO


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_key_reference_is_up_to_date() -> None:
    gen = _gen_docs()
    text = (REPO / "docs" / "topology.md").read_text()
    assert gen.update(text) == text, "docs/topology.md is stale: run python3 scripts/gen_docs.py"


def test_every_key_has_a_description_and_an_example() -> None:
    assert _gen_docs().missing() == []


def test_every_key_is_in_the_reference() -> None:
    gen = _gen_docs()
    text = (REPO / "docs" / "topology.md").read_text()
    for _, model in gen.sections():
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in text


def test_every_plan_key_is_documented() -> None:
    text = (REPO / "docs" / "plan.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", text))
    for obj in vars(plan_module).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == \
                plan_module.__name__:
            for name in obj.model_fields:
                assert name in documented, f"docs/plan.md does not mention {obj.__name__}.{name}"


def test_plan_doc_names_the_format() -> None:
    text = (REPO / "docs" / "plan.md").read_text()
    assert f"now **{plan_module.PLAN_FORMAT}**" in text


def test_readme_links_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / target).exists(), target
