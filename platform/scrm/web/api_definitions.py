"""REST API for definitions: read, save drafts, publish, roll back, list versions."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user

from ..conditions import Preparer, deps
from ..conditions.check import ConditionChecker
from ..conditions.prepare import CONTEXTS
from ..definitions import dependants
from ..errors import BadRequest, Detail, NotFound
from ..i18n import _
from ..meta import store
from ..meta.diff import diff
from ..meta.problems import has_errors, problem
from ..meta.structure import KINDS
from ..runtime import runtime, snapshot
from ..security.access import require_designer
from .api import json_body, require_login

bp = Blueprint("definitions_api", __name__, url_prefix="/api/v1/definitions")
bp.before_request(require_login)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise NotFound(
            _("Unknown definition kind {kind!r}; expected one of {kinds}.").format(kind=kind, kinds=", ".join(KINDS))
        )


def designer_only(kind: str | None = None) -> None:
    require_designer(current_user, snapshot(), kind)


@bp.get("/<kind>")
def list_definitions(kind: str):
    check_kind(kind)
    items = []
    for name in store.names(kind):
        published = store.get(kind, name, store.PUBLISHED)
        draft = store.get(kind, name, store.DRAFT)
        shown = published or draft
        items.append(
            {
                "name": name,
                "label": shown.body.get("label"),
                "published_version": published.version if published else None,
                "draft_version": draft.version if draft else None,
            }
        )
    return jsonify({"items": items})


@bp.get("/<kind>/<name>")
def get_definition(kind: str, name: str):
    check_kind(kind)
    status = request.args.get("status", "published")
    if request.args.get("version"):
        if not (request.args["version"].isascii() and request.args["version"].isdigit()):
            raise BadRequest(_("version must be a whole number."), [Detail("version", _("Invalid version."))])
        row = store.get_version(kind, name, int(request.args["version"]))
    elif status in (store.PUBLISHED, store.DRAFT):
        row = store.get(kind, name, status)
    else:
        raise BadRequest(_("status must be published or draft."), [Detail("status", _("Invalid status."))])
    if row is None:
        raise NotFound(_("There is no {status} version of {kind}/{name}.").format(status=status, kind=kind, name=name))
    response = jsonify(row.body)
    response.headers["X-Definition-Version"] = str(row.version)
    response.headers["X-Definition-Status"] = row.status
    response.headers["ETag"] = f'"{store.etag(row)}"'
    return response


def base_version() -> int | str | None:
    """``If-Match``: a version number (refused when anyone saved or published since) or the ETag
    a GET gave (also refused when someone saved the same draft since)."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        return None
    value = header.removeprefix("W/").strip('"')
    number, dash, digest = value.partition("-")
    if number.isascii() and number.isdigit() and (not dash or (digest.isascii() and digest.isalnum())):
        return value if dash else int(number)
    raise BadRequest(
        _('If-Match must carry the definition\'s version ("3") or the ETag its GET returned.'),
        [Detail("If-Match", _("Invalid version."))],
        "invalid_version",
    )


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


@bp.put("/<kind>/<name>")
def save_draft(kind: str, name: str):
    check_kind(kind)
    designer_only(kind)
    body = json_body(decimals=False)
    row, problems = runtime().definitions.save_draft(
        kind,
        name,
        body,
        current_user.id,
        source="api",
        comment=request.args.get("comment"),
        base_version=base_version(),
        allow_invalid=_flag("allow_invalid"),
    )
    errors = [p.as_dict() for p in problems if p.severity == "error"]
    return jsonify(
        {
            "kind": kind,
            "name": name,
            "version": row.version,
            "status": row.status,
            "etag": store.etag(row),
            "valid": not errors,
            "errors": errors,
            "warnings": [p.as_dict() for p in problems if p.severity != "error"],
        }
    )


@bp.delete("/<kind>/<name>/draft")
def discard_draft(kind: str, name: str):
    check_kind(kind)
    designer_only(kind)
    runtime().definitions.discard_draft(kind, name, current_user.id)
    return "", 204


def _optional_body() -> dict:
    return json_body(decimals=False) if request.get_data(cache=True) else {}


@bp.post("/<kind>/<name>/publish")
def publish(kind: str, name: str):
    check_kind(kind)
    designer_only(kind)
    dry_run = bool(_optional_body().get("dry_run"))
    result = runtime().definitions.publish(kind, name, current_user.id, dry_run=dry_run)
    return jsonify(
        {
            "published": [{"kind": k, "name": n, "version": v} for k, n, v in result.published],
            "revision": result.revision,
            "dry_run": dry_run,
            "steps": result.steps,
            "statements": result.statements,
            "warnings": [p.as_dict() for p in result.warnings],
        }
    )


@bp.post("/<kind>/<name>/rollback")
def rollback(kind: str, name: str):
    check_kind(kind)
    designer_only(kind)
    version = _optional_body().get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadRequest(
            _('Send the version to go back to: {"version": 3}.'), [Detail("version", _("Expected a whole number."))]
        )
    result = runtime().definitions.rollback(kind, name, version, current_user.id)
    return jsonify(
        {
            "published": [{"kind": k, "name": n, "version": v} for k, n, v in result.published],
            "revision": result.revision,
            "steps": result.steps,
            "statements": result.statements,
        }
    )


@bp.get("/<kind>/<name>/versions")
def versions(kind: str, name: str):
    check_kind(kind)
    rows = store.versions(kind, name)
    if not rows:
        raise NotFound(_("There is no definition {kind}/{name}.").format(kind=kind, name=name))
    return jsonify({"items": [r.summary() for r in rows]})


@bp.post("/conditions/check")
def check_condition():
    """Check a condition for the condition builder: ``{"entity", "condition", "context"}`` gives
    every problem (code, JSON path, message) and, when it is valid, what it depends on."""
    designer_only()
    body = json_body(decimals=False)
    snap = snapshot()
    entity = snap.entity(body.get("entity")) if isinstance(body.get("entity"), str) else None
    if entity is None:
        raise BadRequest(_("Name a published entity."), [Detail("entity", _("Unknown entity."))], "invalid_entity")
    context = body.get("context", "filter")
    if context not in CONTEXTS:
        raise BadRequest(
            _("Unknown context {context!r}; expected one of {contexts}.").format(
                context=context, contexts=", ".join(sorted(CONTEXTS))
            ),
            [Detail("context", _("Unknown context."))],
            "invalid_context",
        )
    checker = ConditionChecker(snap.field_types, snap.entity)
    found = checker.check(body.get("condition"), entity, "$", context)
    problems = [problem(code, path, **params) for code, path, params in found]
    valid = not has_errors(problems)
    dependencies = None
    if valid:
        node = Preparer(snap.field_types, snap.entity, context).condition(body.get("condition"), entity)
        dependencies = deps(node).as_dict()
    return jsonify({"valid": valid, "problems": [p.as_dict() for p in problems], "deps": dependencies})


def _version_at(kind: str, name: str, which: str, default: str):
    """``published``, ``draft`` or a version number, as a stored row (404 when there is none)."""
    which = which or default
    if which in (store.PUBLISHED, store.DRAFT):
        row = store.get(kind, name, which)
    elif which.isascii() and which.isdigit():
        row = store.get_version(kind, name, int(which))
    else:
        raise BadRequest(_("Name a version number, published or draft."), [Detail("version", _("Invalid version."))])
    if row is None:
        raise NotFound(_("There is no {which} version of {kind}/{name}.").format(which=which, kind=kind, name=name))
    return row


@bp.get("/<kind>/<name>/diff")
def definition_diff(kind: str, name: str):
    """What changes from one version to another (default: the published one to the draft)."""
    check_kind(kind)
    old = _version_at(kind, name, request.args.get("from", ""), store.PUBLISHED)
    new = _version_at(kind, name, request.args.get("to", ""), store.DRAFT)
    return jsonify({"from": old.version, "to": new.version, "changes": [c.as_dict() for c in diff(old.body, new.body)]})


@bp.get("/entity/<name>/fields/<field>/impact")
def field_impact(name: str, field: str):
    """Which definitions deactivating the field (or renaming it: ``?rename_to=``) would break."""
    designer_only("entity")
    return _impact(runtime().definitions.field_impact(name, field, request.args.get("rename_to") or None))


@bp.post("/<kind>/<name>/impact")
def document_impact(kind: str, name: str):
    """Which other definitions publishing the posted document would break."""
    check_kind(kind)
    designer_only(kind)
    return _impact(runtime().definitions.impact(kind, name, json_body(decimals=False)))


def _impact(found: list):
    """``allowed`` unless a definition would break (``blocking``); ``dependants`` are all the
    definitions affected, those that only lose the item included."""
    blocking = dependants(found)
    return jsonify(
        {
            "allowed": not blocking,
            "blocking": blocking,
            "dependants": dependants(found, errors_only=False),
            "problems": [_where(p) for p in found],
        }
    )


def _where(p) -> dict:
    return {
        "definition": f"{p.kind}/{p.name}",
        "path": p.path,
        "code": p.code,
        "severity": p.severity,
        "message": p.message,
    }


@bp.get("/bundle")
def export_bundle():
    """The published definitions as one bundle: all, ``?kind=`` of some kinds, ``?item=kind/name``."""
    designer_only()
    keys = None
    items, kinds = request.args.getlist("item"), request.args.getlist("kind")
    for k in kinds:
        check_kind(k)
    if items or kinds:
        keys = [tuple(i.split("/", 1)) for i in items if "/" in i]
        keys += [(r.kind, r.name) for k in kinds for r in store.published(k)]
    bundle = runtime().definitions.export_bundle(keys, current_user.id)
    response = jsonify(bundle)
    response.headers["Content-Disposition"] = f'attachment; filename="scrm-definitions-r{bundle["revision"]}.json"'
    return response


@bp.post("/bundle")
def import_bundle():
    """Publish a bundle's changed definitions together (``?dry_run=1``: the plan, nothing kept)."""
    designer_only()
    dry_run = _flag("dry_run")
    result = runtime().definitions.import_bundle(
        json_body(decimals=False), current_user.id, dry_run=dry_run, replace_drafts=_flag("replace_drafts")
    )
    published = result.publish
    return jsonify(
        {
            "dry_run": dry_run,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "revision": published.revision if published and not dry_run else None,
            "steps": published.steps if published else [],
            "warnings": [p.as_dict() for p in published.warnings] if published else [],
        }
    )
