"""Shared plumbing: settings, logging, the database, errors, security, limits, caching,
data sources and input parsing. Nothing here imports a domain package."""
