"""A faust-streaming app used by the faust round-trip test: one agent decodes each submission
with Accord's codec and forwards it re-encoded. Topics and broker come from the environment."""

from __future__ import annotations

import os

import faust

from events.codec import decode, encode
from events.submission import ComplaintSubmission

app = faust.App(
    os.environ["ECHO_APP_ID"],
    broker="kafka://" + os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    value_serializer="raw",
    key_serializer="raw",
    store="memory://",
    web_enabled=False,
    topic_replication_factor=1,
    topic_partitions=1,
    consumer_auto_offset_reset="earliest",
)
incoming = app.topic(os.environ["ECHO_IN"], value_serializer="raw", key_serializer="raw")
outgoing = app.topic(os.environ["ECHO_OUT"], value_serializer="raw", key_serializer="raw")


@app.agent(incoming)
async def forward_submissions(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        submission = decode(ComplaintSubmission, event.value)
        await outgoing.send(key=event.key, value=encode(submission))
