"""handover: move the pending work of Vietnam's abolished districts to the new communes.

The library does the work; ``cli.py`` only parses arguments and renders. Stages:
extract → map → validate → load → report, chained by :func:`handover.pipeline.run.run_batch`.
"""

__version__ = "0.1.0"
