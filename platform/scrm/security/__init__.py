"""Authentication now; roles, record scopes, field permissions and masking grow here."""
