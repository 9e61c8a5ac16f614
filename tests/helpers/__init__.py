"""Shared test helpers: a course whose grades are computed by hand, API events, request counting."""
