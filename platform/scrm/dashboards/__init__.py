"""Dashboards declared in JSON: each widget compiles to one SQL statement over a dataset (an
entity, its filter and the dashboard's time range), grouped by fields, time buckets, bins or the
org tree, with measures that are aggregates of the dataset's rows and ``calc`` over them; always
inside the viewer's record scope. A widget may instead show a plugin's data source
(:mod:`.sources`), read through the viewer's record service. ``docs/dashboards.md`` is the format."""
