"""Exploratory analyses of Tempo's data sets: Spotify songs, college majors, people imports."""
