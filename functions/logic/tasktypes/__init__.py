"""Every task type module; importing this package registers them all."""

from functions.logic.tasktypes import grade_course, module_state  # noqa: F401
