"""Phase A: structural validation of definition documents against the meta-schemas.

The meta-schemas (JSON Schema 2020-12) live in ``metaschemas/``. The entity schema's field
types and their options come from the registered field types, and the actions' names and
options (``{"do": …}`` in rules and workflows) from the registered actions, so a plugin's field
type or action is validated like a built-in one. Every jsonschema error becomes a
:class:`Problem` with a stable code, the exact JSON path and one translated sentence.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry, Resource

from ..fields import FieldTypes
from ..i18n import _, current_locale, text
from .problems import Problem, problem

METASCHEMAS = Path(__file__).parent / "metaschemas"
KINDS = ("entity", "form", "workflow", "alert", "dashboard", "role")
BASE_URI = "https://scrm.dev/schemas/v1/"
DISCRIMINATORS = ("do", "type")  # the key whose value chooses an object's options: an action's, a field's


def load_metaschema(name: str) -> dict:
    with (METASCHEMAS / f"{name}.json").open(encoding="utf-8") as f:
        return json.load(f)


def entity_metaschema(field_types: FieldTypes) -> dict:
    """The entity meta-schema completed with one ``if/then`` branch per registered field type."""
    schema = load_metaschema("entity")
    schema["$defs"]["fieldType"] = {"enum": field_types.names()}
    branches = []
    for ftype in field_types:
        then = copy.deepcopy(ftype.options_schema) or {}
        branches.append({"if": {"properties": {"type": {"const": ftype.name}}, "required": ["type"]}, "then": then})
    schema["$defs"]["field"]["allOf"] = branches
    return schema


def unresolvable_refs(schema: Any) -> list[str]:
    """The ``$ref``s in a plugin's options schema that point nowhere among the metaschemas (it is
    checked as part of ``common.json``, so a relative reference is read from there)."""
    from referencing.exceptions import Unresolvable

    refs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    if not refs:
        return []
    resources = [(BASE_URI + f"{k}.json", Resource.from_contents(load_metaschema(k))) for k in (*KINDS, "common")]
    resolver = Registry().with_resources(resources).resolver(base_uri=BASE_URI + "common.json")
    missing = []
    for ref in refs:
        try:
            resolver.lookup(ref)
        except Unresolvable:
            missing.append(ref)
    return missing


def builtin_action_options() -> dict[str, dict]:
    """The built-in actions' options schemas, by action name (``common.json#/$defs/actionOptions``)."""
    options = load_metaschema("common")["$defs"]["actionOptions"]
    return {name: {"$ref": f"common.json#/$defs/actionOptions/{name}"} for name in options if name != "$comment"}


def common_metaschema(actions: Mapping[str, Any] | None = None) -> dict:
    """The shared meta-schema with ``do`` limited to the registered actions (name → an object with
    an ``options_schema``; default: the built-ins) and one ``if/then`` branch of options each."""
    schema = load_metaschema("common")
    options = builtin_action_options() if actions is None else {n: a.options_schema for n, a in actions.items()}
    action = schema["$defs"]["action"]
    action["properties"]["do"] = {"enum": list(options)}
    action["allOf"] = [
        {"if": {"properties": {"do": {"const": name}}, "required": ["do"]}, "then": copy.deepcopy(then) or {}}
        for name, then in options.items()
    ]
    return schema


_REMEMBERED: dict[tuple[str, str, str, str | None], tuple[Problem, ...]] = {}


def _locale() -> str:
    """Messages are translated when a problem is made: remember them per language."""
    from flask import has_app_context

    return current_locale() if has_app_context() else ""


@dataclass(eq=False)
class _Validators:
    """The metaschemas and their validators for one set of actions."""

    actions: Any
    schemas: dict[str, dict]

    @cached_property
    def common(self) -> dict:
        return common_metaschema(self.actions)

    @cached_property
    def registry(self) -> Registry:
        resources = [(BASE_URI + "common.json", Resource.from_contents(self.common))]
        resources += [(BASE_URI + f"{k}.json", Resource.from_contents(s)) for k, s in self.schemas.items()]
        return Registry().with_resources(resources)

    @cached_property
    def validators(self) -> dict[str, Draft202012Validator]:
        return {
            kind: Draft202012Validator(
                schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            for kind, schema in self.schemas.items()
        }

    @cached_property
    def fingerprint(self) -> str:
        """What the metaschemas are (they depend on the registered field types and actions)."""
        shown = json.dumps([self.schemas, self.common], sort_keys=True, default=str)
        return hashlib.sha256(shown.encode()).hexdigest()


class StructureChecker:
    def __init__(self, field_types: FieldTypes, actions: Callable[[], Mapping[str, Any]] | None = None):
        """``actions`` gives the registered actions (name → object with an ``options_schema``),
        asked on each check so that a plugin's action counts once registered; default: the
        built-in ones."""
        self.field_types = field_types
        self.actions = actions
        self._built: _Validators | None = None

    @cached_property
    def schemas(self) -> dict[str, dict]:
        out = {kind: load_metaschema(kind) for kind in KINDS if kind != "entity"}
        out["entity"] = entity_metaschema(self.field_types)
        return out

    def _current(self) -> _Validators:
        actions = self.actions() if self.actions is not None else None
        if self._built is None or self._built.actions is not actions:
            self._built = _Validators(actions, self.schemas)
        return self._built

    @property
    def registry(self) -> Registry:
        return self._current().registry

    @property
    def validators(self) -> dict[str, Draft202012Validator]:
        return self._current().validators

    @property
    def fingerprint(self) -> str:
        return self._current().fingerprint

    def check(self, doc, *, file: str | None = None) -> list[Problem]:
        """Structural problems of one document; the kind is read from the document itself.

        Results are remembered per document text and metaschema: a publish re-checks every
        definition, and all but one of them are unchanged (JSON Schema validation of a large
        configuration takes seconds)."""
        try:
            text = json.dumps(doc, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError):
            return self._check(doc, file=file)
        key = (self.fingerprint, _locale(), text, file)
        found = _REMEMBERED.get(key)
        if found is None:
            if len(_REMEMBERED) >= 4096:
                _REMEMBERED.clear()
            found = _REMEMBERED[key] = tuple(self._check(doc, file=file))
        return list(found)

    def _check(self, doc, *, file: str | None = None) -> list[Problem]:
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
            return [problem("E-FILE-002", "$", file=file)]
        kind = doc["kind"]
        name = doc.get("name") if isinstance(doc.get("name"), str) else None
        if kind not in self.validators:
            return [problem("E-FILE-003", "$.kind", name=name, file=file, found=kind, expected=", ".join(KINDS))]
        errors = list(_leaves(sorted(self.validators[kind].iter_errors(doc), key=relevance)))
        problems, seen = [], set()
        for err in _without_cascades(errors):
            for p in describe(err, kind=kind, name=name, file=file):
                key = (p.path, p.code, p.message)
                if key not in seen:
                    seen.add(key)
                    problems.append(p)
        return sorted(problems, key=lambda p: p.path)


def _without_cascades(errors: list[ValidationError]) -> list[ValidationError]:
    """Drop "unexpected property" errors caused by a failing branch deeper inside the same object.

    In JSON Schema 2020-12 a subschema that fails contributes no annotations, so every property
    it declared looks unevaluated; the deeper error is the real one.
    """
    paths = [e.json_path for e in errors if e.validator not in ("unevaluatedProperties", "additionalProperties")]
    # an unknown action or field type: its options have no branch to declare them, only that name is wrong
    unknown = {e.json_path.rpartition(".")[0] for e in errors if e.validator == "enum" and e.path
               and e.path[-1] in DISCRIMINATORS}  # fmt: skip

    def failing_inside(err: ValidationError) -> bool:
        if err.json_path in unknown:
            return True
        for prop in _unexpected(err):
            inner = _join(err.json_path, prop)
            if any(p == inner or p.startswith(inner + ".") or p.startswith(inner + "[") for p in paths):
                return True
        return False

    return [
        e
        for e in errors
        if not (e.validator in ("unevaluatedProperties", "additionalProperties") and failing_inside(e))
    ]


def _leaves(errors: list[ValidationError]):
    """Yield the errors worth showing: descend into if/then contexts, drop generic wrappers."""
    for err in errors:
        if err.context and err.validator in ("anyOf", "oneOf", "allOf"):
            yield from _leaves(sorted(err.context, key=relevance))
        else:
            yield err


def _found(value) -> str:
    names = {
        dict: _("an object"),
        list: _("a list"),
        str: _("a text"),
        bool: _("true/false"),
        int: _("a number"),
        float: _("a number"),
        type(None): _("null"),
    }
    return names.get(type(value), type(value).__name__)


def _expected(types) -> str:
    names = {
        "object": _("an object"),
        "array": _("a list"),
        "string": _("a text"),
        "boolean": _("true or false"),
        "integer": _("a whole number"),
        "number": _("a number"),
        "null": _("null"),
    }
    if isinstance(types, str):
        types = [types]
    return _(" or ").join(names.get(t, t) for t in types)


def _show(value) -> str:
    rendered = json.dumps(value, ensure_ascii=False, default=str)
    return rendered if len(rendered) <= 80 else rendered[:77] + "…"


def describe(err: ValidationError, *, kind=None, name=None, file=None) -> list[Problem]:
    """One jsonschema error as coded, translated problems at their JSON paths."""
    return (
        [_describe_one(err, kind, name, file)]
        if err.validator not in ("unevaluatedProperties", "additionalProperties")
        else [
            problem("E-SCHEMA-002", _join(err.json_path, prop), prop=prop, kind=kind, name=name, file=file)
            for prop in _unexpected(err)
        ]
    )


def _describe_one(err: ValidationError, kind, name, file) -> Problem:
    path = err.json_path
    custom = err.schema.get("x-message") if isinstance(err.schema, dict) else None
    v = err.validator
    ctx = {"kind": kind, "name": name, "file": file}
    if v == "required":
        prop = err.message.split("'")[1] if "'" in err.message else err.message
        return problem("E-SCHEMA-001", path, prop=prop, **ctx)
    if v == "type":
        return problem("E-SCHEMA-003", path, expected=_expected(err.validator_value), found=_found(err.instance), **ctx)
    if v in ("enum", "const"):
        allowed = err.validator_value if v == "enum" else [err.validator_value]
        if custom:
            return Problem("E-SCHEMA-004", f"{_show(err.instance)}: {text(custom)}", path, kind, name, file)
        shown = ", ".join(_show(a) for a in allowed[:15]) + (" …" if len(allowed) > 15 else "")
        return problem("E-SCHEMA-004", path, value=_show(err.instance), allowed=shown, **ctx)
    if v == "pattern":
        rule = text(custom) if custom else _("does not match the pattern {pattern}").format(pattern=err.validator_value)
        return problem("E-SCHEMA-005", path, value=_show(err.instance), rule=rule, **ctx)
    if v in ("minLength", "minItems", "minProperties"):
        return problem("E-SCHEMA-006", path, limit=err.validator_value, **ctx)
    if v in ("maxLength", "maxItems", "maxProperties"):
        return problem("E-SCHEMA-007", path, limit=err.validator_value, **ctx)
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        signs = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return problem("E-SCHEMA-008", path, value=_show(err.instance), rule=f"{signs[v]} {err.validator_value}", **ctx)
    if v == "not" and custom:
        return problem("E-SCHEMA-009", path, rule=text(custom), **ctx)
    if v == "uniqueItems":
        return problem("E-SCHEMA-010", path, **ctx)
    if v == "propertyNames":
        return problem("E-SCHEMA-005", path, value=_show(err.instance), rule=_("is not a valid name"), **ctx)
    if custom:
        return problem("E-SCHEMA-011", path, detail=text(custom), **ctx)
    return problem("E-SCHEMA-011", path, detail=err.message[:200], **ctx)


def _unexpected(err: ValidationError) -> list[str]:
    instance = err.instance if isinstance(err.instance, dict) else {}
    msg = err.message
    found = [k for k in instance if f"'{k}'" in msg]
    return found or [msg]


def _join(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"
