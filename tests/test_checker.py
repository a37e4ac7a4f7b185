"""The two-phase checker: a corpus of broken documents, each with its expected code and JSON
path; the shipped definitions are clean; the meta-schemas are themselves valid; ``scrm check``."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from scrm.cli import cli
from scrm.config import REPO_ROOT
from scrm.data.tables import physical_names
from scrm.meta.checker import Checker
from scrm.meta.documents import DefinitionSet, Document, definition_files, load_files
from scrm.meta.problems import CODES
from scrm.meta.structure import KINDS, StructureChecker, load_metaschema
from scrm.plugins.manager import Plugins

CORPUS = json.loads((Path(__file__).parent / "corpus" / "broken.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def checker():
    return Checker(Plugins(load_entry_points=False).field_types, physical_names)


@pytest.fixture(scope="module")
def shipped():
    docs, problems = load_files(definition_files(REPO_ROOT), base=REPO_ROOT)
    assert not problems
    out = DefinitionSet()
    for d in docs:
        out.add(d)
    return out


@pytest.mark.parametrize("case", CORPUS, ids=[c["case"] for c in CORPUS])
def test_broken_document_gets_its_code_at_its_path(checker, shipped, case):
    doc = case["document"]
    kind = doc.get("kind")
    name = doc.get("name", "x")
    _normalised, problems = checker.check_set(shipped.replaced(Document(kind, name, doc)), only={(kind, name)})
    found = {(p.code, p.path) for p in problems}
    assert (case["code"], case["path"]) in found, sorted(found)
    for p in problems:
        assert p.message and "\n" not in p.message and "Traceback" not in p.message
        assert p.code in CODES


def _nested(levels: int) -> dict:
    node = {"field": "n", "op": "is_null"}
    for _ in range(levels):
        node = {"not": node}
    return node


@pytest.mark.parametrize(
    "condition, refused",
    [
        (_nested(11), False),  # 12 levels: the limit
        (_nested(12), True),
        ({"all": [{"any": [{"field": "n", "op": "is_null"}] * 98}] * 2}, False),  # 199 nodes
        ({"all": [{"any": [{"field": "n", "op": "is_null"}] * 100}] * 2}, True),
    ],
    ids=["12 levels", "13 levels", "199 nodes", "203 nodes"],
)
def test_conditions_beyond_the_limits_are_refused(checker, shipped, condition, refused):
    doc = {
        "kind": "entity",
        "name": "probe",
        "label": "Probe",
        "fields": [{"name": "n", "type": "integer"}],
        "constraints": [{"name": "ck", "type": "check", "assert": condition, "message": "m"}],
    }
    _normalised, problems = checker.check_set(
        shipped.replaced(Document("entity", "probe", doc)), only={("entity", "probe")}
    )
    expected = [("E-COND-006", "$.constraints[0].assert")] if refused else []
    assert [(p.code, p.path) for p in problems] == expected


def test_shipped_definitions_are_clean(checker):
    _docs, problems = checker.check_files(REPO_ROOT)
    assert [p.line() for p in problems] == []


def test_meta_schemas_are_valid_json_schema(checker):
    for kind in KINDS:
        Draft202012Validator.check_schema(load_metaschema(kind))
    Draft202012Validator.check_schema(load_metaschema("common"))
    Draft202012Validator.check_schema(StructureChecker(checker.field_types).schemas["entity"])


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "text",
        3,
        {"kind": 5},
        {"kind": "entity", "name": 5, "fields": "x"},
        {"kind": "form", "name": "f", "entity": "customer", "layout": {"type": "tabs", "items": [1, None]}},
        {"kind": "entity", "name": "e", "label": "E", "fields": [{"name": "a", "type": "ref"}]},
        {"kind": "entity", "name": "e", "label": "E", "fields": [None, {"name": "b", "type": "string"}]},
    ],
)
def test_odd_input_never_crashes_the_checker(checker, shipped, doc):
    problems = checker.structure.check(doc)
    assert problems
    if isinstance(doc, dict) and isinstance(doc.get("kind"), str) and isinstance(doc.get("name"), str):
        checker.check_set(shipped.replaced(Document(doc["kind"], doc["name"], doc)), only={(doc["kind"], doc["name"])})


def test_every_code_is_documented():
    doc = (REPO_ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    missing = [code for code in CODES if f"`{code}`" not in doc]
    assert missing == []


def test_cli_check_exits_0_on_shipped_and_1_on_broken(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["check"])
    assert ok.exit_code == 0, ok.output
    broken = tmp_path / "probe.json"
    broken.write_text(
        json.dumps(
            {
                "kind": "entity",
                "name": "probe",
                "label": "P",
                "fields": [{"name": "a", "type": "strng"}, {"name": "b", "type": "ref", "target": "nope"}],
            }
        )
    )
    bad_json = tmp_path / "bad.json"
    shutil.copy(Path(__file__).parent / "corpus" / "not_json.json.txt", bad_json)
    result = runner.invoke(cli, ["check", str(broken), str(bad_json)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any("$.fields[0].type: E-SCHEMA-004" in line for line in lines), lines
    assert any("bad.json: $: E-FILE-001" in line for line in lines), lines
    assert "Traceback" not in result.output


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**20) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
KEYS = [
    "label",
    "fields",
    "type",
    "layout",
    "entity",
    "items",
    "field",
    "options",
    "op",
    "value",
    "all",
    "any",
    "not",
    "target",
    "states",
    "transitions",
    "datasets",
    "widgets",
    "permissions",
    "relations",
]
documents = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["entity", "form", "role", "workflow", "alert", "dashboard", "other"]),
        "name": st.sampled_from(["probe", "Probe", "customer", "x" * 70]),
    },
    optional={k: json_values for k in KEYS},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_random_documents_never_crash_the_checker(checker, shipped, doc):
    _normalised, problems = checker.check_set(
        shipped.replaced(Document(doc["kind"], doc["name"], doc)), only={(doc["kind"], doc["name"])}
    )
    for p in problems:
        assert p.code in CODES and p.path.startswith("$") and p.message
