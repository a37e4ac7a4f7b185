"""The two-phase checker: structure (JSON Schema) then semantics, over a whole configuration.

Used by ``scrm check``, at start-up, by ``scrm sync`` and on every draft save.
"""

from __future__ import annotations

from pathlib import Path

from ..fields import FieldTypes
from .documents import DefinitionSet, Document, definition_files, load_files
from .normalize import normalize
from .problems import Problem, has_errors
from .semantics import SemanticChecker
from .structure import StructureChecker


class Checker:
    def __init__(self, field_types: FieldTypes, physical_names=None, actions=None):
        """``actions``: a callable giving the registered actions (see :class:`StructureChecker`)."""
        self.field_types = field_types
        self.physical_names = physical_names
        self.structure = StructureChecker(field_types, actions)

    def check_set(
        self,
        docs: DefinitionSet,
        previous: dict[tuple[str, str], dict] | None = None,
        only: set[tuple[str, str]] | None = None,
    ) -> tuple[DefinitionSet, list[Problem]]:
        """Check every document of ``docs`` (or just ``only``) in the context of all of them.

        Returns the normalised documents and the problems. ``previous`` maps (kind, name) to the
        latest stored body, so ids and columns are inherited.
        """
        previous = previous or {}
        problems: list[Problem] = []
        broken: set[tuple[str, str]] = set()
        normalised = DefinitionSet()
        for doc in docs:
            key = (doc.kind, doc.name)
            found = self.structure.check(doc.body, file=doc.file)
            if found and doc.file is None:
                found = [Problem(p.code, p.message, p.path, doc.kind, doc.name, None) for p in found]
            body = doc.body
            if not has_errors(found):
                body, extra = normalize(doc.kind, doc.body, previous.get(key))
                found += [Problem(p.code, p.message, p.path, doc.kind, doc.name, doc.file) for p in extra]
            if has_errors(found):
                broken.add(key)
            normalised.add(Document(doc.kind, doc.name, body, doc.file, doc.version))
            if only is None or key in only:
                problems += found
        semantic = SemanticChecker(self.field_types, normalised, broken, self.physical_names)
        for doc in normalised:
            key = (doc.kind, doc.name)
            if key in broken or (only is not None and key not in only):
                continue
            problems += semantic.check(doc)
        for p in semantic.table_clashes() + semantic.physical_clashes() + semantic.required_ref_cycles():
            if only is None or (p.kind, p.name) in only:
                problems.append(p)
        return normalised, problems

    def check_files(self, home: Path, paths: list[Path] | None = None) -> tuple[DefinitionSet, list[Problem]]:
        """Check the shipped definition files of ``home``, or the given files and folders in the
        context of the shipped ones (so a form is checked against the shipped entities)."""
        shipped, problems = load_files(definition_files(home), base=home)
        dset = DefinitionSet()
        for d in shipped:
            dset.add(d)
        only = None
        if paths:
            files: list[Path] = []
            for p in paths:
                files += sorted(p.rglob("*.json")) if p.is_dir() else [p]
            given, problems = load_files(files, base=home)
            only = set()
            for d in given:
                dset.add(d)
                only.add((d.kind, d.name))
        normalised, found = self.check_set(dset, only=only)
        return normalised, problems + found
