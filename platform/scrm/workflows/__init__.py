"""Ticket workflows: declared state machines with role guards, SLA clocks on business calendars,
escalation, classification and routing (definitions of kind ``workflow``)."""
