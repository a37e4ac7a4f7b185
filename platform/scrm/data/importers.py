"""Importers: file formats that plugins declare (hook ``scrm_importers``) for one entity each.

An importer says which header names of a system's export go to which field, the key that
matches a row to a stored record (one field or a unique key of several, e.g. account + date)
and the mode. An upload is recognised by its header: the importer of the entity whose key
columns are all there and that names the most columns is chosen, its mapping laid over the
automatic one. An importer that can ``pull`` files (a trading system's nightly drop folder)
also runs on its ``schedule`` in the scheduler: :func:`pull_files` imports each file as the
system, then hands it back to the importer's ``done`` (to move it out of the way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .import_files import header_key
from .import_mapping import KEY_JOIN, MODES

log = logging.getLogger("scrm.imports")


@dataclass(frozen=True)
class Importer:
    """A file format for one entity. ``columns`` maps a field name to the header names that
    fill it (compared ignoring case, width and spaces); ``key`` names the key's fields."""

    name: str
    entity: str
    label: Any  # text, or {"zh-CN": …, "en": …}
    columns: Mapping[str, Sequence[str]]
    key: tuple[str, ...] = ()
    mode: str = "skip"
    description: Any = None
    schedule: str | None = None  # cron, in the tenant's time zone: when ``pull`` runs
    pull: Callable[[dict], Iterable[Path]] | None = None  # the files waiting to be imported
    done: Callable[[Path, Any], None] | None = None  # called with each file and its finished job
    aliases: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"importer {self.name}: mode must be one of {MODES}")
        aliases = {header_key(h): f for f, headers in self.columns.items() for h in (f, *headers) if header_key(h)}
        object.__setattr__(self, "aliases", aliases)

    @property
    def key_name(self) -> str | None:
        return KEY_JOIN.join(self.key) or None

    def matches(self, header: Sequence[str]) -> int:
        """How many columns of ``header`` this importer names; 0 when a key column is missing."""
        found = {self.aliases[k] for h in header if (k := header_key(h)) in self.aliases}
        return len(found) if all(f in found for f in self.key) else 0

    def map(self, header: Sequence[str], targets: list[str | None]) -> list[str | None]:
        """The automatic mapping with this format's columns laid over it (each field once)."""
        mine = [self.aliases.get(header_key(h)) for h in header]
        taken = {t for t in mine if t}
        out, seen = [], set()
        for own, auto in zip(mine, targets, strict=True):
            chosen = own if own and own not in seen else (auto if auto not in taken else None)
            seen.add(chosen)
            out.append(chosen)
        return out


class Importers:
    """The importers of the running application, by name (a later plugin's replaces one)."""

    def __init__(self, found: Iterable[Importer] = ()):
        self.by_name: dict[str, Importer] = {}
        for importer in found:
            self.by_name[importer.name] = importer

    @classmethod
    def collect(cls, plugins, config) -> Importers:
        found: list[Importer] = []
        for result in reversed(plugins.call("scrm_importers", config=config)):
            for item in result or ():
                if isinstance(item, Importer):
                    found.append(item)
                else:
                    log.warning("an importer must be a scrm.data.importers.Importer, not %r", item)
        return cls(found)

    def get(self, name: str | None) -> Importer | None:
        return self.by_name.get(name or "")

    def for_entity(self, entity: str) -> list[Importer]:
        return [i for i in self.by_name.values() if i.entity == entity]

    def recognise(self, entity: str, header: Sequence[str]) -> Importer | None:
        """The entity's importer that names the most columns of ``header`` (all its key ones)."""
        scored = [(i.matches(header), i.name, i) for i in self.for_entity(entity)]
        best = max(scored, default=(0, "", None), key=lambda s: s[:2])
        return best[2] if best[0] else None

    def pulled(self) -> list[Importer]:
        return [i for i in self.by_name.values() if i.pull is not None and i.schedule]


def importers() -> Importers:
    """The running application's importers, collected once per application."""
    from flask import current_app

    from ..runtime import runtime  # (the runtime builds on the data layer)

    found = current_app.extensions.get("scrm.importers")
    if found is None:
        found = current_app.extensions["scrm.importers"] = Importers.collect(runtime().plugins, current_app.config)
    return found


def pull_files(app, importer: Importer) -> list:
    """Import every file the importer's ``pull`` returns, one after the other, as the system;
    the finished jobs. A file that cannot be imported is logged and handed to ``done`` with no
    job, so one bad file does not hold back the others."""
    from .import_run import import_file

    jobs = []
    try:
        paths = list(importer.pull(app.config) or ())
    except Exception as exc:  # a plugin's error is its own: logged, tried again next time
        log.warning("importer %s could not list its files: %s", importer.name, exc)
        return jobs
    for path in paths:
        try:
            with app.app_context():
                job = import_file(app, importer.entity, Path(path), importer=importer.name)
        except Exception as exc:  # the next file still goes in; the log has why
            log.warning("importer %s could not import %s: %s", importer.name, path, exc)
            job = None
        if importer.done is not None:
            try:
                importer.done(Path(path), job)
            except Exception as exc:
                log.warning("importer %s failed after importing %s: %s", importer.name, path, exc)
        if job is not None:
            jobs.append(job)
    return jobs
