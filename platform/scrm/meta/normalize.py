"""Complete an entity document before it is checked and stored: stable field ids and columns.

Authors write names; the platform keeps identities. A field keeps its ``id`` and its physical
``column`` forever: a field found in the previous version (by id, or by name when the author
gave no id) inherits them; a renamed field records its old name in ``previous_names``; a field
that disappeared from the document is kept, deactivated, with its data (``active: false``).
"""

from __future__ import annotations

import copy

from .model import default_table
from .problems import Problem, problem


def default_column(name: str, ftype: str) -> str:
    return f"{name}_id" if ftype == "ref" else name


def _unique(base: str, taken: set[str], limit: int = 63) -> str:
    candidate = base[:limit]
    n = 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate = base[: limit - len(suffix)] + suffix
        n += 1
    return candidate


def normalize_entity(body: dict, previous: dict | None) -> tuple[dict, list[Problem]]:
    """Return a completed copy of ``body`` and the problems found while completing it.

    ``previous`` is the latest stored version (already normalised) or ``None``.
    """
    doc = copy.deepcopy(body)
    problems: list[Problem] = []
    fields = doc.get("fields")
    if not isinstance(fields, list):
        return doc, problems
    name = doc.get("name")
    prev_fields = [f for f in (previous or {}).get("fields", []) if isinstance(f, dict)]
    prev_by_id = {f["id"]: f for f in prev_fields if "id" in f}
    prev_by_name = {f["name"]: f for f in prev_fields if "name" in f}
    if previous and previous.get("table"):
        doc.setdefault("table", previous["table"])
    elif isinstance(name, str):
        doc.setdefault("table", default_table(name))

    ids_taken = set(prev_by_id)
    columns_taken = {f.get("column") for f in prev_fields if f.get("column")}
    seen_ids: set[str] = set()
    for f in fields:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            continue
        old = prev_by_id.get(f.get("id")) if "id" in f else prev_by_name.get(f["name"])
        if old is not None and old.get("id") in seen_ids:
            old = None
        if old is not None:
            f.setdefault("id", old["id"])
            if "column" in f and f["column"] != old.get("column"):
                index = fields.index(f)
                problems.append(
                    problem(
                        "E-ENTITY-023",
                        f"$.fields[{index}].column",
                        kind="entity",
                        name=name,
                        field=f["name"],
                        old=old.get("column"),
                    )
                )
            f["column"] = (
                old.get("column")
                or f.get("column")
                or _unique(default_column(f["name"], str(f.get("type"))), columns_taken)
            )
            if old.get("name") != f["name"]:
                names = [n for n in [*old.get("previous_names", []), old["name"]] if n != f["name"]]
                f["previous_names"] = list(dict.fromkeys([*f.get("previous_names", []), *names]))
        else:
            if "id" not in f:
                f["id"] = _unique(f["name"], ids_taken | seen_ids, 40)
            if "column" not in f:
                f["column"] = _unique(default_column(f["name"], str(f.get("type"))), columns_taken)
        seen_ids.add(f["id"])
        columns_taken.add(f["column"])

    present = {f.get("id") for f in fields if isinstance(f, dict)}
    for old in prev_fields:
        if old.get("id") not in present:
            kept = dict(old, active=False)
            fields.append(kept)
            if old.get("active", True):
                problems.append(problem("W-ENTITY-001", "$.fields", kind="entity", name=name, field=old.get("name")))
    return doc, problems


def normalize(kind: str, body: dict, previous: dict | None) -> tuple[dict, list[Problem]]:
    if kind == "entity" and isinstance(body, dict):
        return normalize_entity(body, previous)
    return copy.deepcopy(body), []
