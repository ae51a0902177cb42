"""What every web part shares, wired once per process: settings, the accounts store, the link
signer, the templates, the case views and the one producer that publishes commands."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from events.base import Actor
from events.commands import CommandEnvelope
from projections.store import ViewStore
from services import clients, publish
from services.settings import Settings
from services.web import i18n, metrics
from services.web.accounts import Accounts
from services.web.tokens import Links, signing_key

HERE = Path(__file__).resolve().parent
log = logging.getLogger("accord.web")


class Context:
    def __init__(self, settings: Settings, producer: Any = None) -> None:
        self.settings = settings
        self.accounts = Accounts(settings.data_dir, settings.lockout_attempts, settings.lockout_minutes)
        self.links = Links(signing_key(settings.data_dir), settings.customer_link_days)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),  # complaint text is shown, never interpreted
        )
        self.templates.globals["t"] = i18n.t
        self._producer = producer
        self._lock = threading.Lock()

    @property
    def producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                self._producer = clients.producer(self.settings)
            return self._producer

    @contextmanager
    def views(self) -> Iterator[ViewStore]:
        store = ViewStore.open(self.settings.data_dir, self.settings.database_url)
        try:
            yield store
        finally:
            store.close()

    def send(self, command: CommandEnvelope, service: str = "console") -> None:
        """Publish through the one publishing path and wait for the broker's acknowledgement,
        so "sent" on the page means on `negotiation.commands`."""
        publish.send(self.producer, command).get(timeout=15)
        metrics.SENT.labels(service, command.command.type).inc()
        actor: Actor = command.actor
        self.accounts.record_sent(
            str(command.command_id), command.case_id, f"{actor.kind}:{actor.id}", command.command.type
        )

    def customer_link(self, case_id: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/c/{self.links.issue(case_id)}"

    def render(self, name: str, **values: Any) -> str:
        return self.templates.get_template(name).render(**values)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
        self.accounts.close()
