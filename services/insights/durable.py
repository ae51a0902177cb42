"""A faust app whose producer flush is a real barrier: it returns only once every record handed
to the producer (table changelog writes included) has been acknowledged by the broker. faust
commits a consumed offset right after such a flush, so a table update is durable before the
input that caused it is marked consumed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.transport.producer import ProducerBuffer
from faust.types import ProducerT
from faust.types.tuples import FutureMessage

log = logging.getLogger("accord.insights")
SETTLE_TIMEOUT_S = 60.0


class DeliveredBuffer(ProducerBuffer):
    """faust's buffer of records sent with `send_soon` (every table's changelog writes).

    faust-streaming 0.15.3's `ProducerBuffer.flush` (faust/transport/producer.py,
    `flush_atmost`) gives up when no record has left the buffer for 0.1 s, and returns as soon as
    the queue is empty even while `_handle_pending` still holds the last record it took; the
    aiokafka flush after it covers only what already reached aiokafka. `Consumer._commit_offsets`
    (faust/transport/consumer.py) commits right after that flush, so a busy worker committed
    offsets whose changelog records were still in memory, and a SIGKILL lost those table updates
    for good. Here a flush waits for each record's own delivery future."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.unsettled: set[FutureMessage] = set()
        self.failed: list[BaseException] = []

    def put(self, fut: FutureMessage) -> None:
        self.unsettled.add(fut)
        fut.add_done_callback(self._settled)
        super().put(fut)

    def _settled(self, fut: asyncio.Future) -> None:
        self.unsettled.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            self.failed.append(fut.exception())  # type: ignore[arg-type]

    async def flush(self) -> None:
        await super().flush()
        waiting = set(self.unsettled)
        if waiting and self.should_stop:  # the sender is gone: these will never be delivered
            raise RuntimeError(f"producer buffer stopped with {len(waiting)} records undelivered")
        if waiting:
            log.debug("flush: waiting for the delivery of %d records", len(waiting))
            _, late = await asyncio.wait(waiting, timeout=SETTLE_TIMEOUT_S)
            if late:  # bounded: an error ends the worker (status 1) and nothing is committed
                raise TimeoutError(f"{len(late)} records not acknowledged in {SETTLE_TIMEOUT_S} s")
        if self.failed:
            raise self.failed[0]  # a table update was not stored: nothing may be committed over it

    async def on_stop(self) -> None:
        await super().flush()  # stopping: faust's best effort, as before (no wait on a stopped sender)


class App(faust.App):
    def _new_producer(self) -> ProducerT:
        producer: Any = super()._new_producer()
        buffer = DeliveredBuffer(loop=producer.loop, beacon=producer.beacon)
        buffer.app = self
        producer.buffer = buffer  # before the producer starts (its on_start adds the buffer)
        return producer
