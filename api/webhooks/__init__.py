"""Webhooks: signed, retried and recorded notifications to the applications that asked."""
