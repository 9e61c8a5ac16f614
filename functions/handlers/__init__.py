"""Lambda entry points: decorators and one call each."""
