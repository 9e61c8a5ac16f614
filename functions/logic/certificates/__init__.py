"""Certificates (spec §7.1): who earns one, the allowlist, generation, rendering and public verification."""
