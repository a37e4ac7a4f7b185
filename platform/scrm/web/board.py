"""The board: an entity's records in columns by one of its choice fields (service tickets by
status), with a count per column, the first cards of each, and cards moved between columns by
drag and drop or a "Move to…" form that works without JavaScript.

The board reads like the list page: the same quick search and filters (``listing.build_filters``,
the same query parameters), the same sort, keyset "more" pages per column. Counts are one scoped
``GROUP BY``; each column that has records costs one lean keyset query, and the cards' values one
more, so a board page costs the same for a hundred records as for a million. Every move goes through :func:`move_card`, which writes
through :meth:`RecordService.update` with the version the user saw (permissions, scope, form
rules, validation and the change history all apply).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, request, url_for
from markupsafe import Markup, escape

from ..data.reading import MAX_LIMIT
from ..data.records import RecordService
from ..db import run
from ..errors import BadRequest, Conflict, Detail, ValidationFailed
from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef
from ..workflows.model import workflows_of
from .context import FilterControl
from .listing import build_filters, cell_renderer, visible_only
from .pages import check_id, entity_or_404, record_title, require_login, service, summary_of
from .render import render

bp = Blueprint("board", __name__)
bp.before_request(require_login)

CARDS = 20  # cards per column and per "more"
EMPTY = "empty"  # the key of the column of records without a value
BOARD_PARAMS = ("column", "after", "cols")  # parameters of one request, not of the board


@dataclass
class CardField:
    label: str
    html: Markup


@dataclass
class Target:
    value: str
    label: str


@dataclass
class Card:
    id: int
    title: Markup
    plain_title: str
    fields: list[CardField]
    version: int
    value: str  # the board field's value as the card shows it ("" when empty)
    move_url: str | None = None
    targets: list[Target] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # why a move was refused
    message_kind: str = "danger"
    edit_url: str | None = None


@dataclass
class BoardColumn:
    key: str
    value: str  # what a move to this column posts ("" for the empty column)
    label: str
    color: str | None
    count: int
    cards: list[Card] = field(default_factory=list)
    more_url: str | None = None
    droppable: bool = False


@dataclass
class FieldChoice:
    name: str
    label: str
    url: str
    selected: bool = False


@dataclass
class BoardPage:
    entity: str
    title: str
    icon: str
    by: str
    columns: list[BoardColumn]
    fields: list[FieldChoice]
    filters: list[FilterControl]
    q: str
    sort: str
    active_filters: int
    board_url: str  # this board, with its field, search and filters
    list_url: str  # the list, with the same search and filters
    new_url: str | None = None
    action_url: str = ""  # the board without parameters: where its filter form goes
    error: str | None = None
    notice: str | None = None
    focus: BoardColumn | None = None  # "more" of one column, as a page of its own (no JavaScript)
    stray: int = 0  # records whose value is no longer one of the options
    search_hint: str = ""
    carried: list[tuple[str, str]] = field(default_factory=list)  # other list parameters the filter form keeps


def column_key(value: str | None) -> str:
    """A DOM-safe, stable key for a column (option values may hold any character)."""
    if value is None:
        return EMPTY
    return "c" + hashlib.blake2s(value.encode(), digest_size=5).hexdigest()


def groupable(svc: RecordService, entity: EntityDef, f: FieldDef) -> bool:
    """A field a board can have columns for: a stored enum the user reads in plain."""
    return (
        f.type == "enum"
        and f.active
        and not f.encrypted
        and f.column in svc.tables(entity).main.c
        and svc.permissions.readable(entity, f)
    )


def movable(svc: RecordService, entity: EntityDef, f: FieldDef) -> bool:
    """Whether the user may move cards: update the records and write the field."""
    return svc.permissions.can(entity, "update") and svc.permissions.field(entity, f).write


def move_card(
    svc: RecordService, entity: EntityDef, record_id: int, f: FieldDef, value: str | None, version: int | None
) -> dict:
    """Move a record to another column: its board field set to ``value`` through the record
    service, with the version the user saw. The one road for every move (drag and drop, the
    "Move to…" menu, the form without JavaScript), so a workflow can take it over later.

    Raises :class:`Forbidden` without the right to change the field, :class:`Conflict` on a
    stale version, :class:`ValidationFailed` when the record may not take the value."""
    wf = workflows_of(svc.snapshot).get(entity.name)
    if wf is not None and wf.state_field == f.name:
        return _move_by_transition(svc, entity, wf.state_field, record_id, value, version)
    svc.permissions.require(entity, "update")
    if not movable(svc, entity, f):
        raise svc.permissions.forbid_field(entity, f)
    record = svc.update(entity.name, record_id, {f.name: value}, version)
    if record.get(f.name) != value:  # the form's rules kept the stored value; nothing was written
        raise ValidationFailed(
            _("{field} cannot be changed on this record now.").format(field=text(f.label)),
            [Detail(f.name, _("The form's rules keep the current value; open the record to see why."))],
        )
    return record


def _move_by_transition(svc: RecordService, entity: EntityDef, state: str, record_id: int, value, version) -> dict:
    """A move on a workflow's state field takes the step that leads there: the one the user
    may take without inputs; a step that needs inputs or a reason is taken on the record page."""
    from ..workflows import engine

    if version is None:
        raise BadRequest(
            _("Send the version you edited (If-Match header or _version) so that nobody's change is overwritten."),
            [Detail("_version", _("Missing version."))],
            "version_required",
        )
    current = svc.get(entity.name, record_id)
    if current["version"] != version:
        raise svc._conflict(entity, current)
    steps = [t for t in engine.available(svc, entity.name, current) if t.target(current[state]) == value]
    if not steps:
        message = _("No step you may take leads from here to this column; open the record to see the steps.")
        raise ValidationFailed(message, [Detail("$", message)])
    simple = [t for t in steps if not t.inputs and t.comment != "required"]
    if not simple:
        message = _("The step “{step}” needs more information; open the record to take it.").format(
            step=text(steps[0].label)
        )
        raise ValidationFailed(message, [Detail("$", message)])
    engine.apply(svc, entity.name, record_id, simple[0].name, {}, None, version)
    return svc.get(entity.name, record_id)


def board_field(svc: RecordService, entity: EntityDef) -> FieldDef | None:
    """The field the board groups by: ``?by=`` (refused with a 400 when it is not a choice
    field the user reads), else the entity's ``list.board.field``; None when there is neither."""
    requested = request.args.get("by", "").strip()
    if requested:
        f = entity.field(requested)
        if f is None or not groupable(svc, entity, f):
            raise BadRequest(
                _("{entity} cannot be shown as a board by {field!r}; choose one of its choice fields.").format(
                    entity=text(entity.plural_label), field=requested[:64]
                ),
                [Detail("by", _("Not a choice field you may read."), "invalid_board_field")],
                "invalid_board_field",
            )
        return f
    declared = (entity.list_spec.get("board") or {}).get("field")
    f = entity.field(declared) if declared else None
    return f if f is not None and groupable(svc, entity, f) else None


class Board:
    """One board request: the entity, its field, the user's search and filters."""

    def __init__(self, svc: RecordService, entity: EntityDef, f: FieldDef):
        self.svc, self.entity, self.field = svc, entity, f
        self.condition, self.controls, self.active, self.problems = build_filters(entity, svc)
        self.q = request.args.get("q", "").strip()[:100]
        self.sort = request.args.get("sort") or entity.list_spec.get("sort") or "-id"
        self.base = url_for("pages.list_records", entity=entity.name)
        params = [(k, v) for k, v in request.args.items(multi=True) if k not in (*BOARD_PARAMS, "by")]
        self.params = [("by", f.name), *params]
        self.query = urlencode(self.params)
        self.url = f"{url_for('board.show', entity=entity.name)}?{self.query}"
        title = entity.title_field
        self.title = title if title is not None and svc.permissions.visible(entity, title) else None
        spec = entity.list_spec.get("board") or {}
        names = [n for n in spec.get("card") or entity.list_spec.get("columns", [])[:5] if entity.field(n)]
        names = [entity.field(n).name for n in names]
        hide = {f.name, self.title.name if self.title else None}
        self.card_names = [n for n in visible_only(entity, svc, names) if n not in hide][:6]
        self.renderers = [
            (text(entity.field(n).label), n, cell_renderer(svc, entity, n, False)) for n in self.card_names
        ]
        self.render_title = cell_renderer(svc, entity, self.title.name, True) if self.title else None
        self.can_move = movable(svc, entity, f)

    # -- reading ----------------------------------------------------------------------------
    def counts(self) -> dict[str | None, int]:
        """Records per value of the field: one scoped ``GROUP BY`` with the board's search and filters."""
        et = self.svc.tables(self.entity)
        column = et.main.c[self.field.column]
        stmt = sa.select(column, sa.func.count()).select_from(et.main)
        stmt = self.svc.filtered(stmt, self.entity, self.condition, self.q, self.svc.environment())
        return {value: int(n) for value, n in run(stmt.group_by(column))}

    def columns(self, counts: dict[str | None, int]) -> list[BoardColumn]:
        """The options in declared order (inactive ones only while records hold them), then the
        empty column when the field is optional and records lack it."""
        out = []
        for option in self.field.options:
            if option.active or counts.get(option.value):
                out.append(
                    BoardColumn(
                        column_key(option.value),
                        option.value,
                        text(option.label),
                        option.color,
                        counts.get(option.value, 0),
                        droppable=self.can_move and option.active,
                    )
                )
        if not self.field.required and counts.get(None):
            out.append(BoardColumn(EMPTY, "", _("(empty)"), None, counts[None]))
        return out

    def fill(self, columns: list[BoardColumn], after: str | None = None) -> None:
        """The columns' next cards in the list's order (after the keyset cursor ``after``): one
        lean keyset query per column for the ids, then one query for what the cards show, so
        the page reads (and the audit log records) the shown values once."""
        ids: dict[str, list[int]] = {}
        for column in columns:
            leaf = (
                {"field": self.field.name, "op": "eq", "value": column.value}
                if column.value
                else {"field": self.field.name, "op": "is_null"}
            )
            page = self.svc.list(
                self.entity.name,
                filter={"all": [self.condition, leaf]} if self.condition else leaf,
                sort=self.sort,
                limit=CARDS,
                after=after,
                search=self.q,
                fields=[self.field.name],
            )
            ids[column.key] = [r["id"] for r in page.items]
            if page.next:
                column.more_url = f"{self.url}&{urlencode({'column': column.value, 'after': page.next})}"
        records = self.records([i for chunk in ids.values() for i in chunk])
        for column in columns:
            column.cards = [self.card(records[i]) for i in ids[column.key] if i in records]

    def records(self, ids: list[int]) -> dict[int, dict]:
        """The cards' records by id, as the user may see them."""
        out: dict[int, dict] = {}
        fields = [*([self.title.name] if self.title else []), self.field.name, *self.card_names]
        for start in range(0, len(ids), MAX_LIMIT):
            chunk = ids[start : start + MAX_LIMIT]
            page = self.svc.list(
                self.entity.name, filter={"field": "id", "op": "in", "value": chunk}, fields=fields, limit=len(chunk)
            )
            out.update((r["id"], r) for r in page.items)
        return out

    def stray(self, counts: dict[str | None, int]) -> int:
        return sum(n for value, n in counts.items() if value is not None and value not in self.field.option_map)

    # -- cards ------------------------------------------------------------------------------
    def card(self, record: dict, messages: list[str] | None = None, kind: str = "danger") -> Card:
        url = f"{self.base}/{record['id']}"
        plain = record_title(self.entity, record) if self.title else f"{text(self.entity.label)} #{record['id']}"
        title = (
            Markup(self.render_title(record, url))
            if self.render_title
            else Markup(f'<a href="{url}">{escape(plain)}</a>')
        )
        fields = [
            CardField(label, Markup(render(record, url)))
            for label, name, render in self.renderers
            if record.get(name) not in (None, "", [])
        ]
        value = record.get(self.field.name)
        card = Card(
            record["id"],
            title,
            plain,
            fields,
            record["version"],
            value or "",
            messages=messages or [],
            message_kind=kind,
        )
        if self.can_move:
            card.targets = [Target(o.value, text(o.label)) for o in self.field.options if o.active and o.value != value]
            card.move_url = f"{url_for('board.move', entity=self.entity.name, record_id=record['id'])}?{self.query}"
            if messages:
                card.edit_url = url_for("pages.edit", entity=self.entity.name, record_id=record["id"])
        return card

    def field_choices(self) -> list[FieldChoice]:
        board = url_for("board.show", entity=self.entity.name)
        rest = urlencode(self.params[1:])
        return [
            FieldChoice(
                f.name,
                text(f.label),
                f"{board}?{urlencode({'by': f.name})}{'&' + rest if rest else ''}",
                f is self.field,
            )
            for f in self.entity.active_fields
            if groupable(self.svc, self.entity, f)
        ]


def build_board(svc: RecordService, entity: EntityDef, f: FieldDef) -> BoardPage:
    board = Board(svc, entity, f)
    list_params = urlencode(board.params[1:])
    page = BoardPage(
        entity=entity.name,
        title=text(entity.plural_label),
        icon=entity.icon,
        by=f.name,
        columns=[],
        fields=board.field_choices(),
        filters=board.controls,
        q=board.q,
        sort=board.sort,
        active_filters=board.active,
        board_url=board.url,
        list_url=board.base + (f"?{list_params}" if list_params else ""),
        new_url=url_for("pages.create", entity=entity.name) if svc.permissions.can(entity, "create") else None,
        action_url=url_for("board.show", entity=entity.name),
        error="; ".join(board.problems) or None,
        search_hint=", ".join(text(s.label) for s in entity.search_fields if svc.permissions.visible(entity, s)),
        carried=[(k, v) for k, v in board.params if k not in ("by", "q", "sort") and not k.startswith("f_")],
    )
    try:
        counts = board.counts()
    except (BadRequest, ValidationFailed) as exc:  # a filter the user may not use, say
        page.error = exc.message
        return page
    page.columns, page.stray = board.columns(counts), board.stray(counts)
    wanted = request.args.get("column")
    if wanted is not None:
        page.focus = next((c for c in page.columns if c.value == wanted), None)
        if page.focus is None:
            raise BadRequest(
                _("The board has no column {value!r}.").format(value=wanted[:64]),
                [Detail("column", _("Not a column of this board."))],
                "invalid_column",
            )
        page.columns = [page.focus]
    try:
        board.fill([c for c in page.columns if c.count], request.args.get("after") if page.focus else None)
    except (BadRequest, ValidationFailed) as exc:  # a sort or cursor that does not fit
        page.error = exc.message
        for column in page.columns:
            column.cards, column.more_url = [], None
    return page


def no_board(svc: RecordService, entity: EntityDef) -> BoardPage:
    """The page for an entity without a board field: what to choose instead."""
    board = url_for("board.show", entity=entity.name)
    choices = [
        FieldChoice(f.name, text(f.label), f"{board}?{urlencode({'by': f.name})}")
        for f in entity.active_fields
        if groupable(svc, entity, f)
    ]
    notice = (
        _("{entity} have no board yet. Choose the field whose options become the columns:")
        if choices
        else _("{entity} have no choice field you may read, so they cannot be shown as a board.")
    ).format(entity=text(entity.plural_label))
    return BoardPage(
        entity=entity.name,
        title=text(entity.plural_label),
        icon=entity.icon,
        by="",
        columns=[],
        fields=choices,
        filters=[],
        q="",
        sort="",
        active_filters=0,
        board_url=board,
        list_url=url_for("pages.list_records", entity=entity.name),
        action_url=board,
        notice=notice,
    )


@bp.get("/e/<entity>/board")
def show(entity: str):
    svc = service()
    definition = entity_or_404(svc, entity)
    svc.permissions.require(definition, "read")
    f = board_field(svc, definition)
    if f is None:
        return render("board", {"page": no_board(svc, definition)}, entity=entity), 404
    page = build_board(svc, definition, f)
    if request.headers.get("HX-Request"):
        if page.focus is not None:
            return render("board", {"page": page}, entity=entity, block="cards")
        if request.headers.get("HX-Target") == "board-results":
            return render("board", {"page": page}, entity=entity, block="results")
    return render("board", {"page": page}, entity=entity)


@bp.post("/e/<entity>/board/move/<int:record_id>")
def move(entity: str, record_id: int):
    """Move a card; htmx gets the card and the two columns' counts, a plain form post a
    redirect back to the board with a message."""
    svc = service()
    definition = entity_or_404(svc, entity)
    f = board_field(svc, definition)
    if f is None:
        raise BadRequest(_("Say which field the board groups by (by=)."), [Detail("by", _("Missing."))])
    value = request.form.get("value") or None  # "" is the empty column
    version = request.form.get("_version", "")
    board = Board(svc, definition, f)
    status, kind = 200, "success"
    try:
        record = move_card(
            svc,
            definition,
            check_id(record_id),
            f,
            value,
            int(version) if version.isascii() and version.isdigit() else None,
        )
        messages = [
            _("{title} moved to {column}.").format(
                title=record_title(definition, record), column=option_label(f, value)
            )
        ]
    except Conflict as exc:
        record, messages, status, kind = svc.get(entity, record_id), [exc.message], 409, "warning"
    except ValidationFailed as exc:
        record, status, kind = svc.get(entity, record_id), 422, "danger"
        messages = summary_of(definition, exc.by_path()) or [exc.message]
    if not request.headers.get("HX-Request"):
        flash(" ".join(messages), kind)
        return redirect(board.url, 303)
    came_from, now = request.form.get("from", ""), record.get(f.name)
    target = f.option_map.get(now) if now is not None else None
    counts = {column_key(v): n for v, n in board.counts().items()}
    keys = dict.fromkeys((column_key(came_from or None), column_key(now)))
    context = {
        "card": board.card(record, None if status == 200 else messages, kind),
        "into": column_key(now) if target is not None and target.active and now != came_from else None,
        "counts": [(k, counts.get(k, 0)) for k in keys],
        "message": " ".join(messages),
    }
    return render("board", {"moved": context}, entity=entity, block="moved"), status


def option_label(f: FieldDef, value: str | None) -> str:
    option = f.option_map.get(value) if value is not None else None
    return text(option.label) if option else _("(empty)")
