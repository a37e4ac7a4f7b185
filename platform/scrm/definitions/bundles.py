"""Bundles (test -> production): published definitions exported as one JSON document, and a
bundle imported elsewhere with one check, one migration and one revision — or nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..db import db
from ..errors import Conflict, Detail, NotFound, ValidationFailed
from ..i18n import _
from ..meta import store
from ..meta.documents import Document
from ..meta.normalize import normalize
from ..meta.structure import KINDS
from ..security import audit
from .common import PublishResult, _actor

if TYPE_CHECKING:
    from .service import DefinitionService


@dataclass
class BundleResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drafts_in_the_way: list[str] = field(default_factory=list)
    publish: PublishResult | None = None


BUNDLE_FORMAT = "scrm-bundle/1"
MAX_BUNDLE_ITEMS = 500


def read_bundle(bundle) -> list[Document]:
    """The documents of an exported bundle, or a 422 naming the first thing wrong with it."""

    def bad(path: str, message: str) -> ValidationFailed:
        return ValidationFailed(_("This is not a definition bundle; nothing was imported."), [Detail(path, message)],
                                "invalid_bundle")  # fmt: skip

    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise bad("$.format", _("Expected {format!r}.").format(format=BUNDLE_FORMAT))
    items = bundle.get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_BUNDLE_ITEMS:
        raise bad("$.items", _("Expected a list of 1 to {n} definitions.").format(n=MAX_BUNDLE_ITEMS))
    docs, seen = [], set()
    for i, item in enumerate(items):
        where = f"$.items[{i}]"
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            raise bad(f"{where}.kind", _("Expected one of {kinds}.").format(kinds=", ".join(KINDS)))
        body = item.get("body")
        if not isinstance(body, dict) or body.get("kind") != item["kind"] or body.get("name") != item.get("name"):
            raise bad(f"{where}.body", _("Expected the definition, with the item's kind and name."))
        key = (item["kind"], item["name"])
        if key in seen:
            raise bad(f"{where}.name", _("{kind}/{name} is in the bundle twice.").format(kind=key[0], name=key[1]))
        seen.add(key)
        docs.append(Document(item["kind"], item["name"], body))
    return docs


def export_bundle(keys: list[tuple[str, str]] | None = None, user_id: int | None = None) -> dict:
    """The work of :meth:`DefinitionService.export_bundle` (documented there)."""
    rows = store.published()
    if keys is not None:
        wanted = set(keys)
        missing = sorted(wanted - {(r.kind, r.name) for r in rows})
        if missing:
            raise NotFound(
                _("There is no published definition {which}.").format(which=", ".join(f"{k}/{n}" for k, n in missing))
            )
        rows = [r for r in rows if (r.kind, r.name) in wanted]
    items = [{"kind": r.kind, "name": r.name, "version": r.version, "body": r.body} for r in rows]
    audit.append("definition_export", _actor(user_id), row_count=len(items),
                 detail={"items": [f"{i['kind']}/{i['name']}" for i in items]})  # fmt: skip
    db.session.commit()
    return {
        "format": BUNDLE_FORMAT,
        "exported_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "revision": store.current_revision(),
        "items": items,
    }


def import_bundle(
    service: DefinitionService,
    bundle,
    user_id: int | None = None,
    *,
    dry_run: bool = False,
    replace_drafts: bool = False,
) -> BundleResult:
    """The work of :meth:`DefinitionService.import_bundle` (documented there)."""
    docs = read_bundle(bundle)
    result = BundleResult()
    changed = []
    for doc in docs:
        label = f"{doc.kind}/{doc.name}"
        current = store.get(doc.kind, doc.name, store.PUBLISHED)
        if current is not None and store.content_hash(current.body) == store.content_hash(
            normalize(doc.kind, doc.body, current.body)[0]
        ):
            result.unchanged.append(label)
            continue
        draft = store.get(doc.kind, doc.name, store.DRAFT)
        if draft is not None and not replace_drafts:
            result.drafts_in_the_way.append(label)
            continue
        (result.updated if current is not None else result.created).append(label)
        changed.append(doc)
    if result.drafts_in_the_way:
        raise Conflict(
            _(
                "These definitions have drafts that the import would replace: {which}. Publish or discard "
                "them, or import with replace_drafts."
            ).format(which=", ".join(result.drafts_in_the_way)),
            current={"drafts": result.drafts_in_the_way},
            code="drafts_in_the_way",
        )
    if not changed:
        return result
    for doc in changed:
        store.discard_draft(doc.kind, doc.name)
    pending = [
        (doc, store.add_version(doc.kind, doc.name, doc.body, store.DRAFT, source="bundle", user_id=user_id))
        for doc in changed
    ]
    result.publish = service._publish(pending, user_id, dry_run=dry_run)
    if not dry_run:
        audit.append("definition_import", _actor(user_id), row_count=len(changed),
                     detail={"created": result.created, "updated": result.updated})  # fmt: skip
        db.session.commit()
    return result
