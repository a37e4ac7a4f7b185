"""Definition documents as loaded from files or the store, and sets of them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .problems import Problem, problem

KIND_FOLDERS = {
    "entities": "entity",
    "forms": "form",
    "workflows": "workflow",
    "alerts": "alert",
    "dashboards": "dashboard",
    "roles": "role",
}


@dataclass
class Document:
    kind: str
    name: str
    body: dict
    file: str | None = None
    version: int | None = None


@dataclass
class DefinitionSet:
    """All documents of a configuration, by kind and name."""

    docs: dict[tuple[str, str], Document] = field(default_factory=dict)

    def add(self, doc: Document) -> None:
        self.docs[(doc.kind, doc.name)] = doc

    def get(self, kind: str, name: str) -> Document | None:
        return self.docs.get((kind, name))

    def of_kind(self, kind: str) -> list[Document]:
        return sorted((d for (k, _n), d in self.docs.items() if k == kind), key=lambda d: d.name)

    def __iter__(self):
        return iter(sorted(self.docs.values(), key=lambda d: (d.kind, d.name)))

    def __len__(self) -> int:
        return len(self.docs)

    def replaced(self, doc: Document) -> DefinitionSet:
        """A copy with ``doc`` put in place of the document of the same kind and name."""
        out = DefinitionSet(dict(self.docs))
        out.add(doc)
        return out


def definition_files(home: Path) -> list[Path]:
    """The shipped definition files under ``schemas/`` and ``workflows/`` of ``home``."""
    files: list[Path] = []
    for folder in ("schemas", "workflows"):
        root = home / folder
        if root.is_dir():
            files += sorted(p for p in root.rglob("*.json") if p.is_file())
    return files


def read_document(path: Path, base: Path | None = None) -> tuple[dict | None, list[Problem]]:
    shown = _relative(path, base)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [problem("E-FILE-001", "$", file=shown, detail=str(exc))]
    try:
        body = json.loads(raw, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        return None, [
            problem("E-FILE-001", "$", file=shown, detail=f"{exc.msg} (line {exc.lineno}, column {exc.colno})")
        ]
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        return None, [problem("E-FILE-002", "$", file=shown)]
    return body, []


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number")


def load_files(paths: list[Path], base: Path | None = None) -> tuple[list[Document], list[Problem]]:
    """Read documents from files: JSON errors, duplicates and name/file mismatches are problems."""
    docs: list[Document] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    for path in paths:
        body, found = read_document(path, base)
        problems += found
        if body is None or found:
            continue
        shown = _relative(path, base)
        kind = body.get("kind")
        name = body.get("name")
        if not isinstance(name, str):
            docs.append(Document(kind, "", body, shown))  # phase A reports the missing name
            continue
        key = (kind, name)
        if key in seen:
            problems.append(problem("E-DEF-001", "$.name", file=shown, what=kind, which=name, other=seen[key]))
            continue
        seen[key] = shown
        expected = path.stem.split(".")[0]
        if expected != name:
            problems.append(problem("W-DEF-002", "$.name", file=shown, expected=expected, found=name))
        docs.append(Document(kind, name, body, shown))
    return docs, problems


def _relative(path: Path, base: Path | None) -> str:
    if base:
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)
