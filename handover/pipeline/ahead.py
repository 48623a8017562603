"""One item ahead: the next item of a stream fetched and worked on in a thread of its own while the caller
handles the current one (:func:`one_ahead`).

Pass 2 of a batch uses it to read and prepare chunk *n + 1* (its spool read with the batch's key decisions
settled, then :meth:`handover.target.loader.Loader.prepare`, the pure-Python encoding) while chunk *n*'s
transaction waits on the database server. The transactions stay in the caller's thread, one after the other, in
order; the thread only ever holds one item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_END = object()


def one_ahead(items: Iterable[T], work: Callable[[T], R], *, threaded: bool = True) -> Iterator[tuple[T, R]]:
    """Each item of ``items`` with ``work(item)``, in order. With ``threaded``, the next item is taken and worked
    on in a second thread while the caller handles the current one; an error taking or working on an item is
    raised to the caller when that item's turn comes, as without the thread. Without ``threaded``: in turn, in
    the caller's thread."""
    if not threaded:
        for item in items:
            yield item, work(item)
        return
    source = iter(items)

    def step() -> tuple[object, R | None]:
        item = next(source, _END)
        return (item, None) if item is _END else (item, work(item))  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="handover-ahead") as pool:
        pending = pool.submit(step)
        while True:
            item, done = pending.result()
            if item is _END:
                return
            pending = pool.submit(step)
            yield item, done  # type: ignore[misc]
