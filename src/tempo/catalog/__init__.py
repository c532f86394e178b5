"""The music catalog: the Spotify songs CSV, one row per track, searchable by text and genre."""
