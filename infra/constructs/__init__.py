"""One construct per capability; ``infra/stack.py`` only composes them.

Note: this package shadows the ``constructs`` library if ``infra/`` itself is on ``sys.path``;
``infra/app.py`` and the tests therefore put the repository root there instead.
"""
