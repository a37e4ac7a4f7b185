"""Exports under control: row limits per role, an approval step, stamped files that expire.

An export is a request (``scrm_export``) before it is a file. Within the requester's limit it
is generated at once; above it, or when it would carry C2-sensitive personal data in full, it
waits for a user whose role approves exports (never the requester: maker-checker). The file is
always made with the requester's own permissions at the time it is generated: their record
scope, their field access (hidden fields left out, masked ones masked as their role exports
them). Every file is stamped with who asked, when, the request number and a watermark id, also
hidden in the header as zero-width characters, so a copy that leaks can be traced. Files are
kept sealed with the encryption key, can be downloaded by the requester a few times within a
few hours (``SCRM_EXPORT_DOWNLOADS``, ``SCRM_EXPORT_HOURS``), and are then deleted. Requests,
approvals, generations and downloads are logged in the audit chain.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db
from ..errors import BadRequest, Detail, Forbidden, NotFound
from ..fields.temporal import local_zone
from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef
from ..security import audit
from ..security.crypto import keyring
from ..security.masking import mask
from ..security.permissions import SENSITIVE_MASKS
from .records import RecordService

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas
FORMATS = ("csv", "xlsx")
ZERO_WIDTH = {"0": "\u200b", "1": "\u200c"}
PURPOSE_MIN = 4
NUMBERS = frozenset({"integer", "decimal", "money", "percent"})


class ExportRequest(db.Model):
    __tablename__ = "scrm_export"
    __table_args__ = (sa.Index("ix_scrm_export_user", "user_id", "id"), sa.Index("ix_scrm_export_status", "status"))

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer)
    username: Mapped[str] = mapped_column(sa.String(63))
    entity: Mapped[str] = mapped_column(sa.String(63))
    filter: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # condition JSON
    search: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    fields: Mapped[str] = mapped_column(sa.Text)  # comma-separated field names
    purpose: Mapped[str] = mapped_column(sa.Text)
    row_estimate: Mapped[int] = mapped_column(sa.Integer)
    row_count: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    sensitive: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # fields leaving in full
    reasons: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # why it needs an approval (JSON)
    status: Mapped[str] = mapped_column(sa.String(12))
    decided_by: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    decided_at: Mapped[str | None] = mapped_column(sa.String(27), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    watermark: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[str] = mapped_column(sa.String(27))
    generated_at: Mapped[str | None] = mapped_column(sa.String(27), nullable=True)
    expires_at: Mapped[str | None] = mapped_column(sa.String(27), nullable=True)
    downloads: Mapped[int] = mapped_column(sa.Integer, default=0)
    content: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # sealed gzip of the file
    format: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)  # csv (default) | xlsx

    @property
    def number(self) -> str:
        return f"EXP-{self.created_at[:10].replace('-', '')}-{self.id:05d}"

    @property
    def field_names(self) -> list[str]:
        return [n for n in self.fields.split(",") if n]

    @property
    def approval_reasons(self) -> list[str]:
        return json.loads(self.reasons) if self.reasons else []

    def filename(self) -> str:
        return f"{self.entity}-{self.number}.{self.format or 'csv'}"


@dataclass
class Column:
    field: FieldDef
    mode: str  # masked or plain


@dataclass
class ExportPlan:
    """What an export would hold and whether it needs an approval, before anything is written."""

    entity: EntityDef
    columns: list[Column]
    rows: int
    limit: int | None
    ceiling: int
    sensitive: list[FieldDef] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def needs_approval(self) -> bool:
        return bool(self.reasons)


def exportable(svc: RecordService, entity: EntityDef) -> list[Column]:
    """The fields the user's roles let leave in a file, and how (masked or in full)."""
    out = []
    for f in entity.active_fields:
        if f.type == "json":
            continue
        access = svc.permissions.field(entity, f)
        if access.view == "hidden" or access.export == "never":
            continue
        out.append(Column(f, access.export))
    return out


def _sensitive(column: Column) -> bool:
    """Leaves in full and is C2-sensitive: needs an approval. (Free text is never exported in
    full: the ID, phone and account numbers written in it leave masked, as the reference asks.)"""
    rule = column.field.get("mask")
    return column.mode == "plain" and (
        (rule in SENSITIVE_MASKS and rule != "free_text") or column.field.get("sensitivity") == "C3"
    )


class Exports:
    """Export requests for one user (the record service says who and what they may see)."""

    def __init__(self, svc: RecordService):
        self.svc = svc

    # -- planning -------------------------------------------------------------------------
    def plan(self, entity_name: str, *, filter=None, search=None, fields=None) -> ExportPlan:
        svc = self.svc
        entity = svc.entity(entity_name)
        svc.permissions.require(entity, "read")
        svc.permissions.require(entity, "export")
        available = {c.field.name: c for c in exportable(svc, entity)}
        if fields is None:
            columns = list(available.values())
        else:
            if not isinstance(fields, list) or not all(isinstance(n, str) for n in fields):
                raise BadRequest(
                    _("fields must be a list of field names."),
                    [Detail("fields", _("Expected a list."))],
                    "invalid_fields",
                )
            columns = []
            for i, name in enumerate(dict.fromkeys(fields)):
                if name not in available:
                    raise BadRequest(
                        _("{field} cannot be exported.").format(field=name),
                        [
                            Detail(
                                f"fields[{i}]", _("No such field, or your role may not export it."), "forbidden_field"
                            )
                        ],
                        "invalid_fields",
                    )
                columns.append(available[name])
        if not columns:
            raise BadRequest(
                _("Choose at least one field to export."), [Detail("fields", _("No fields."))], "invalid_fields"
            )
        rows = svc.count(entity_name, filter=filter, search=search)
        policy = svc.permissions.exports()
        ceiling = current_app.config["SCRM_EXPORT_MAX_ROWS"]
        plan = ExportPlan(entity, columns, rows, policy.rows, ceiling)
        plan.sensitive = [c.field for c in columns if _sensitive(c)]
        if policy.rows is not None and rows > policy.rows:
            plan.reasons.append(
                _("{rows} rows is more than the {limit} your role may export without approval.").format(
                    rows=f"{rows:,}", limit=f"{policy.rows:,}"
                )
                if policy.rows
                else _("Your role's exports need an approval.")
            )
        if plan.sensitive:
            plan.reasons.append(
                _("It carries sensitive personal data in full: {fields}.").format(
                    fields=", ".join(text(f.label) or f.name for f in plan.sensitive)
                )
            )
        return plan

    # -- requesting -----------------------------------------------------------------------
    def request(
        self, entity_name: str, *, purpose: Any, filter=None, search=None, fields=None, format: Any = "csv"
    ) -> ExportRequest:
        """Ask for an export (``format``: csv or xlsx): generated now when within the user's
        limits, else waiting for an approval. Over the installation's ceiling it is refused."""
        if format not in FORMATS:
            raise BadRequest(
                _("The file format must be CSV or Excel (xlsx)."),
                [Detail("format", _("Choose csv or xlsx."), "invalid_format")],
                "invalid_format",
            )
        purpose = purpose.strip() if isinstance(purpose, str) else ""
        if len(purpose) < PURPOSE_MIN:
            raise BadRequest(
                _("Say what the export is for."),
                [
                    Detail(
                        "purpose", _("Give the purpose in at least {n} characters.").format(n=PURPOSE_MIN), "required"
                    )
                ],
                "invalid_purpose",
            )
        if filter is not None and not isinstance(filter, dict):
            raise BadRequest(
                _("filter must be a condition object."), [Detail("filter", _("Expected an object."))], "invalid_filter"
            )
        if search is not None and not isinstance(search, str):
            raise BadRequest(_("q must be text."), [Detail("q", _("Expected text."))], "invalid_search")
        search = (search or "").strip()[:100] or None
        plan = self.plan(entity_name, filter=filter, search=search, fields=fields)
        if plan.rows > plan.ceiling:
            raise BadRequest(
                _("{rows} rows is more than the {ceiling} one export may hold; narrow the filter.").format(
                    rows=f"{plan.rows:,}", ceiling=f"{plan.ceiling:,}"
                ),
                [Detail("filter", _("Too many rows."), "too_many_rows")],
                "too_many_rows",
            )
        svc = self.svc
        req = ExportRequest(
            user_id=svc.user_id,
            username=svc.username or f"#{svc.user_id}",
            entity=plan.entity.name,
            filter=json.dumps(filter, ensure_ascii=False, default=str) if filter else None,
            search=search,
            fields=",".join(c.field.name for c in plan.columns),
            purpose=purpose[:2000],
            row_estimate=plan.rows,
            sensitive=",".join(f.name for f in plan.sensitive) or None,
            reasons=json.dumps(plan.reasons, ensure_ascii=False) if plan.reasons else None,
            status="submitted",
            watermark=secrets.token_hex(8),
            created_at=audit.stamp(),
            downloads=0,
            format=format,
        )
        db.session.add(req)
        db.session.flush()
        audit.append(
            "export_request", svc.actor(), entity=req.entity, fields=req.field_names, row_count=plan.rows,
            reason=purpose, detail={"request": req.number, "needs_approval": plan.needs_approval},
        )  # fmt: skip
        if not plan.needs_approval:
            self._generate(req, svc)
        db.session.commit()
        return req

    # -- deciding -------------------------------------------------------------------------
    def approve(self, request_id: int, note: Any = None) -> ExportRequest:
        from ..security.users import User

        req = self._decidable(request_id)
        req.status, req.decided_by, req.decided_at = "approved", self.svc.username, audit.stamp()
        req.decision_note = (note or "").strip()[:2000] if isinstance(note, str) else None
        audit.append(
            "export_approve", self.svc.actor(), entity=req.entity, row_count=req.row_estimate,
            reason=req.decision_note, detail={"request": req.number, "requested_by": req.username},
        )  # fmt: skip
        requester = db.session.get(User, req.user_id)
        if requester is None or not requester.is_active:
            raise BadRequest(_("The requester's account no longer exists or is disabled."), code="requester_gone")
        self._generate(req, RecordService.for_user(self.svc.snapshot, requester))
        db.session.commit()
        return req

    def reject(self, request_id: int, note: Any) -> ExportRequest:
        note = note.strip() if isinstance(note, str) else ""
        if not note:
            raise BadRequest(
                _("Say why the export is rejected."), [Detail("note", _("Give a reason."), "required")], "invalid_note"
            )
        req = self._decidable(request_id)
        req.status, req.decided_by, req.decided_at, req.decision_note = (
            "rejected", self.svc.username, audit.stamp(), note[:2000],
        )  # fmt: skip
        audit.append(
            "export_reject", self.svc.actor(), entity=req.entity, reason=note,
            detail={"request": req.number, "requested_by": req.username},
        )  # fmt: skip
        db.session.commit()
        return req

    def _decidable(self, request_id: int) -> ExportRequest:
        req = self.get(request_id)
        if not self.svc.permissions.exports().approve:
            raise Forbidden(_("Your role does not approve exports."), code="not_approver")
        if req.user_id == self.svc.user_id:
            raise Forbidden(_("Someone else must approve your own export."), code="own_request")
        if req.status != "submitted":
            raise BadRequest(
                _("This export has already been decided ({status}).").format(status=status_label(req.status)),
                code="already_decided",
            )
        return req

    # -- generating -----------------------------------------------------------------------
    def _generate(self, req: ExportRequest, svc: RecordService) -> None:
        """Write the file with the requester's permissions as they are now (a role narrowed
        since the request narrows the file too)."""
        entity = svc.entity(req.entity)
        allowed = {c.field.name: c for c in exportable(svc, entity)}
        columns = [allowed[n] for n in req.field_names if n in allowed]
        if not columns:
            raise Forbidden(_("The requester may no longer export any of these fields."), code="forbidden_export")
        now = datetime.now(UTC)
        options = {
            "filter": json.loads(req.filter) if req.filter else None, "search": req.search,
            "stamp": stamp_line(req.number, entity, req.username, now, req.watermark), "watermark": req.watermark,
            "limit": current_app.config["SCRM_EXPORT_MAX_ROWS"],
        }  # fmt: skip
        if req.format == "xlsx":
            from .export_xlsx import write_xlsx

            data, count = write_xlsx(svc, entity, columns, author=req.username, **options)
        else:
            out = io.StringIO()
            out.write("\ufeff")  # spreadsheets then read the file as UTF-8
            count = write_csv(svc, entity, columns, out, **options)
            data = out.getvalue().encode("utf-8")
        payload = base64.b64encode(gzip.compress(data)).decode()
        req.content = keyring().seal(payload, f"export.{req.watermark}")
        req.row_count = count
        req.status = "generated"
        req.generated_at = audit.stamp(now)
        req.expires_at = audit.stamp(now + timedelta(hours=current_app.config["SCRM_EXPORT_HOURS"]))
        audit.append(
            "export", svc.actor(), entity=req.entity, fields=[c.field.name for c in columns], row_count=count,
            reason=req.purpose, detail={"request": req.number, "watermark": req.watermark, "sensitive": req.sensitive,
                                        "approved_by": req.decided_by},
        )  # fmt: skip

    # -- reading --------------------------------------------------------------------------
    def get(self, request_id: int) -> ExportRequest:
        """One request: its requester's, or any for a user who approves exports."""
        self.expire()
        req = db.session.get(ExportRequest, request_id) if 0 < request_id < 2**31 else None
        if req is None or (req.user_id != self.svc.user_id and not self.svc.permissions.exports().approve):
            raise NotFound(_("There is no export request #{id}.").format(id=request_id))
        return req

    def mine(self, limit: int = 50) -> list[ExportRequest]:
        self.expire()
        table = ExportRequest
        stmt = sa.select(table).where(table.user_id == self.svc.user_id).order_by(table.id.desc()).limit(limit)
        return list(db.session.execute(stmt).scalars())

    def waiting(self, limit: int = 100) -> list[ExportRequest]:
        """Requests waiting for an approval, for users who approve (others get none)."""
        if not self.svc.permissions.exports().approve:
            return []
        table = ExportRequest
        stmt = (
            sa.select(table)
            .where(table.status == "submitted", table.user_id != self.svc.user_id)
            .order_by(table.id)
            .limit(limit)
        )
        return list(db.session.execute(stmt).scalars())

    def download(self, request_id: int) -> tuple[str, bytes]:
        """The file, to its requester only, a limited number of times before it expires."""
        req = self.get(request_id)
        if req.user_id != self.svc.user_id:
            raise Forbidden(_("Only the user who asked for an export can download it."), code="not_requester")
        if req.status != "generated" or req.content is None:
            raise BadRequest(
                _("This export cannot be downloaded ({status}).").format(status=status_label(req.status)),
                code="not_downloadable",
            )
        limit = current_app.config["SCRM_EXPORT_DOWNLOADS"]
        if req.downloads >= limit:
            raise BadRequest(
                _("This export has been downloaded {n} times, the most allowed; ask for a new one.").format(n=limit),
                code="download_limit",
            )
        payload = keyring().open(req.content, f"export.{req.watermark}")
        data = gzip.decompress(base64.b64decode(payload))
        req.downloads += 1
        if req.downloads >= limit:
            req.content = None
            req.status = "expired"
        audit.append(
            "export_download", self.svc.actor(), entity=req.entity, row_count=req.row_count,
            detail={"request": req.number, "download": req.downloads},
        )  # fmt: skip
        db.session.commit()
        return req.filename(), data

    @staticmethod
    def expire() -> int:
        """Delete the files of exports past their time (their requests stay, for the record)."""
        table = ExportRequest.__table__
        result = db.session.execute(
            sa.update(table)
            .where(table.c.status == "generated", table.c.expires_at < audit.stamp())
            .values(status="expired", content=None)
        )
        if result.rowcount:
            db.session.commit()
        return result.rowcount or 0


def export_to_file(snapshot, entity_name: str, path, *, filter=None, fields=None, purpose: str) -> int:
    """The operator's export (``scrm export-data``): every record, values in full, stamped and
    logged like any other; for moving data, not for handing it around."""
    svc = RecordService(snapshot)
    entity = svc.entity(entity_name)
    available = {c.field.name: c for c in exportable(svc, entity)}
    unknown = [n for n in fields or () if n not in available]
    if unknown:
        raise BadRequest(
            _("{field} cannot be exported.").format(field=unknown[0]),
            [Detail("fields", _("No such field."), "unknown_field")],
        )
    columns = [available[n] for n in fields] if fields else list(available.values())
    watermark, now = secrets.token_hex(8), datetime.now(UTC)
    number = f"CLI-{now:%Y%m%d%H%M%S}"
    with open(path, "x", encoding="utf-8-sig", newline="") as out:
        count = write_csv(
            svc, entity, columns, out, filter=filter, stamp=stamp_line(number, entity, "cli", now, watermark),
            watermark=watermark,
        )  # fmt: skip
    audit.append(
        "export", audit.SYSTEM, entity=entity.name, fields=[c.field.name for c in columns], row_count=count,
        reason=purpose, detail={"request": number, "watermark": watermark, "file": str(path)},
    )  # fmt: skip
    db.session.commit()
    return count


def stamp_line(number: str, entity: EntityDef, username: str, moment: datetime, watermark: str) -> str:
    return _("SCRM export {number} · {entity} · by {user} · {at} · watermark {mark}").format(
        number=number, entity=text(entity.plural_label), user=username,
        at=moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M %Z"), mark=watermark,
    )  # fmt: skip


def write_csv(
    svc: RecordService, entity: EntityDef, columns: list[Column], out, *, filter=None, search=None,
    stamp: str, watermark: str, limit: int | None = None,
) -> int:  # fmt: skip
    """Write the stamped CSV of the records ``svc`` may see to the text stream ``out``, at most
    ``limit`` rows, in batches; returns how many rows it wrote."""
    writer = csv.writer(out)
    out.write(f"# {stamp}\r\n")
    writer.writerow(header_row(columns, watermark))
    titles = TitleMasks(svc, entity)
    count = 0
    for batch in export_batches(svc, entity, columns, filter, search, limit):
        writer.writerows([record["id"], *(cell_text(svc, c, record, titles) for c in columns)] for record in batch)
        count += len(batch)
    return count


def export_batches(svc: RecordService, entity: EntityDef, columns: list[Column], filter, search, limit: int | None):
    """The records to export, in batches, at most ``limit`` in all (every file format reads them so)."""
    count = 0
    for batch in svc.scan(entity.name, filter=filter, search=search, fields=[c.field.name for c in columns]):
        if limit is not None:
            batch = batch[: max(0, limit - count)]
        if batch:
            yield batch
        count += len(batch)
        if limit is not None and count >= limit:
            return


def header_row(columns: list[Column], watermark: str) -> list[str]:
    """The column names, the watermark id hidden in the first one as zero-width characters."""
    header = ["ID", *(text(c.field.label) or c.field.name for c in columns)]
    header[0] += "".join(ZERO_WIDTH[b] for b in f"{int(watermark, 16):064b}")
    return header


def cell_text(svc: RecordService, column: Column, record: dict, titles: TitleMasks) -> str:
    f = column.field
    value = record.get(f.name)
    if value is None or value == "" or value == []:
        return ""
    if f.type == "ref":
        return titles.title(f, record)
    if column.mode == "masked" or f.get("mask") == "free_text":
        return _guard(str(mask(f.get("mask"), value)))
    if f.options:
        labels = {o.value: text(o.label) or o.value for o in f.options}
        values = value if isinstance(value, list) else [value]
        return _guard("; ".join(labels.get(v, str(v)) for v in values))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return _guard("; ".join(str(v) for v in value))
    if isinstance(value, datetime):
        return value.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")
    shown = svc.field_types[f.type].to_json(value, f)
    if f.type in NUMBERS or not isinstance(shown, str):
        return str(shown)
    return _guard(shown)


class TitleMasks:
    """A reference exports as the referenced record's title, masked the way the user sees it."""

    def __init__(self, svc: RecordService, entity: EntityDef):
        self.rules: dict[str, tuple[str, str | None]] = {}
        for f in entity.active_fields:
            target = svc.snapshot.entity(f.target) if f.type == "ref" else None
            if target is None:
                continue
            if not svc.permissions.can(target, "read"):
                self.rules[f.name] = ("hidden", None)
            elif target.title_field is not None:
                view = svc.permissions.field(target, target.title_field).view
                self.rules[f.name] = (view, target.title_field.get("mask"))

    def title(self, f: FieldDef, record: dict) -> str:
        view, rule = self.rules.get(f.name, ("plain", None))
        value = record.get(f.name)
        if view == "hidden":
            return f"#{value}"
        shown = record.get("_titles", {}).get(f.name) or f"#{value}"
        return _guard(str(mask(rule, shown)) if view == "masked" else shown)


def _guard(value: str) -> str:
    """A text cell a spreadsheet would take for a formula is kept as text."""
    return "'" + value if value.startswith(FORMULA_START) else value


def status_label(status: str) -> str:
    return {
        "submitted": _("waiting for approval"),
        "approved": _("approved"),
        "rejected": _("rejected"),
        "generated": _("ready to download"),
        "expired": _("expired"),
    }.get(status, status)


def watermark_of(header: str) -> str | None:
    """The watermark id hidden in a file's header line, if it is still there."""
    bits = "".join("0" if ch == ZERO_WIDTH["0"] else "1" for ch in header if ch in ZERO_WIDTH.values())
    return f"{int(bits, 2):016x}" if len(bits) == 64 else None
