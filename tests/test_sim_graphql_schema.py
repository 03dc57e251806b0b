"""The simulator's GraphQL SDL is a faithful subset of GitHub's schema (shared/github subset).

So a query that the simulator accepts is also valid against api.github.com: every type, field,
argument, input field and enum value we serve exists there with the same type (and the same
default), and every argument or input field GitHub requires is one we require too.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeDefinitionNode,
    parse,
    print_ast,
)

from ailab.sync.simulator.graphql_api import schema

GITHUB_REF = Path(__file__).resolve().parents[2] / "shared" / "github"


def _ours() -> DocumentNode:
    return parse(
        resources.files("ailab.sync.simulator").joinpath("schema.graphql").read_text(encoding="utf-8")
    )


@pytest.fixture(scope="module")
def reference() -> dict[str, TypeDefinitionNode]:
    path = GITHUB_REF / "graphql-subset.graphql"
    if not path.is_file():
        pytest.skip(f"GitHub reference {path} is absent; the SDL comparison needs it")
    return {d.name.value: d for d in parse(path.read_text()).definitions if isinstance(d, TypeDefinitionNode)}


def _typ(node: InputValueDefinitionNode | FieldDefinitionNode) -> str:
    return print_ast(node.type)


def _default(node: InputValueDefinitionNode) -> str | None:
    return None if node.default_value is None else print_ast(node.default_value)


def _required(values: tuple[InputValueDefinitionNode, ...]) -> set[str]:
    return {v.name.value for v in values if isinstance(v.type, NonNullTypeNode) and v.default_value is None}


def _check_inputs(
    where: str, ours: tuple[InputValueDefinitionNode, ...], ref: tuple[InputValueDefinitionNode, ...]
) -> list[str]:
    problems = []
    ref_by_name = {v.name.value: v for v in ref}
    for value in ours:
        theirs = ref_by_name.get(value.name.value)
        if theirs is None:
            problems.append(f"{where}.{value.name.value} is not in GitHub's schema")
        elif (_typ(value), _default(value)) != (_typ(theirs), _default(theirs)):
            problems.append(
                f"{where}.{value.name.value}: ours {_typ(value)} = {_default(value)}, "
                f"GitHub's {_typ(theirs)} = {_default(theirs)}"
            )
    missing = _required(ref) - {v.name.value for v in ours}
    problems += [f"{where}.{name} is required by GitHub but missing here" for name in sorted(missing)]
    return problems


def test_sdl_is_a_subset_of_githubs(reference: dict[str, TypeDefinitionNode]) -> None:
    problems: list[str] = []
    for definition in _ours().definitions:
        assert isinstance(definition, TypeDefinitionNode)
        name = definition.name.value
        ref = reference.get(name)
        if ref is None or type(ref) is not type(definition):
            problems.append(f"type {name} ({type(definition).__name__}) is not in GitHub's schema as such")
            continue
        if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            assert isinstance(ref, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode)
            ours_ifaces = {i.name.value for i in definition.interfaces or ()}
            problems += [
                f"{name} implements {i} only here"
                for i in ours_ifaces - {i.name.value for i in ref.interfaces or ()}
            ]
            ref_fields = {f.name.value: f for f in ref.fields or ()}
            for field in definition.fields or ():
                theirs = ref_fields.get(field.name.value)
                if theirs is None:
                    problems.append(f"{name}.{field.name.value} is not in GitHub's schema")
                    continue
                if _typ(field) != _typ(theirs):
                    problems.append(f"{name}.{field.name.value}: ours {_typ(field)}, GitHub's {_typ(theirs)}")
                problems += _check_inputs(
                    f"{name}.{field.name.value}", field.arguments or (), theirs.arguments or ()
                )
        elif isinstance(definition, InputObjectTypeDefinitionNode):
            assert isinstance(ref, InputObjectTypeDefinitionNode)
            problems += _check_inputs(name, definition.fields or (), ref.fields or ())
        elif isinstance(definition, EnumTypeDefinitionNode):
            assert isinstance(ref, EnumTypeDefinitionNode)
            extra = {v.name.value for v in definition.values or ()} - {v.name.value for v in ref.values or ()}
            problems += [f"{name}.{v} is not a GitHub enum value" for v in sorted(extra)]
        else:
            assert isinstance(definition, ScalarTypeDefinitionNode)
    assert problems == []


def test_schema_builds_and_serves_the_brief() -> None:
    built = schema()
    query = built.query_type
    mutation = built.mutation_type
    assert query is not None and mutation is not None
    assert {"repository", "node", "nodes", "rateLimit"} <= set(query.fields)
    assert {
        "createIssue", "updateIssue", "closeIssue", "reopenIssue", "addLabelsToLabelable",
        "removeLabelsFromLabelable", "createLabel", "addBlockedBy", "removeBlockedBy",
    } <= set(mutation.fields)  # fmt: skip


def test_package_never_reads_the_shared_reference() -> None:
    """Import, build the schema and answer a query while an audit hook records every file opened."""
    script = textwrap.dedent(
        """
        import sys
        opened = []
        sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
        import asyncio, httpx
        from ailab.sync.simulator import create_app
        async def main():
            app = create_app()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
                r = await c.post("/graphql", json={"query": "{ rateLimit { cost } }"})
                assert r.status_code == 200, r.text
        asyncio.run(main())
        print("\\n".join(p for p in opened if "shared" in p and "github" in p))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == ""
