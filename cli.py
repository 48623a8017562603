"""The repository's launcher of the ``handover`` command (``python cli.py ARGS``); the command line itself is the
package's :mod:`handover.cli` (entry point ``handover.cli:main``). This file is not installed.
"""

from handover.cli import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
