"""Block keys: see ``functions.logic.keys`` (edx-opaque-keys); this name is kept for its importers."""

from __future__ import annotations

from functions.logic.keys import UsageKey, parse_usage_key, usage_key

__all__ = ["UsageKey", "parse_usage_key", "usage_key"]
