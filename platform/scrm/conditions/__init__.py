"""The one condition language: a JSON AST with a SQL back-end and a Python back-end that agree.

``docs/conditions.md`` is the grammar. This package holds the AST helpers (:mod:`.ast`), the
static type check used by the definition checker (:mod:`.check`), the SQLAlchemy Core compiler
(:mod:`.sql`) and the Python predicate (:mod:`.python`). Both back-ends follow one operator
table, so NULLs behave the same in both: a comparison with NULL is false, except the
null-inclusive negative operators (``ne``, ``not_in``, ``not_contains``, ``has_none``).
"""

from .ast import NEGATED, NO_VALUE, ConditionError, deps, measure
from .python import evaluate
from .sql import compile_sql

__all__ = ["ConditionError", "NEGATED", "NO_VALUE", "compile_sql", "deps", "evaluate", "measure"]
