"""Importing people without their PII (names, e-mail addresses)."""
