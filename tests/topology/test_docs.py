"""The docs follow the model: the key reference is generated and must not be stale."""

from __future__ import annotations

import importlib.util
import re

from pydantic import BaseModel

from netlab.plan import model as plan_module
from tests.support import REPO


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


def _plan_doc_sections() -> dict[str, str]:
    """docs/plan.md split at its headings: class name (each backticked name in the
    heading) -> the text of that section."""
    text = (REPO / "docs" / "plan.md").read_text()
    out: dict[str, str] = {}
    for part in re.split(r"^(?=#{2,3} )", text, flags=re.M):
        head = part.split("\n", 1)[0]
        for cls in re.findall(r"`([A-Za-z]+)`", head):
            out[cls] = part
    return out


def test_every_plan_key_is_documented() -> None:
    """Each field of each plan class is named, backticked, in that class's own section
    (a table row, or the row of the list that holds it), not merely somewhere in the file."""
    sections = _plan_doc_sections()
    in_json = _models_in(plan_module.Plan)
    assert {"Plan", "NodePlan", "Interface"} <= {m.__name__ for m in in_json}
    for obj in in_json:
        # A class without a heading of its own (`Peer`, `VethEnd`) is described where
        # it is used: its keys must be named in a section that names the class.
        texts = [sections[obj.__name__]] if obj.__name__ in sections else \
            sorted({t for t in sections.values() if f"`{obj.__name__}`" in t})
        assert texts, f"docs/plan.md: no section names `{obj.__name__}`"
        rows = set(re.findall(r"`([a-z_0-9]+)`", "".join(texts)))
        for name, field in obj.model_fields.items():
            key = field.alias or name
            assert key in rows, f"docs/plan.md, section {obj.__name__}: `{key}` not mentioned"


def _models_in(model: type[BaseModel]) -> list[type[BaseModel]]:
    """`model` and every model its fields hold, recursively: the plan's JSON form."""
    import typing

    out: list[type[BaseModel]] = []
    todo: list[object] = [model]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t not in out:
                out.append(t)
                todo += [f.annotation for f in t.model_fields.values()]
        else:
            todo += typing.get_args(t)
    return out


def _docs_text() -> list[tuple[str, str]]:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    return [(str(f.relative_to(REPO)), f.read_text()) for f in files]


def test_documented_cli_verbs_exist() -> None:
    """Every backticked `netlab <verb>` in README.md and docs/ is a real CLI verb."""
    import typer.main

    from netlab.cli import app

    verbs = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"deploy", "destroy", "validate"} <= verbs  # the lookup itself works
    bad = [(f, v) for f, text in _docs_text()
           for v in re.findall(r"`netlab ([a-z][a-z-]*)", text) if v not in verbs]
    assert bad == [], f"docs name CLI verbs that do not exist: {bad}"


def test_documented_module_paths_exist() -> None:
    """Every backticked `netlab/....py` path in README.md and docs/ exists, and so does
    every module named in docs/architecture.md's tree (paths relative to netlab/)."""
    bad = [(f, m) for f, text in _docs_text()
           for m in re.findall(r"`(netlab/[A-Za-z0-9_/]+\.py)`", text)
           if not (REPO / m).is_file()]
    arch = (REPO / "docs" / "architecture.md").read_text()
    table = []
    for line in arch.splitlines():
        if line.startswith("| `"):
            folder = ""  # "`probes/icmp.py`, `trace.py`": a bare name is in the same folder
            for m in re.findall(r"`([a-z_]+(?:/[a-z_]+)*\.py)`", line.split("|")[1]):
                folder = m.rpartition("/")[0] + "/" if "/" in m else folder
                table.append(m if "/" in m else folder + m)
    assert len(table) > 10  # the tree table is still there and still parsed
    bad += [("docs/architecture.md", m) for m in table if not (REPO / "netlab" / m).is_file()]
    assert bad == [], f"docs name modules that do not exist: {bad}"


def test_plan_doc_names_the_format() -> None:
    text = (REPO / "docs" / "plan.md").read_text()
    assert f"now **{plan_module.PLAN_FORMAT}**" in text


def test_readme_links_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / target).exists(), target
