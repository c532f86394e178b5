"""The servers Tempo's hot path is measured against, in the same run (see targets.py)."""
