"""``GET /api/openapi.json``: an OpenAPI 3 document generated from the published entities."""

from __future__ import annotations

from apispec import APISpec
from flask import Blueprint, jsonify
from flask_login import current_user

from .. import __version__
from ..i18n import text
from ..meta.model import EntityDef
from ..runtime import snapshot
from ..security.permissions import Permissions
from ..workflows.comments import thread_of
from ..workflows.model import workflows_of
from .api import require_login

bp = Blueprint("openapi", __name__)
bp.before_request(require_login)

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["path", "message"],
                        "properties": {
                            "path": {"type": "string"},
                            "message": {"type": "string"},
                            "code": {"type": "string"},
                        },
                    },
                },
                "current": {"type": "object", "description": "the record as stored now (409 only)"},
            },
        }
    },
}
SYSTEM = {
    "id": {"type": "integer", "readOnly": True},
    "version": {"type": "integer", "readOnly": True},
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {"type": "integer", "nullable": True, "readOnly": True},
    "updated_by": {"type": "integer", "nullable": True, "readOnly": True},
}


def schema_name(entity: EntityDef) -> str:
    return "".join(part.title() for part in entity.name.split("_"))


def errors(*codes: int) -> dict:
    return {
        str(c): {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


EXPLANATION = {
    "type": "object",
    "properties": {
        "result": {"type": "boolean"},
        "explanation": {"type": "object", "description": "the condition tree: path, op, left, right, result per leaf"},
        "deps": {"type": "object"},
        "now": {"type": "string", "format": "date-time"},
    },
}


def build_spec(snap, permissions: Permissions | None = None) -> dict:
    """The API as ``permissions`` let it be used: only entities the user may read, only fields
    they may see, writable only where they may write, and only the operations they may call."""
    permissions = permissions or Permissions.everything(snap)
    spec = APISpec(
        title="SCRM API",
        version=__version__,
        openapi_version="3.0.3",
        info={"description": "Records of the entities declared in this SCRM installation."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR)
    workflows = workflows_of(snap)
    for entity in sorted(snap.entities.values(), key=lambda e: e.name):
        if not permissions.can(entity, "read"):
            continue
        name = schema_name(entity)
        props, writable, required = dict(SYSTEM), {}, []
        for f in entity.active_fields:
            access = permissions.field(entity, f)
            if access.view == "hidden":
                continue
            ftype = snap.field_types[f.type]
            prop = {**ftype.json_schema(f), "title": text(f.label, "en")}
            if access.view == "masked":
                prop = {"type": "string", "title": prop["title"], "description": "masked for you"}
            if not f.required or f.readonly or not access.write:
                prop["nullable"] = not ftype.multi
            if f.readonly or not access.write:
                props[f.name] = {**prop, "readOnly": True}
                continue
            props[f.name] = prop
            writable[f.name] = prop
            if f.required and not f.has_default:
                required.append(f.name)
        spec.components.schema(name, {"type": "object", "properties": props})
        spec.components.schema(
            f"{name}Input",
            {"type": "object", "properties": writable, "required": required, "additionalProperties": False},
        )
        spec.components.schema(
            f"{name}Patch",
            {
                "type": "object",
                "properties": {
                    **writable,
                    "_version": {"type": "integer", "description": "the version you edited (or If-Match)"},
                },
                "additionalProperties": False,
            },
        )
        ref = {"$ref": f"#/components/schemas/{name}"}
        one = {"200": {"description": "the record", "content": {"application/json": {"schema": ref}}}}
        base = f"/api/v1/records/{entity.name}"
        collection = {
            "get": {
                "summary": f"List {text(entity.plural_label, 'en')}",
                "tags": [entity.name],
                "parameters": [
                    {
                        "name": "filter",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "condition as JSON",
                    },
                    {
                        "name": "sort",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "e.g. -created_at,name",
                    },
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "cursor from next",
                    },
                    {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "quick search"},
                ],
                "responses": {
                    "200": {
                        "description": "a page",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "items": {"type": "array", "items": ref},
                                        "next": {"type": "string", "nullable": True},
                                    },
                                }
                            }
                        },
                    },
                    **errors(400, 401, 404),
                },
            },
        }
        if permissions.can(entity, "create"):
            collection["post"] = {
                "summary": f"Create a {text(entity.label, 'en')}",
                "tags": [entity.name],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}Input"}}},
                },
                "responses": {
                    "201": {"description": "created", "content": {"application/json": {"schema": ref}}},
                    **errors(400, 401, 403, 409, 422),
                },
            }
        spec.path(path=base, operations=collection)
        id_param = [{"name": "record_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
        single = {"get": {"tags": [entity.name], "parameters": id_param, "responses": {**one, **errors(401, 404)}}}
        if permissions.can(entity, "update"):
            single["patch"] = {
                "tags": [entity.name],
                "parameters": [*id_param, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}Patch"}}},
                },
                "responses": {**one, **errors(400, 401, 403, 404, 409, 422)},
            }
        if permissions.can(entity, "delete"):
            single["delete"] = {
                "tags": [entity.name],
                "parameters": [*id_param, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                "responses": {"204": {"description": "deleted"}, **errors(400, 401, 403, 404, 409)},
            }
        spec.path(path=base + "/{record_id}", operations=single)
        spec.path(
            path=base + "/{record_id}/explain",
            operations={
                "post": {
                    "summary": "Whether the record meets a condition, and why",
                    "tags": [entity.name],
                    "parameters": id_param,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "condition": {"type": "object", "description": "docs/conditions.md"}
                                    },
                                    "required": ["condition"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the result, each leaf with its operand values, the dependencies",
                            "content": {"application/json": {"schema": EXPLANATION}},
                        },
                        **errors(400, 401, 404),
                    },
                }
            },
        )
        if entity.name in workflows:
            _workflow_paths(spec, entity, base, id_param, ref, thread_of(snap, entity.name) is not None)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


def _workflow_paths(spec, entity: EntityDef, base: str, id_param: list, ref: dict, commented: bool) -> None:
    """The steps, the workflow state and (for records with a comment thread) comments."""
    tag = [entity.name]
    one = {"200": {"description": "the record after the step", "content": {"application/json": {"schema": ref}}}}
    step = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    body = {"type": "object", "properties": {"input": {"type": "object"}, "comment": {"type": "string"},
                                             "_version": {"type": "integer"}}}  # fmt: skip
    spec.path(
        path=base + "/{record_id}/transitions/{name}",
        operations={"post": {
            "summary": "Take a workflow step", "tags": tag, "parameters": [*id_param, step],
            "requestBody": {"content": {"application/json": {"schema": body}}},
            "responses": {**one, **errors(400, 401, 403, 404, 409, 422)},
        }},
    )  # fmt: skip
    spec.path(
        path=base + "/{record_id}/workflow",
        operations={"get": {
            "summary": "The state, the steps you may take, the SLA clocks and the history", "tags": tag,
            "parameters": id_param,
            "responses": {"200": {"description": "the workflow view", "content": {"application/json": {
                "schema": {"type": "object"}}}}, **errors(401, 404)},
        }},
    )  # fmt: skip
    if commented:
        comment = {"type": "object", "properties": {"body": {"type": "string"},
                                                    "visibility": {"type": "string", "enum": ["internal", "customer"]}},
                   "required": ["body"]}  # fmt: skip
        files = {**comment, "properties": {**comment["properties"], "files": {
            "type": "array", "items": {"type": "string", "format": "binary"}}}}  # fmt: skip
        spec.path(
            path=base + "/{record_id}/comments",
            operations={"post": {
                "summary": "Add a comment (with attachments as multipart)", "tags": tag, "parameters": id_param,
                "requestBody": {"required": True, "content": {"application/json": {"schema": comment},
                                                              "multipart/form-data": {"schema": files}}},
                "responses": {"201": {"description": "the comment", "content": {"application/json": {
                    "schema": {"type": "object"}}}}, **errors(400, 401, 403, 404, 413, 422)},
            }},
        )  # fmt: skip


@bp.get("/api/openapi.json")
def openapi_document():
    snap = snapshot()
    permissions = Permissions(snap, tuple(current_user.roles))
    return jsonify(snap.cached(("openapi", permissions.roles), lambda: build_spec(snap, permissions)))
