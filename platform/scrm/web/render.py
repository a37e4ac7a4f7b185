"""Render a whole page or just one of its blocks (for htmx), from the same context.

A view builds its page context once; ``render`` returns the full template for a normal
request and the named block when htmx asks for a fragment, so links and forms keep working
without JavaScript (STYLE.md example 6). Templates are chosen from a candidate list so an
installation can override one entity's page (``entities/<entity>/list.html``).
"""

from __future__ import annotations

from flask import current_app, render_template


def candidates(page: str, entity: str | None = None) -> list[str]:
    names = [f"entities/{entity}/{page}.html"] if entity else []
    return [*names, f"pages/{page}.html"]


def render(page: str, context: dict, *, entity: str | None = None, block: str | None = None) -> str:
    names = candidates(page, entity)
    if block is None:
        return render_template(names, **context)
    template = current_app.jinja_env.select_template(names)
    ctx = dict(context)
    current_app.update_template_context(ctx)
    return "".join(template.blocks[block](template.new_context(ctx)))
