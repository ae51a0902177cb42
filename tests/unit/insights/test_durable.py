"""The insights worker's producer buffer: given records handed over with `send_soon` (a table's
changelog writes) and a slow broker, a flush returns only when every one is acknowledged, and
raises if one failed, so faust never commits an offset over a table update still in memory."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.types.tuples import FutureMessage

from services.insights.durable import DeliveredBuffer


def _buffer(deliver) -> DeliveredBuffer:  # type: ignore[no-untyped-def]
    buffer = DeliveredBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    buffer._send_pending = deliver  # type: ignore[method-assign]
    return buffer


async def _slow_broker(fut: FutureMessage) -> None:
    """Each record takes longer than faust's own flush waits (0.1 s) to be acknowledged."""
    await asyncio.sleep(0.15)
    fut.set_result(None)


def test_a_flush_returns_only_when_every_record_handed_over_is_acknowledged() -> None:
    async def scenario() -> list[bool]:
        buffer = _buffer(_slow_broker)
        await buffer.start()
        records = [FutureMessage(SimpleNamespace()) for _ in range(5)]  # type: ignore[arg-type]
        for fut in records:
            buffer.put(fut)
        await buffer.flush()
        done = [fut.done() for fut in records]
        await buffer.stop()
        return done

    assert asyncio.run(scenario()) == [True] * 5


def test_a_flush_raises_when_a_record_was_not_delivered() -> None:
    async def refused(fut: FutureMessage) -> None:
        fut.set_exception(OSError("broker refused the record"))

    async def scenario() -> None:
        buffer = _buffer(refused)
        await buffer.start()
        buffer.put(FutureMessage(SimpleNamespace()))  # type: ignore[arg-type]
        try:
            await buffer.flush()
        finally:
            await buffer.stop()

    with pytest.raises(OSError, match="refused"):
        asyncio.run(scenario())
