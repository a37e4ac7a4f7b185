"""The one condition language: a JSON tree with a SQL back-end and a Python back-end that agree.

``docs/conditions.md`` is the grammar. The pipeline:

1. :mod:`.prepare` resolves, type-checks, converts and desugars the JSON into :mod:`.ir` nodes
   (once per definition version); the definition checker runs it in collecting mode (:mod:`.check`).
2. :mod:`.python` compiles the nodes into closures over a record mapping (one record, unsaved
   form state), with :meth:`~.python.Predicate.explain` for "why did this match".
3. :mod:`.sql` compiles them into one SQLAlchemy Core expression (lists, batch rules).

Both back-ends take an :class:`~.env.Environment` (``now`` captured once, the time zone, the user,
parameters) and follow :mod:`.values`, where every operator is defined once.
"""

from .env import Environment, UserContext
from .ir import Deps, deps
from .messages import ConditionError
from .prepare import Preparer, Source
from .python import OperandValue, Predicate
from .sql import Compiled, compile_operand, compile_sql

__all__ = [
    "Compiled",
    "ConditionError",
    "Deps",
    "Environment",
    "OperandValue",
    "Predicate",
    "Preparer",
    "Source",
    "UserContext",
    "compile_operand",
    "compile_sql",
    "deps",
]
