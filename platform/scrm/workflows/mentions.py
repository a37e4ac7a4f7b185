"""@mentions in the comments of a workflow record (a ticket's 处理记录): ``@login`` or ``@姓名``
names an employee; each one mentioned becomes a watcher of the record and gets an inbox
message linking to it, in the comment's own transaction."""

from __future__ import annotations

import re

import sqlalchemy as sa

from ..db import db, run
from ..i18n import text
from ..notify import inbox
from ..notify.message import Message

MENTION = re.compile(r"@([\w.\-\u4e00-\u9fff]{1,40})")


def comment_relation(snapshot, entity_name: str):
    """(workflow, parent entity, relation) when ``entity_name`` holds a workflow's comments."""
    from .model import workflows_of

    for wf in workflows_of(snapshot).values():
        parent = snapshot.entity(wf.entity)
        relation = parent.relation(wf.public.get("comments") or "") if parent else None
        if relation is not None and relation.target == entity_name:
            return wf, parent, relation
    return None


def mentioned(snapshot, body: str) -> list[int]:
    """Employees named in ``body`` by login or by full name, in order, each once."""
    names = list(dict.fromkeys(MENTION.findall(body or "")))
    if not names:
        return []
    emp = snapshot.entity("employee")
    t = snapshot.tables["employee"].main
    columns = [
        t.c[emp.field(n).column] for n in ("login", "name") if emp.field(n) is not None and not emp.field(n).encrypted
    ]
    rows = run(sa.select(t.c.id, *columns).where(sa.or_(*[c.in_(names) for c in columns]), t.c.deleted_at.is_(None)))
    found: dict[str, int] = {}
    for row in rows:
        for value in row[1:]:
            found.setdefault(value, row[0])
    return list(dict.fromkeys(found[n] for n in names if n in found))


def on_comment(snapshot, svc, entity, comment: dict, link, author_label: str) -> dict:
    """Watchers and notifications for a new comment; the comment's ``mentions`` value."""
    wf, parent, relation = link
    people = mentioned(snapshot, comment.get("body") or "")
    if not people:
        return {}
    parent_id = comment.get(relation.via)
    record = svc.load(parent.name, parent_id)
    watchers = [w for w in (record.get("watchers") or []) if isinstance(w, int)]
    added = [p for p in people if p not in watchers]
    if added and parent.field("watchers") is not None:
        from .engine import engine_writes

        with engine_writes():
            svc.write_values(parent, record, {"watchers": watchers + added})
    title = record.get(parent.title_field.name) if parent.title_field else parent_id
    for employee_id in people:
        person = svc.load("employee", employee_id)
        body = (comment.get("body") or "")[:500]
        inbox.deliver(
            Message(
                channel="inapp",
                recipient=person,
                subject=f"{author_label} @{person.get('name')} · {text(parent.label)} {title}",
                body=body,
                link=f"/e/{parent.name}/{parent_id}",
                severity="medium",
                rule=f"mention:{wf.name}",
            )
        )
    db.session.flush()
    return {"mentions": people}
