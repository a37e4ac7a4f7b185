"""Notifications: message templates, channels (in-app inbox, e-mail, SMS) and their outbox."""
