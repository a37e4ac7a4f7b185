"""Typed page contexts: templates loop and include; decisions are made here, in tested Python."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape


@dataclass
class NavItem:
    label: str
    url: str
    icon: str
    active: bool = False


@dataclass
class Column:
    name: str
    label: str
    sort_url: str | None
    sorted: str | None  # "asc" | "desc" | None
    numeric: bool = False
    quick_edit: bool = False  # the user may change it in place (double-click, or Enter on the cell)


@dataclass
class Row:
    id: int
    url: str
    html: Markup  # the row's <td> cells, rendered in Python (lists render thousands of cells)
    version: int | None = None


@dataclass
class Choice:
    value: str
    label: str
    selected: bool = False


@dataclass
class FilterControl:
    name: str
    label: str
    kind: str  # select | text | range | date_range
    choices: list[Choice] = field(default_factory=list)
    value: str = ""
    value_to: str = ""
    input_type: str = "text"
    hidden: bool = False

    @property
    def options_html(self) -> Markup:
        """The ``<option>`` elements of a select filter (a filter bar can hold a few hundred
        choices: the account managers, the branches), remembered by content."""
        return _options_markup(tuple((c.value, c.label, c.selected) for c in self.choices))


@dataclass
class ListPage:
    entity: str
    title: str
    icon: str
    list_url: str
    new_url: str | None
    columns: list[Column]
    rows: list[Row]
    next_url: str | None
    filters: list[FilterControl]
    q: str
    sort: str
    active_filters: int
    chooser: list[Choice]
    error: str | None = None
    clear_url: str = ""
    search_hint: str = ""
    export_url: str | None = None
    builder: Any = None  # filter_builder.FilterBuilder
    params: list[tuple[str, str]] = field(default_factory=list)  # the list's state, canonical
    condition: dict | None = None
    selectable: bool = False  # rows carry a checkbox for bulk actions
    canonical_url: str = ""
    views: Any = None  # list_views.ViewMenu
    bulk: Any = None  # list_edits.BulkMenu
    links: list[NavItem] = field(default_factory=list)  # board, import
    drill: dict | None = None  # a dashboard drill-down's condition: its label, the way back, the URL without it

    @property
    def condition_json(self) -> str:
        return json.dumps(self.condition, ensure_ascii=False, indent=1) if self.condition else ""

    @property
    def column_count(self) -> int:
        return len(self.columns) + (1 if self.selectable else 0)

    @property
    def chooser_html(self) -> Markup:
        """The column chooser's checkboxes, one per field (an entity can have a hundred),
        remembered by content."""
        return _chooser_markup(tuple((c.value, c.label, c.selected) for c in self.chooser))


# Markup remembered by content (value, label, selected): every list page of an entity shows the
# same choices and columns, and building them was a quarter of what the page costs over a
# hand-written one. Pure functions of their argument, so nothing to invalidate.
@lru_cache(maxsize=512)
def _options_markup(choices: tuple[tuple[str, str, bool], ...]) -> Markup:
    return Markup(
        "".join(
            f'<option value="{escape(value)}"{" selected" if selected else ""}>{escape(label)}</option>'
            for value, label, selected in choices
        )
    )


@lru_cache(maxsize=512)
def _chooser_markup(choices: tuple[tuple[str, str, bool], ...]) -> Markup:
    return Markup(
        "".join(
            f'<div class="form-check"><input class="form-check-input" type="checkbox" name="cols" '
            f'value="{escape(value)}" id="col-{escape(value)}"{" checked" if selected else ""}>'
            f'<label class="form-check-label small" for="col-{escape(value)}">{escape(label)}</label></div>'
            for value, label, selected in choices
        )
    )


@dataclass
class FieldView:
    name: str
    label: str
    widget: str
    input_type: str
    value: str
    display: str | Markup
    choices: list[Choice]
    required: bool
    readonly: bool
    help: str
    placeholder: str
    errors: list[str]
    colspan: int
    validate_url: str
    prefix: str = ""
    suffix: str = ""
    inputmode: str = ""
    checked: bool = False
    suggestions: list[str] = field(default_factory=list)
    lookup_url: str = ""
    current: str = ""

    @property
    def dom_id(self) -> str:
        return f"f-{self.name}"


@dataclass
class LayoutNode:
    kind: str  # tabs | tab | section | field | note | related_list
    id: str = ""
    label: str = ""
    items: list[LayoutNode] = field(default_factory=list)
    columns: int = 2
    field: FieldView | None = None
    text: str = ""
    style: str = "info"
    related: RelatedList | None = None
    colspan: int = 1
    rule_key: str = ""  # set on nodes with rules: the page's region for them
    hidden: bool = False
    signature: str = ""
    wrapper: str = ""  # the CSS class of the element holding the node (a grid column in a section)


@dataclass
class RelatedList:
    label: str
    entity: str
    columns: list[str]
    rows: list[Row]
    more_url: str
    new_url: str | None = None
    note: str = ""


@dataclass
class FormPage:
    entity: str
    title: str
    mode: str  # create | edit
    action_url: str
    cancel_url: str
    layout: LayoutNode
    errors: list[str]
    version: int | None = None
    conflict: list[str] = field(default_factory=list)
    record_id: int | None = None


@dataclass
class HistoryEntry:
    at: str
    user: str
    action: str
    field: str
    old: str
    new: str


@dataclass
class DetailPage:
    entity: str
    title: str
    subtitle: str
    record_id: int
    version: int
    layout: LayoutNode
    history: list[HistoryEntry]
    edit_url: str | None
    delete_url: str | None
    list_url: str
    created: str
    updated: str
    reveal_url: str | None = None
    overview_url: str | None = None
    workflow_url: str | None = None
    comments_url: str | None = None
