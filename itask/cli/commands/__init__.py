"""The commands, one module per group; importing this package registers them on ``itask.cli.app.app``.

The import order is the order of the panels in ``itask --help``.
"""

# isort: off
from itask.cli.commands import local_stack  # noqa: F401
from itask.cli.commands import tasks  # noqa: F401
from itask.cli.commands import schedules  # noqa: F401
from itask.cli.commands import problems  # noqa: F401
from itask.cli.commands import reports, data  # noqa: F401
from itask.cli.commands import staff  # noqa: F401
from itask.cli.commands import access, retirement  # noqa: F401
from itask.cli.commands import lti_passback  # noqa: F401
from itask.cli.commands import email, email_schedules  # noqa: F401
from itask.cli.commands import auth  # noqa: F401
# isort: on
