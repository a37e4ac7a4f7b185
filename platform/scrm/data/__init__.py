"""Entity data: tables built from definitions, the migration planner, the record service."""
