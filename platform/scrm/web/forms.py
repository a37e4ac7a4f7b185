"""Forms from form definitions: the layout tree, widgets, parsing a submission, related lists.

The same layout serves create, edit and view; each field node becomes a :class:`FieldView`
the templates render with one macro per widget. Values are parsed by the field types, so a
form and the API accept the same things and say the same things when they do not.
"""

from __future__ import annotations

from flask import url_for
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from ..data.form_rules import OPEN, NodeState, form_rules, node_key
from ..data.records import RecordService
from ..errors import BadRequest
from ..fields import ConversionError
from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef, FormDef
from .context import Choice, FieldView, LayoutNode, RelatedList, Row

MAX_SELECT = 200
INPUT_TYPES = {
    "text": "text",
    "number": "text",
    "money": "text",
    "percent": "text",
    "date": "date",
    "datetime": "datetime-local",
    "phone": "tel",
    "email": "email",
    "url": "url",
    "masked_input": "text",
    "tags": "text",
    "tag_picker": "text",
    "lookup": "select",
}


def auto_layout(entity: EntityDef) -> dict:
    """The layout used when no form is declared: every active field, two columns."""
    items = [field_item(f) for f in entity.active_fields]
    related = [{"type": "related_list", "relation": r.name} for r in entity.relations if r.kind == "has_many"]
    return {"type": "section", "columns": 2, "items": items + related}


def field_item(f: FieldDef) -> dict:
    """A layout item for a field; a computed field is shown on the record page, not in forms."""
    if f.computed:
        return {"type": "field", "field": f.name, "modes": ["view"]}
    return {"type": "field", "field": f.name}


def layout_of(entity: EntityDef, form: FormDef | None) -> dict:
    """The form's layout; fields the form does not place (e.g. just added by a designer) follow in
    an "other fields" section, unless the form says ``"unplaced": "hide"``."""
    if form is None:
        return auto_layout(entity)
    if form.doc.get("unplaced", "show") == "hide":
        return form.layout
    placed = {
        entity.field(n["field"]).id for n in _walk(form.layout) if n.get("type") == "field" and entity.field(n["field"])
    }
    rest = [field_item(f) for f in entity.active_fields if f.id not in placed]
    if not rest:
        return form.layout
    other = {
        "type": "section",
        "id": "unplaced_fields",
        "label": {"zh-CN": "其他字段", "en": "Other fields"},
        "columns": 2,
        "items": rest,
    }
    layout = form.layout
    if layout.get("type") == "tabs":
        tab = {"type": "tab", "id": "unplaced_fields", "label": other["label"], "items": [other]}
        return {**layout, "items": [*layout["items"], tab]}
    return {**layout, "items": [*layout.get("items", []), other]}


def _walk(node: dict):
    yield node
    for child in node.get("items", []):
        yield from _walk(child)


def placed_fields(entity: EntityDef, form: FormDef | None, mode: str) -> list[tuple[FieldDef, dict]]:
    """Fields the form shows in ``mode`` (create/edit/view), with their layout node."""
    out = []
    for node in _walk(layout_of(entity, form)):
        if node.get("type") != "field":
            continue
        f = entity.field(node["field"])
        if f is None or not f.active or mode not in node.get("modes", ["create", "edit", "view"]):
            continue
        out.append((f, node))
    return out


def editable(f: FieldDef, node: dict) -> bool:
    return not (f.readonly or node.get("readonly"))


def parse_submission(
    svc: RecordService,
    entity: EntityDef,
    form: FormDef | None,
    mode: str,
    data: MultiDict,
    current: dict | None = None,
) -> tuple[dict, dict[str, list[str]]]:
    """Form fields into canonical values; conversion errors per field name.

    A field whose submitted text is exactly what the form showed for ``current`` is left out, so
    saving an untouched form never rewrites a value that its display rounds (seconds, tags)."""
    values, errors = {}, {}
    for f, node in placed_fields(entity, form, mode):
        access = svc.permissions.field(entity, f)
        if not editable(f, node) or not access.write:
            continue
        if f.name not in data:  # not submitted at all: leave the stored value alone
            continue
        if current is not None and access.view == "masked" and not "".join(data.getlist(f.name)).strip():
            continue  # a masked field left empty keeps its value
        ftype = svc.field_types[f.type]
        submitted = data.getlist(f.name)  # radios, multi-selects and switches send an empty marker first
        widget = node.get("widget", ftype.widgets[0])
        if ftype.multi:
            raw = [v for v in submitted if v != ""]
            if len(raw) == 1 and widget in ("tags", "tag_picker"):
                raw = raw[0]
        else:
            raw = submitted[-1]
        if f.type == "ref" and raw == "" and data.get(f"_label_{f.name}", "").strip():
            raw = typed_reference(svc, f, data[f"_label_{f.name}"])
        if current is not None and f.name in current and _unchanged(ftype, f, raw, current[f.name]):
            continue
        try:
            values[f.name] = ftype.parse_form(raw, f)
        except ConversionError as exc:
            errors[f.name] = [exc.message]
    return values, errors


def typed_reference(svc: RecordService, f: FieldDef, typed: str) -> str:
    """A type-ahead's text without a chosen id (no JavaScript, or typed and not picked): an id
    as such, else the one record whose title is exactly that text (or the only match). Text that
    names no single record is sent on as it is, to be refused at the field."""
    typed = typed.strip()[:100]
    if typed.split(" ")[0].isdigit():
        return typed
    target = svc.snapshot.entity(f.target or "")
    if target is None or not svc.permissions.can(target, "read"):
        return typed
    found = svc.lookup(target.name, typed, limit=5)
    exact = [i for i, title in found if title == typed]
    if len(exact) == 1 or len(found) == 1:
        return str(exact[0] if exact else found[0][0])
    return typed


def _unchanged(ftype, f: FieldDef, raw, value) -> bool:
    shown = ftype.format_input(value, f)
    if isinstance(raw, list):
        return [str(v) for v in (value or [])] == raw or ", ".join(raw) == shown
    return raw == shown


def form_state(
    svc: RecordService, entity: EntityDef, form: FormDef | None, mode: str, data: MultiDict, record: dict
) -> dict:
    """The record as the unsaved form has it: the stored (or default) values with what the user
    typed on top; text that does not convert yet leaves the field as it was."""
    values, _errors = parse_submission(svc, entity, form, mode, data)
    return {**record, **values}


def rule_states(
    svc: RecordService, entity: EntityDef, form: FormDef | None, record: dict, *, draft: bool = False
) -> dict[str, NodeState]:
    """Each rule-bearing layout node's own state for ``record`` (empty without rules)."""
    rules = form_rules(svc.snapshot, entity, form, draft=draft) if form is not None else None
    return rules.evaluate(record, svc.environment()) if rules else {}


def changed_regions(
    layout: dict, states: dict[str, NodeState], posted: dict[str, str]
) -> list[tuple[dict, tuple[int, ...], NodeState, dict | None]]:
    """The rule-bearing nodes whose state differs from what the page shows (``posted``: key →
    signature), as (node, path, parent state, containing node); a region inside another one
    that changes comes along with it."""
    out = []

    def visit(node: dict, path: tuple[int, ...], parent: NodeState, container: dict | None) -> None:
        key = node_key(node, path)
        state = parent
        if key in states:
            state = states[key].within(parent)
            if posted.get(key) != state.signature:
                out.append((node, path, parent, container))
                return
        for i, child in enumerate(node.get("items", [])):
            visit(child, (*path, i), state, node)

    visit(layout, (), OPEN, None)
    return out


def field_placement(layout: dict, name: str, mode: str, states: dict[str, NodeState]):
    """Where the form places field ``name`` for ``mode``: (node, path, parent state), or None."""

    def visit(node: dict, path: tuple[int, ...], parent: NodeState):
        key = node_key(node, path)
        state = states[key].within(parent) if key in states else parent
        if node.get("type") == "field":
            if node.get("field") == name and mode in node.get("modes", ["create", "edit", "view"]):
                return node, path, parent
            return None
        for i, child in enumerate(node.get("items", [])):
            found = visit(child, (*path, i), state)
            if found:
                return found
        return None

    return visit(layout, (), OPEN)


class LayoutBuilder:
    def __init__(
        self,
        svc: RecordService,
        entity: EntityDef,
        mode: str,
        record: dict | None,
        raw: MultiDict | None = None,
        errors: dict[str, list[str]] | None = None,
        states: dict[str, NodeState] | None = None,
        *,
        live: bool = True,
    ):
        """``live``: each input validates as it changes (not in the designer's preview, which
        re-renders as a whole)."""
        self.live = live
        self.svc = svc
        self.entity = entity
        self.mode = mode
        self.record = record or {}
        self.raw = raw
        self.errors = errors or {}
        self.states = states or {}

    def build(self, layout: dict) -> LayoutNode:
        return self.node(layout)

    def node(
        self, node: dict, path: tuple[int, ...] = (), parent: NodeState = OPEN, container: dict | None = None
    ) -> LayoutNode | None:
        """A layout node as the page shows it. A node whose rules hide it is left out of a record
        page; in a form it is kept, hidden, so that it can appear when the rules say so."""
        key = node_key(node, path)
        state = self.states[key].within(parent) if key in self.states else parent
        if self.mode == "view" and not state.visible:
            return None
        built = self._node(node, path, state)
        if built is None:
            return None
        if container is not None and container.get("type") == "section":  # a grid: each child is a column
            columns = container.get("columns", 2)
            span = min(node.get("colspan", 1), columns) if node.get("type") == "field" else 0
            built.wrapper = "col" + (f" scrm-span-{span}" if span > 1 else "" if span else " scrm-span-full")
        if key in self.states and self.mode != "view":
            built.rule_key, built.hidden, built.signature = key, not state.visible, state.signature
        return built

    def _node(self, node: dict, path: tuple[int, ...], state: NodeState) -> LayoutNode | None:
        kind = node.get("type")
        if kind == "field":
            f = self.entity.field(node["field"])
            if f is None or not f.active or self.mode not in node.get("modes", ["create", "edit", "view"]):
                return None
            if not self.svc.permissions.visible(self.entity, f):
                return None
            view = self.field_view(f, node, state)
            return LayoutNode("field", field=view, colspan=node.get("colspan", 1))
        if kind == "note":
            return LayoutNode("note", id=node.get("id", ""), text=text(node["text"]), style=node.get("style", "info"))
        if kind == "related_list":
            if self.mode != "view":
                return None
            related = self.related(node)
            return LayoutNode("related_list", related=related) if related else None
        items = enumerate(node.get("items", []))
        children = [c for c in (self.node(child, (*path, i), state, node) for i, child in items) if c is not None]
        if not children:
            return None
        return LayoutNode(
            kind,
            id=node.get("id", ""),
            label=text(node.get("label")),
            items=children,
            columns=node.get("columns", 1 if kind == "tab" else 2),
        )

    def field_view(self, f: FieldDef, node: dict, state: NodeState = OPEN) -> FieldView:
        ftype = self.svc.field_types[f.type]
        widget = node.get("widget") or ftype.widgets[0]
        access = self.svc.permissions.field(self.entity, f)
        readonly = self.mode == "view" or not editable(f, node) or not access.write or not state.enabled
        value = self.record.get(f.name)
        masked = access.view == "masked" and self.mode == "edit" and not readonly
        placeholder = text(node.get("placeholder") or f.get("placeholder"))
        if self.raw is not None and f.name in self.raw and not readonly:
            submitted = [v for v in self.raw.getlist(f.name) if v != ""] if ftype.multi else self.raw.getlist(f.name)
            shown = ", ".join(submitted) if ftype.multi else (submitted[-1] if submitted else "")
        elif masked:  # the input starts empty, showing the masked value; left empty, it keeps the value
            shown, placeholder = "", ftype.format_input(value, f) or placeholder
        else:
            shown = ftype.format_input(value, f)
        display = self.display(f, value)
        choices: list[Choice] = []
        extra: dict = {}
        if f.type == "ref" and not readonly:
            widget, choices, extra = self.ref_widget(f, value, node)
        elif f.type in ("enum", "multi_enum") or (f.type == "tags" and f.options):
            current = set(value or []) if ftype.multi else {value}
            if self.raw is not None and f.name in self.raw:
                current = set(self.raw.getlist(f.name)) if ftype.multi else {self.raw.getlist(f.name)[-1]}
            choices = [
                Choice(o.value, text(o.label), o.value in current) for o in f.options if o.active or o.value in current
            ]
            if widget in ("tags", "tag_picker") and f.type == "multi_enum":
                widget = "multi_select"
        elif f.type == "bool":
            checked = (
                bool(value) if self.raw is None or f.name not in self.raw else self.raw.getlist(f.name)[-1] == "true"
            )
            extra["checked"] = checked
            if widget == "select":
                choices = [Choice("true", _("Yes"), value is True), Choice("false", _("No"), value is False)]
        if widget in ("tags", "tag_picker"):
            extra["suggestions"] = [o.value for o in f.options]
        if widget == "money":
            extra["prefix"] = {"CNY": "¥", "USD": "$", "HKD": "HK$"}.get(f.get("currency", "CNY"), f.get("currency"))
        if widget == "percent":
            extra["suffix"] = "%"
        if widget in ("number", "money", "percent"):
            extra["inputmode"] = "numeric" if f.type == "integer" else "decimal"
        return FieldView(
            name=f.name,
            label=text(node.get("label") or f.label),
            widget=widget,
            input_type=INPUT_TYPES.get(widget, "text"),
            value=shown,
            display=display,
            choices=choices,
            required=(f.required or state.required) and state.visible and not readonly and not masked,
            readonly=readonly,
            help=text(node.get("help") or f.get("help"))
            or (_("Leave empty to keep the current value.") if masked else ""),
            placeholder=placeholder,
            errors=self.errors.get(f.name, []),
            colspan=node.get("colspan", 1),
            validate_url=url_for("pages.validate_field", entity=self.entity.name, field=f.name) if self.live else "",
            **extra,
        )

    def display(self, f: FieldDef, value) -> str | Markup:
        if f.type == "ref" and value is not None:
            title = self.record.get("_titles", {}).get(f.name) or f"#{value}"
            return Markup('<a href="{}">{}</a>').format(
                url_for("pages.detail", entity=f.target, record_id=value), title
            )
        return self.svc.field_types[f.type].display(value, f)

    def ref_widget(self, f: FieldDef, value, node: dict | None = None) -> tuple[str, list[Choice], dict]:
        target = self.svc.snapshot.entity(f.target)
        if target is None:
            return "text", [], {}
        if not self.svc.permissions.can(target, "read"):  # keeps its value; offers nothing else
            title = self.record.get("_titles", {}).get(f.name) or (f"#{value}" if value is not None else "")
            return "select", [Choice(str(value), title, True)] if value is not None else [], {}
        if (node or {}).get("widget") == "lookup" or (node or {}).get("lookup"):
            return self.combobox(f, value)
        options = self.svc.lookup(f.target, limit=MAX_SELECT + 1)
        if len(options) <= MAX_SELECT:
            choices = [Choice(str(i), t, i == value) for i, t in options]
            if value is not None and not any(c.selected for c in choices):
                choices.insert(0, Choice(str(value), self.record.get("_titles", {}).get(f.name) or f"#{value}", True))
            return "select", choices, {}
        return self.combobox(f, value)

    def combobox(self, f: FieldDef, value) -> tuple[str, list[Choice], dict]:
        """A type-ahead: the id in a hidden input, the title in a search box whose choices come
        from the server as the user types (filtered by the form's ``lookup.filter``)."""
        title = self.record.get("_titles", {}).get(f.name) or (f"#{value}" if value is not None else "")
        if self.raw is not None and f.name in self.raw:
            typed = self.raw.get(f"_label_{f.name}")
            title = typed if typed is not None else title
        return (
            "lookup",
            [],
            {
                "lookup_url": url_for("pages.choices", entity=self.entity.name, field=f.name),
                "current": title if value is not None or (self.raw is not None and f.name in self.raw) else "",
            },
        )

    def related(self, node: dict) -> RelatedList | None:
        rel = self.entity.relation(node["relation"])
        target = self.svc.snapshot.entity(rel.target) if rel else None
        if rel is None or target is None or rel.kind != "has_many" or not self.record.get("id"):
            return None
        if not self.svc.permissions.can(target, "read"):
            return None
        columns = [
            c
            for c in node.get("columns") or _target_columns(target)
            if target.field(c) is None or self.svc.permissions.visible(target, target.field(c))
        ]
        condition = {"field": rel.via, "op": "eq", "value": self.record["id"]}
        note = ""
        # only the shown columns: every other reference would be one more join to plan (a record
        # page shows twenty related lists; PostgreSQL spent 49 ms planning the product sales alone)
        shown = dict(sort=node.get("sort") or rel.sort, limit=node.get("limit", 10), fields=columns)
        try:
            wanted = {"all": [condition, node["filter"]]} if node.get("filter") else condition
            page = self.svc.list(target.name, filter=wanted, **shown)
        except BadRequest:  # a filter the runtime cannot evaluate yet: show the unfiltered list, say so
            note = _("The list's filter is not applied (it uses conditions not supported here yet).")
            page = self.svc.list(target.name, filter=condition, **shown)
        rows = []
        for r in page.items:
            url = url_for("pages.detail", entity=target.name, record_id=r["id"])
            cells = []
            for i, name in enumerate(columns):
                f = target.field(name)
                if f is None:
                    cells.append(str(r.get(name, "")))
                    continue
                shown = LayoutBuilder(self.svc, target, "view", r).display(f, r.get(f.name))
                cells.append(Markup('<a href="{}">{}</a>').format(url, shown or f"#{r['id']}") if i == 0 else shown)
            rows.append(Row(r["id"], url, Markup("".join(f"<td>{escape(c)}</td>" for c in cells))))
        labels = [text(target.field(c).label) if target.field(c) else c for c in columns]
        more = url_for("pages.list_records", entity=target.name, **{f"f_{rel.via}": self.record["id"]})
        return RelatedList(
            text(node.get("label") or rel.label),
            target.name,
            labels,
            rows,
            more,
            url_for("pages.create", entity=target.name, **{rel.via: self.record["id"]})
            if self.svc.permissions.can(target, "create")
            else None,
            note,
        )


def _target_columns(target: EntityDef) -> list[str]:
    names = target.list_spec.get("columns") or [f.name for f in target.active_fields][:5]
    return names[:6]


def bind_record(cond, record: dict):
    """A lookup filter with ``{"record": name}`` replaced by the value the form holds; a leaf
    whose value is empty is left out (choose the branch first, then its managers)."""
    if isinstance(cond, list):
        return [c for c in (bind_record(item, record) for item in cond) if c is not None]
    if not isinstance(cond, dict):
        return cond
    if "record" in cond and len(cond) == 1:
        value = record.get(cond["record"])
        return _json_value(value)
    out = {}
    for key, item in cond.items():
        bound = bind_record(item, record)
        if key == "value" and bound is None and isinstance(item, dict) and "record" in item:
            return None
        out[key] = bound
    for group in ("all", "any"):
        if group in out and not out[group]:
            return None
    if "not" in out and out["not"] is None:
        return None
    return out


def _json_value(value):
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list | set | frozenset | tuple):
        return sorted(_json_value(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
