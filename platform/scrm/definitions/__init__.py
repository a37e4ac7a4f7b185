"""Definition lifecycle: save a draft, publish (migrating the database), roll back, sync files.

Every path runs the two-phase checker over the whole configuration with the candidate in place,
plans the schema migration for entities, and applies the migration, the new version rows and
the revision bump in **one** transaction: a refused or failed publish leaves the live version
and the database exactly as they were.
"""

from .bundles import BUNDLE_FORMAT, MAX_BUNDLE_ITEMS, BundleResult, read_bundle
from .common import PublishResult, one_transaction
from .impact import UsedElsewhere, dependants, dependants_failure, problems_failure
from .purge import PurgeResult
from .service import STRUCTURAL, DefinitionService, SyncReport

__all__ = [
    "BUNDLE_FORMAT",
    "MAX_BUNDLE_ITEMS",
    "STRUCTURAL",
    "BundleResult",
    "DefinitionService",
    "PublishResult",
    "PurgeResult",
    "SyncReport",
    "UsedElsewhere",
    "dependants",
    "dependants_failure",
    "one_transaction",
    "problems_failure",
    "read_bundle",
]
