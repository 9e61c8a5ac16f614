"""Bulk course email (spec §6): targets, rendering, the exactly-once sender, bounces, the routes' logic."""
