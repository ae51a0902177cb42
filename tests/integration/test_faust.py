"""A faust-streaming agent on the same broker: submissions in, the same submissions out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from events.codec import decode, encode
from events.submission import ComplaintSubmission
from tests.integration.conftest import drain
from tests.integration.test_kafka import submission

ROOT = Path(__file__).resolve().parents[2]


def test_a_faust_agent_round_trips_submissions_on_the_same_broker(
    settings, new_topic, producer, consumer, unique, tmp_path
) -> None:
    source, sink = new_topic("faust-in", partitions=1), new_topic("faust-out", partitions=1)
    env = {
        **os.environ,
        "ECHO_APP_ID": unique("faust-echo"),
        "ECHO_IN": source,
        "ECHO_OUT": sink,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
    }
    log = tmp_path / "faust.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faust",
                "--datadir",
                str(tmp_path / "faust"),
                "-A",
                "tests.integration.faust_echo",
                "worker",
                "-l",
                "warn",
                "--without-web",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        sent = [submission(n) for n in range(10)]
        plain = producer()
        for item in sent:
            plain.send(source, key=item.submission_id.encode(), value=encode(item))
        plain.flush()
        check = consumer(sink, group_id=f"check-{sink}")
        records: list = []
        for _ in range(60):
            records += drain(check, expected=10 - len(records), timeout_s=1)
            if len(records) >= 10 or worker.poll() is not None:
                break
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert [decode(ComplaintSubmission, r.value) for r in records] == sent, log.read_text()[-3000:]
