"""Pydantic models shared by handlers, logic and the data layer (every boundary payload is one)."""
