"""Plugins on the record service's save path: ``scrm_derive_record`` fills derived fields
before the entity's rules run, ``scrm_check_record`` adds problems that block the save. Both
get ``lookup``/``find``, system reads of other records (a derivation must not depend on who
saves), ``svc``, the saving user's own record service, and the tenant's date."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..errors import Detail, NotFound
from ..meta.model import EntityDef
from .reading import RecordReader

_carrying_states: ContextVar[bool] = ContextVar("scrm_carrying_states", default=False)


@contextmanager
def carrying_states() -> Iterator[None]:
    """Records created inside start in the workflow state they carry instead of the initial one:
    administrative copies (a hand-over's new shares continue the approved ones they replace)."""
    token = _carrying_states.set(True)
    try:
        yield
    finally:
        _carrying_states.reset(token)


def carries_states() -> bool:
    return _carrying_states.get()


class HookMixin:
    def _derive(self, entity: EntityDef, merged: dict, current: dict | None, saving: bool = True) -> None:
        """Plugins fill the fields they derive (suitability matching, for one) before the
        entity's own rules judge the record."""
        from ..runtime import runtime  # (the runtime builds on the data layer)

        plugins = runtime().plugins
        if plugins.pm.hook.scrm_derive_record.get_hookimpls():
            plugins.call("scrm_derive_record", entity=entity, record=merged, old=current, saving=saving,
                         **self._plugin_access())  # fmt: skip

    def _written(self, entity: EntityDef, record_id: int, changed: set[str], current: dict | None) -> None:
        """Tell plugins (the alert engine among them) about a write, inside its transaction."""
        from ..runtime import runtime

        plugins = runtime().plugins
        if plugins.pm.hook.scrm_record_written.get_hookimpls():
            plugins.call(
                "scrm_record_written",
                snapshot=self.snapshot,
                entity=entity,
                record_id=record_id,
                created=current is None,
                changed=set(changed),
                old=current,
            )

    def _plugin_access(self) -> dict:
        """What record hooks may read: any record (system access), the record service of the
        save itself (the user's permissions) and today's date."""
        system = RecordReader(self.snapshot, self.user_id, user=self.user)

        def lookup(name: str, record_id) -> dict | None:
            if not isinstance(record_id, int) or self.snapshot.entity(name) is None:
                return None
            try:
                return system.load(name, record_id)
            except NotFound:
                return None

        def find(name: str, condition: dict | None = None) -> list[dict]:
            if self.snapshot.entity(name) is None:
                return []
            items, after = [], None
            while len(items) < 1000:
                page = system.list(name, filter=condition, limit=200, after=after, sort="id")
                items += page.items
                if not page.next:
                    break
                after = page.next
            return items[:1000]

        env = self.environment()
        return {"lookup": lookup, "find": find, "svc": self, "today": env.now.astimezone(env.tz).date()}

    def _plugin_problems(self, entity: EntityDef, merged: dict, current: dict | None) -> list[Detail]:
        from ..runtime import runtime

        plugins = runtime().plugins
        if not plugins.pm.hook.scrm_check_record.get_hookimpls():
            return []
        results = plugins.call("scrm_check_record", validation=True, entity=entity, record=merged, old=current,
                               **self._plugin_access())  # fmt: skip
        return [Detail(str(name), str(message)) for problems in results for name, message in problems or ()]
