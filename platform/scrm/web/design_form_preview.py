"""The form editor's live preview: the *draft* form rendered as the account manager will see it,
with a sample record the designer may read (a recent one, or one they pick), in create, edit or
view mode. Typing into the preview re-renders it with the draft's rules decided on what is typed,
so a show-rule can be tried before it is published. Nothing is saved."""

from __future__ import annotations

from flask import request

from ..db import reads_only
from ..errors import NotFound
from ..i18n import _, text
from ..meta.model import FormDef
from ..runtime import runtime, snapshot
from .designer import bp, working
from .forms import LayoutBuilder, form_state, layout_of, rule_states
from .pages import record_title, service
from .render import render

MODES = ("create", "edit", "view")
SAMPLES = 12


@bp.route("/form/<name>/preview", methods=["GET", "POST"])
@reads_only
def form_preview(name: str):
    w = working("form", name)
    svc = service()
    entity = snapshot().entity(w.body.get("entity")) if isinstance(w.body.get("entity"), str) else None
    context: dict = {"name": name, "modes": [(m, mode_label(m)) for m in MODES], "problems": w.errors}
    if entity is None or w.errors:
        return render("design_form_preview", {**context, "layout": None, "samples": [], "mode": "", "record": ""})
    recent = svc.list(entity.name, sort="-updated_at", limit=SAMPLES).items
    samples = [(str(r["id"]), record_title(entity, r)) for r in recent]
    mode = request.values.get("_pv_mode", "edit")
    mode = mode if mode in MODES and (mode == "create" or samples) else "create"
    chosen = request.values.get("_pv_record", "")
    if mode != "create" and chosen not in {s[0] for s in samples} and chosen.isdigit():
        samples.append((chosen, ""))  # a record picked by id: shown only if the designer may read it
    record_id = chosen if chosen.isdigit() and mode != "create" else (samples[0][0] if samples else "")
    missing = False
    try:
        record = svc.defaults(entity) if mode == "create" else svc.get(entity.name, int(record_id))
    except NotFound:  # not there, or outside what the designer may read: the most recent instead
        samples = [s for s in samples if s[0] != record_id]
        record_id, missing = samples[0][0], True
        record = svc.get(entity.name, int(record_id))
    if mode != "create" and samples[-1] == (record_id, ""):
        samples[-1] = (record_id, record_title(entity, record))
    clean, _problems = runtime().definitions.check_draft("form", name, w.body)
    form = FormDef(clean or w.body)
    # what was typed counts only for the mode and record it was typed on
    same = request.method == "POST" and request.form.get("_pv_shown") == f"{mode}:{record_id}"
    raw = request.form if same and mode != "view" else None
    shown = form_state(svc, entity, form, mode, raw, record) if raw is not None else record
    states = rule_states(svc, entity, form, shown, draft=True)
    builder = LayoutBuilder(svc, entity, mode, record, raw, None, states, live=False)
    return render(
        "design_form_preview",
        {
            **context,
            "layout": builder.build(layout_of(entity, form)),
            "samples": samples,
            "mode": mode,
            "record": record_id if mode != "create" else "",
            "entity_label": text(entity.label),
            "missing": missing,
        },
    )


def mode_label(mode: str) -> str:
    return {"create": _("New record"), "edit": _("Edit form"), "view": _("Record page")}[mode]
