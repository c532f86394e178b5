"""The leaderboard's web pages: the ranking, the raw tables (the datamart) and an upload form.

Server-rendered like the "Plan your day" page and, like it, without any script.
"""
