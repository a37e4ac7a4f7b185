"""The sidebar: the entities' ``nav`` settings grouped once per revision and locale, and its
links rendered once per readable set and current entity."""

from __future__ import annotations

from flask import url_for
from markupsafe import Markup, escape

from ..i18n import _, text
from .context import NavItem


def sidebar_html(groups, readable: set[str], current: str | None) -> Markup:
    """The sidebar's entity links, rendered once per revision, locale, readable set and current
    entity (every page shows it; as a template loop it cost a sixth of a list page)."""
    parts = []
    for label, items in groups:
        shown = [
            f'<a class="scrm-nav-link{" active" if name == current else ""}" href="{escape(i.url)}">'
            f'<i class="bi bi-{escape(i.icon)}"></i> {escape(i.label)}</a>'
            for name, i in items
            if name in readable
        ]
        if shown:
            parts.append(f'<div class="scrm-nav-group">{escape(label)}</div>' + "".join(shown))
    return Markup("".join(parts))


def navigation_groups(snap) -> list[tuple[str, list[tuple[str, NavItem]]]]:
    """The sidebar from the entities' ``nav`` settings, as (entity, item) pairs; built once per
    revision and locale (each request then keeps what the user may read)."""
    groups: dict[str, list[tuple[int, tuple[str, NavItem]]]] = {}
    for entity in snap.entities.values():
        nav = entity.nav
        if nav.get("hidden"):
            continue
        group = text(nav.get("group")) or _("Data")
        item = NavItem(text(entity.plural_label), url_for("pages.list_records", entity=entity.name), entity.icon)
        groups.setdefault(group, []).append((nav.get("order", 1000), (entity.name, item)))
    ordered = sorted(groups.items(), key=lambda kv: min(o for o, _i in kv[1]))
    return [(label, [i for _o, i in sorted(items, key=lambda x: (x[0], x[1][1].label))]) for label, items in ordered]
