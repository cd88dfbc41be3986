"""Shared plumbing of the API: settings, database access and cryptography."""
