"""Course data beyond grades (profiles, surveys, exam attempts, ORA submissions, ...): one module per
kind, each with its bulk loader (``@loaders.loader("kind")``). Importing this package imports them all.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
