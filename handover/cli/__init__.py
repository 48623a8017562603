"""The ``handover`` command line (entry point ``handover.cli:main``): parse options, call one library function,
render with rich. The commands live in the modules of this package, by job; importing it registers them all.
"""

from handover.cli import batch, db, exports, many, units  # noqa: F401  (registers the commands)
from handover.cli.base import app, console, err_console, main, render_error

__all__ = ["app", "console", "err_console", "main", "render_error"]
