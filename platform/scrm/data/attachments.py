"""Files attached to records (a ticket comment's screenshots and statements), kept in the
database (``scrm_attachment``) so that a backup, a restore and several workers see the same files
without a shared disk.

Limits: at most :data:`MAX_FILES` files per upload, each at most ``SCRM_ATTACHMENT_MAX_MB``
megabytes (default 10), of the types in :data:`TYPES` — the extension decides the type and the
file's first bytes must agree with it (a renamed executable is refused). Each file is stored
once per record with its SHA-256; reading a file needs read access to its record, through the
record service (scope, field access), like the record itself.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..db import db
from ..errors import Detail, NotFound, ValidationFailed
from ..i18n import _

MAX_FILES = 5
NAME_MAX = 120

# extension -> (content type, the leading bytes the file must start with; None: text)
TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "webp": ("image/webp", (b"RIFF",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
    "doc": ("application/msword", (b"\xd0\xcf\x11\xe0",)),
    "xls": ("application/vnd.ms-excel", (b"\xd0\xcf\x11\xe0",)),
    "txt": ("text/plain; charset=utf-8", None),
    "csv": ("text/csv; charset=utf-8", None),
}


class Attachment(db.Model):
    __tablename__ = "scrm_attachment"
    __table_args__ = (sa.Index("ix_scrm_attachment_record", "entity", "record_id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = deferred(mapped_column(sa.LargeBinary))
    uploaded_by: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)


@dataclass
class Upload:
    """A file as the request brought it."""

    name: str
    data: bytes


def max_bytes() -> int:
    from flask import current_app

    return int(current_app.config.get("SCRM_ATTACHMENT_MAX_MB") or 10) * 1024 * 1024


def clean_name(name: str) -> str:
    """The file's base name, without path parts or control characters, at most NAME_MAX long."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*').strip(" .")
    if len(base) > NAME_MAX:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: NAME_MAX - len(ext) - 1] + dot + ext) if dot else base[:NAME_MAX]
    return base


def check(uploads: list[Upload], field: str = "attachments") -> list[tuple[Upload, str]]:
    """Each upload with its content type, or :class:`ValidationFailed` naming every bad file."""
    details: list[Detail] = []
    if len(uploads) > MAX_FILES:
        details.append(Detail(field, _("At most {n} files at a time.").format(n=MAX_FILES), "too_many_files"))
    limit, out = max_bytes(), []
    for upload in uploads:
        name = clean_name(upload.name)
        ext = name.rpartition(".")[2].lower() if "." in name else ""
        kind = TYPES.get(ext)
        if not name or kind is None:
            allowed = ", ".join(sorted(TYPES))
            details.append(
                Detail(
                    field,
                    _("{name}: this type of file is not accepted ({allowed}).").format(
                        name=name or "?", allowed=allowed
                    ),
                    "file_type",
                )  # fmt: skip
            )
        elif not upload.data:
            details.append(Detail(field, _("{name} is empty.").format(name=name), "file_empty"))
        elif len(upload.data) > limit:
            details.append(
                Detail(field, _("{name} is larger than {mb} MB.").format(name=name, mb=limit // 1048576), "file_size")
            )
        elif not _looks_like(kind[1], upload.data):
            details.append(
                Detail(field, _("{name} is not really a .{ext} file.").format(name=name, ext=ext), "file_content")
            )
        else:
            out.append((Upload(name, upload.data), kind[0]))
    if details:
        raise ValidationFailed(_("Some attachments cannot be accepted."), details)
    return out


def _looks_like(magic: tuple[bytes, ...] | None, data: bytes) -> bool:
    if magic is not None:
        return data.startswith(magic)
    if b"\x00" in data[:8192]:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            data[:65536].decode(encoding)
            return True
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and exc.start >= 65536 - 4:
                return True  # a character cut at the sample's end
    return False


def store(entity: str, record_id: int, checked: list[tuple[Upload, str]], user_id: int | None) -> list[dict]:
    """Add checked files to a record in the caller's transaction; the values a record keeps
    (``[{"id", "name", "size", "content_type"}]``)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for upload, content_type in checked:
        row = Attachment(
            entity=entity,
            record_id=record_id,
            name=upload.name,
            content_type=content_type,
            size=len(upload.data),
            sha256=hashlib.sha256(upload.data).hexdigest(),
            data=upload.data,
            uploaded_by=user_id,
            created_at=now,
        )
        db.session.add(row)
        db.session.flush()
        out.append(described(row))
    return out


def described(row: Attachment) -> dict:
    return {"id": row.id, "name": row.name, "size": row.size, "content_type": row.content_type}


def readable(svc, attachment_id: int) -> Attachment:
    """The file, when ``svc``'s user may read its record; else :class:`NotFound`."""
    row = db.session.get(Attachment, attachment_id)
    if row is None or svc.snapshot.entity(row.entity) is None:
        raise NotFound(_("There is no such file."))
    svc.get(row.entity, row.record_id)  # in the user's scope, else NotFound
    return row


def of_record(entity: str, record_id: int) -> list[Attachment]:
    return list(
        db.session.scalars(
            sa.select(Attachment)
            .where(Attachment.entity == entity, Attachment.record_id == record_id)
            .order_by(Attachment.id)
        )
    )
