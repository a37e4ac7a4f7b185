"""The comment thread of a workflow record (a ticket's 处理记录): the relation its workflow names
in ``public_status.comments``. A comment is internal or customer-visible, written by an employee
(the signed-in user's) or by the customer (on the status page), and may carry attachments.

Writing one is a single transaction: the comment through the user's record service (permissions,
validation, the @mention hook), its files (:mod:`scrm.data.attachments`) and the comment's
``attachments`` value; a refused file leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import attachments
from ..data.records import RecordService
from ..db import db, writing
from ..errors import Detail, NotFound, ValidationFailed
from ..i18n import _
from .mentions import MENTION
from .model import workflows_of

INTERNAL, CUSTOMER = "internal", "customer"
BODY_MAX = 4000
SHOWN = 100


@dataclass
class Thread:
    """Where a record's comments live: the comment entity and the field naming the record."""

    entity: object  # EntityDef of the comments
    via: str

    @property
    def name(self) -> str:
        return self.entity.name


def thread_of(snapshot, entity_name: str) -> Thread | None:
    wf = workflows_of(snapshot).get(entity_name)
    parent = snapshot.entity(entity_name)
    relation = parent.relation((wf.public.get("comments") or "") if wf else "") if parent else None
    target = snapshot.entity(relation.target) if relation is not None else None
    return Thread(target, relation.via) if target is not None else None


def comments(svc: RecordService, thread: Thread, record_id: int, *, public_only: bool = False) -> list[dict]:
    """The record's comments the user may read, oldest first (the last :data:`SHOWN`)."""
    condition = [{"field": thread.via, "op": "eq", "value": record_id}]
    if public_only:
        condition.append({"field": "visibility", "op": "eq", "value": CUSTOMER})
    page = svc.list(thread.name, filter={"all": condition}, sort="-created_at", limit=SHOWN)
    return list(reversed(page.items))


def authors(snapshot, items: list[dict]) -> dict[int, str]:
    """The names of the employees who wrote ``items`` (staff names are shown to every colleague)."""
    ids = sorted({c["author"] for c in items if isinstance(c.get("author"), int)})
    if not ids or snapshot.entity("employee") is None:
        return {}
    reader = RecordService(snapshot, None, system=True)
    page = reader.list("employee", filter={"field": "id", "op": "in", "value": ids}, limit=len(ids), fields=["name"])
    return {r["id"]: r.get("name") or f"#{r['id']}" for r in page.items}


def add(
    svc: RecordService,
    thread: Thread,
    record_id: int,
    body: str,
    visibility: str = INTERNAL,
    uploads: list[attachments.Upload] | None = None,
    *,
    by_customer: bool = False,
) -> dict:
    """Write a comment on the record as ``svc``'s user (or as the customer); the comment."""
    body = (body or "").strip()
    details = []
    if not body:
        details.append(Detail("body", _("Please write your message.")))
    elif len(body) > BODY_MAX:
        details.append(Detail("body", _("At most {n} characters.").format(n=BODY_MAX)))
    if visibility not in (INTERNAL, CUSTOMER):
        details.append(Detail("visibility", _("Internal or visible to the customer.")))
    if details:
        raise ValidationFailed(_("Please correct the marked fields."), details)
    checked = attachments.check(uploads or [])
    values = {thread.via: record_id, "body": body, "visibility": visibility}
    if by_customer:
        values["author_customer"] = True
    else:
        employee = svc.principal.employee
        if employee is None:
            raise ValidationFailed(
                _("Your user account is not linked to an employee, so it cannot sign a comment."),
                [Detail("body", _("No employee for this user."))],
            )
        values["author"] = employee
    with writing():
        try:
            comment_id = svc.create_in_transaction(thread.name, values)
            if checked:
                files = attachments.store(thread.name, comment_id, checked, svc.user_id)
                writer = RecordService(svc.snapshot, svc.user_id, system=True)
                writer.write_values(thread.entity, writer.load(thread.name, comment_id), {"attachments": files})
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return svc.get(thread.name, comment_id)


def public_file(svc: RecordService, thread: Thread, record_id: int, attachment_id: int):
    """A file of a customer-visible comment of the record (for the status page), else NotFound."""
    row = attachments.readable(svc, attachment_id)
    if row.entity != thread.name:
        raise NotFound(_("There is no such file."))
    comment = svc.load(thread.name, row.record_id)
    if comment.get(thread.via) != record_id or comment.get("visibility") != CUSTOMER:
        raise NotFound(_("There is no such file."))
    return row


def highlighted(body: str) -> list[tuple[str, bool]]:
    """The body split into (text, is_mention) parts, for the page to mark @mentions."""
    out, last = [], 0
    for m in MENTION.finditer(body or ""):
        out.append((body[last : m.start()], False))
        out.append((m.group(0), True))
        last = m.end()
    out.append(((body or "")[last:], False))
    return [p for p in out if p[0]]
