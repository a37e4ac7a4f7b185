"""SCRM: a low-code CRM platform for securities brokerages.

Entities, forms, workflows, alert rules and dashboards are JSON documents; this package
interprets them into pages, a REST API and scheduled jobs.
"""

__version__ = "0.1.0"
