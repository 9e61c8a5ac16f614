"""Extra demo data, one module per kind (profiles, surveys, ...), run by ``itask.seed.seed_course``.

Each module defines ``seed(settings, course_id, enrollments, rng) -> str`` (a one-line summary);
modules in this package are found and run in name order.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable

from functions.models.course import Enrollment
from functions.settings import Settings

Seeder = Callable[[Settings, str, list[Enrollment], random.Random], str]


def all_seeders() -> list[tuple[str, Seeder]]:
    found = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        found.append((module.name, loaded.seed))
    return found
