"""What every worker process of handover does first: leave when the process that started it is gone."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int) -> None:
    """Exit this process as soon as ``parent`` is no longer its parent (checked twice a second, in a daemon
    thread). A main process that is killed (SIGKILL, a crash drill, the OOM killer) cannot stop its workers, and
    an orphaned worker would keep its memory and the caller's output pipes, waiting for work forever. ``parent``
    is passed in rather than read here, so that a parent killed before this runs is noticed too."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="handover-parent-watch", daemon=True).start()
