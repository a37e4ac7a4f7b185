"""The role editor of the designer: a permission matrix — entities × actions with the record
scope — and, per entity, each field's access level (hidden, masked, reveal on demand, read, write).
What the matrix cannot show (row filters, custom field access objects) is kept as it is."""

from __future__ import annotations

import copy

from flask import flash, request

from ..i18n import _, text
from ..runtime import snapshot
from .designer import Working, back, bp, editor, save, working

ACTIONS = ("read", "create", "update", "delete", "transition", "export", "import")
SCOPES = ("own", "team", "branch", "all")
LEVELS = ("hidden", "masked", "reveal", "read", "write")


def action_label(action: str) -> str:
    return {"read": _("read"), "create": _("create"), "update": _("edit"), "delete": _("delete"),
            "transition": _("move on"), "export": _("export"), "import": _("import")}.get(action, action)  # fmt: skip


def scope_label(scope: str) -> str:
    return {"own": _("own records"), "team": _("team"), "branch": _("branch"), "all": _("all")}.get(scope, scope)


def level_label(level: str) -> str:
    return {"hidden": _("hidden"), "masked": _("masked"), "reveal": _("reveal on request"), "read": _("read"),
            "write": _("write")}.get(level, level)  # fmt: skip


def permissions_of(body: dict) -> dict:
    return body.get("permissions") if isinstance(body.get("permissions"), dict) else {}


@editor("role")
def role_context(w: Working) -> dict:
    snap = snapshot()
    perms = permissions_of(w.body)
    rows = []
    for name, entity in sorted(snap.entities.items(), key=lambda kv: text(kv[1].label)):
        p = perms.get(name) if isinstance(perms.get(name), dict) else {}
        rows.append({"name": name, "label": text(entity.label) or name, "actions": set(p.get("actions") or []),
                     "scope": p.get("scope", "all"), "filtered": "filter" in p, "fields": len(p.get("fields") or {})})  # fmt: skip
    chosen = request.args.get("entity") if request.args.get("entity") in snap.entities else None
    field_rows = []
    if chosen:
        given = (perms.get(chosen) or {}).get("fields") or {}
        for f in snap.entities[chosen].active_fields:
            access = given.get(f.name)
            field_rows.append({"name": f.name, "label": text(f.label) or f.name, "pii": bool(f.get("pii")),
                               "level": access if isinstance(access, str) else ("custom" if access else "")})  # fmt: skip
    return {
        "matrix": rows,
        "actions": [(a, action_label(a)) for a in ACTIONS],
        "scopes": [(s, scope_label(s)) for s in SCOPES],
        "levels": [(lv, level_label(lv)) for lv in LEVELS],
        "wildcard": perms.get("*"),
        "chosen": chosen,
        "field_rows": field_rows,
    }


@bp.post("/role/<name>/matrix")
def save_matrix(name: str):
    """Every entity's actions and scope at once; an entity left without actions loses its entry."""
    w = working("role", name)
    body = copy.deepcopy(w.body)
    form = request.form
    perms = permissions_of(body)
    out = {"*": perms["*"]} if "*" in perms else {}
    for entity in sorted(snapshot().entities):
        ticked = [a for a in ACTIONS if a in form.getlist(f"a:{entity}")]
        if not ticked:
            continue
        entry = dict(perms.get(entity) or {})
        kept = [a for a in entry.get("actions") or [] if a in ticked]  # the document's order stays
        entry["actions"] = kept + [a for a in ticked if a not in kept]
        scope = form.get(f"s:{entity}", "all")
        entry["scope"] = scope if scope in SCOPES else "all"
        out[entity] = entry
    body["permissions"] = out
    for flag in ("admin", "designer", "share_views"):
        if form.get(flag):
            body[flag] = True
        else:
            body.pop(flag, None)
    save("role", name, body, comment=_("Changed the permission matrix"))
    return back("role", name)


@bp.post("/role/<name>/fields/<entity>")
def save_field_access(name: str, entity: str):
    w = working("role", name)
    target = snapshot().entity(entity)
    perms = permissions_of(w.body)
    if target is None or not isinstance(perms.get(entity), dict):
        flash(_("Give the role an action on this entity first."), "danger")
        return back("role", name)
    body = copy.deepcopy(w.body)
    entry = body["permissions"][entity]
    fields = dict(entry.get("fields") or {})
    for f in target.active_fields:
        level = request.form.get(f"f:{f.name}", "")
        if level in LEVELS:
            fields[f.name] = level
        elif level == "" and isinstance(fields.get(f.name), str):
            del fields[f.name]
    if fields:
        entry["fields"] = fields
    else:
        entry.pop("fields", None)
    save("role", name, body, comment=_("Changed field access on {entity}").format(entity=entity))
    return back("role", name, entity=entity)
