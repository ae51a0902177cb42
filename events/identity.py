"""Ids derived from content, so that a redelivery or a replay derives the same one: the
case id of a submission, the input id of a submission, and the namespace of event ids."""

from __future__ import annotations

import hashlib
import uuid

from events.submission import ComplaintSubmission

NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4c4f-9a57-2f0b8b7d1e11")


def submission_id(submission: ComplaintSubmission) -> uuid.UUID:
    """The input id of a submission: unique per channel and channel's submission id."""
    return submission_uuid(submission.channel, submission.submission_id)


def submission_uuid(channel: str, channel_submission_id: str) -> uuid.UUID:
    """`submission_id` from the two fields it depends on (as read from a submission's bytes)."""
    return uuid.uuid5(NAMESPACE, f"submission|{channel}|{channel_submission_id}")


def case_id_for(submission: ComplaintSubmission) -> str:
    """The case a new complaint opens: stable for a channel and its submission id."""
    return case_id_of(submission.channel, submission.submission_id)


def case_id_of(channel: str, channel_submission_id: str) -> str:
    """`case_id_for` from the two fields it depends on."""
    digest = hashlib.sha256(f"{channel}|{channel_submission_id}".encode()).hexdigest()
    return "C" + digest[:15].upper()
