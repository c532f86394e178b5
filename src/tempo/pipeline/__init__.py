"""Producing the leaderboard: aggregation with Polars, feeds into PostgreSQL, uploads,
recorded runs, and their pages (the datamart and the upload form)."""
