"""Communication compliance: banned phrases in what staff write to or about customers.

The list is kept in the knowledge base, where compliance maintains it: published articles of
type ``banned_phrase`` carry ``banned_terms``, each ``{"term", "severity": "block" | "warn",
"rationale", "suggestion"}``. When an interaction note, a ticket comment or a ticket's
resolution is saved with new text:

- a ``block`` term stops the save, at the field, naming the term and the compliant wording to
  use instead (e.g. 保本 → “本产品不保证本金安全，可能发生本金损失”);
- a ``warn`` term lets it through and marks an interaction with the compliance flag
  ``banned_phrase_warning`` (a compliance officer's list filters on it).
"""

from __future__ import annotations

from scrm.i18n import _
from scrm.plugins import hookimpl

SCANNED = {"interaction": ("summary",), "ticket_comment": ("body",), "service_ticket": ("resolution_summary",)}
FLAG = "banned_phrase_warning"
BANNED = {"all": [{"field": "article_type", "op": "eq", "value": "banned_phrase"},
                  {"field": "status", "op": "eq", "value": "published"}]}  # fmt: skip


def terms(find) -> list[dict]:
    out = []
    for article in find("knowledge_article", BANNED):
        for item in article.get("banned_terms") or []:
            if isinstance(item, dict) and isinstance(item.get("term"), str) and item["term"].strip():
                out.append(item)
    return out


def hits(text: str, banned: list[dict]) -> list[dict]:
    lowered = text.lower()
    return [t for t in banned if t["term"].strip().lower() in lowered]


def changed_texts(entity, record, old) -> list[tuple[str, str]]:
    out = []
    for name in SCANNED.get(entity.name, ()):
        value = record.get(name)
        if isinstance(value, str) and value and (old is None or old.get(name) != value):
            out.append((name, value))
    return out


@hookimpl
def scrm_check_record(entity, record, old, find):
    texts = changed_texts(entity, record, old)
    if not texts:
        return []
    banned = terms(find)
    problems = []
    for name, value in texts:
        for term in hits(value, banned):
            if term.get("severity") == "block":
                message = _("The banned phrase “{term}” may not be used.").format(term=term["term"])
                if term.get("suggestion"):
                    message += " " + _("Instead: {suggestion}").format(suggestion=term["suggestion"])
                problems.append((name, message))
    return problems


@hookimpl
def scrm_derive_record(entity, record, old, find):
    if entity.name != "interaction" or entity.field("compliance_flags") is None:
        return
    texts = changed_texts(entity, record, old)
    if not texts:
        return
    banned = [t for t in terms(find) if t.get("severity") == "warn"]
    flags = list(record.get("compliance_flags") or [])
    if any(hits(value, banned) for _name, value in texts) and FLAG not in flags:
        record["compliance_flags"] = [*flags, FLAG]
