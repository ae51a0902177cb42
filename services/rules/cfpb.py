"""How the CFPB sample's "Submitted via" maps onto Accord's channels (docs/cfpb.md): used by
the replay (`accord simulate --cfpb`) and by the risk model's training, which needs no broker."""

from __future__ import annotations

from events.base import Channel

CHANNELS: dict[str, Channel] = {
    "Web": "app",
    "Email": "app",
    "Phone": "hotline",
    "Referral": "branch",
    "Postal mail": "branch",
    "Fax": "branch",
}
