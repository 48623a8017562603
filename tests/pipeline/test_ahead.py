"""one_ahead: items in order with their work, the next one worked on in a second thread, errors at their turn."""

from __future__ import annotations

import threading

import pytest

from handover.pipeline.ahead import one_ahead


@pytest.mark.parametrize("threaded", [True, False])
def test_items_in_order_with_their_work(threaded: bool) -> None:
    out = list(one_ahead(range(7), lambda x: x * x, threaded=threaded))
    assert out == [(i, i * i) for i in range(7)]
    assert list(one_ahead([], str, threaded=threaded)) == []


def test_the_next_item_is_worked_on_while_the_caller_holds_this_one() -> None:
    seen: list[tuple[int, str]] = []
    caller = threading.current_thread().name

    def work(x: int) -> int:
        seen.append((x, threading.current_thread().name))
        return x

    stream = one_ahead(range(3), work)
    first = next(stream)
    # while the caller holds item 0, item 1 is taken and worked on in the other thread (wait for it)
    for _ in range(200):
        if len(seen) == 2:
            break
        threading.Event().wait(0.01)
    assert first == (0, 0) and [x for x, _ in seen] == [0, 1]
    assert all(name != caller for _, name in seen)
    assert list(stream) == [(1, 1), (2, 2)]


@pytest.mark.parametrize("threaded", [True, False])
def test_an_error_reaches_the_caller_at_its_item(threaded: bool) -> None:
    def items():
        yield 1
        yield 2
        raise OSError("spool file gone")

    def work(x: int) -> int:
        if x == 2:
            raise ValueError("bad chunk 2")
        return x

    stream = one_ahead(items(), work, threaded=threaded)
    assert next(stream) == (1, 1)
    with pytest.raises(ValueError, match="bad chunk 2"):
        next(stream)
    with pytest.raises(OSError, match="spool file gone"):
        list(one_ahead(items(), lambda x: x, threaded=threaded))
