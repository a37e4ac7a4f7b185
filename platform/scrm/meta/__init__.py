"""Definitions: meta-schemas, loading, the two-phase checker, the versioned store and the registry."""
