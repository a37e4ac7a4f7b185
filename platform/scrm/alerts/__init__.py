"""Alert and tagging rules: declared in ``alert`` documents, evaluated as one SQL statement per
run, fired at most once per (rule, record, period), acted on through tasks, tags, field values
and notifications (``docs/alerts.md``)."""
