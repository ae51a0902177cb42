"""The per-customer key store on both backends (SQLite file, real PostgreSQL): sealing and
opening personal data, and a forget that destroys the key for good."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from events.codec import decode, encode
from events.personal import PersonalData, SealedPersonalData
from events.submission import ComplaintSubmission
from services.privacy import Erased, KeyStore
from services.settings import Settings

ZHANG = PersonalData(
    name="张伟", phone="+86 138 0000 0000", email="zhang.wei@example.cn", id_number="110101199003077777"
)


@pytest.fixture
def keys(database_url, tmp_path) -> KeyStore:
    return KeyStore(Settings(data_dir=tmp_path, database_url=database_url))


def customer() -> str:
    return f"CUST-{uuid.uuid4().hex[:8]}"


def test_sealed_personal_data_opens_only_with_the_customers_key(keys: KeyStore) -> None:
    who, other = customer(), customer()
    sealed = keys.seal(who, ZHANG)
    assert "张伟".encode() not in encode(sealed) and b"138 0000" not in encode(sealed)
    assert keys.unseal(sealed) == ZHANG
    assert keys.key_for(who)[0] == sealed.key_id  # one key per customer, reused
    assert keys.key_for(other)[0] != sealed.key_id
    # Deterministic: a decision replayed after a crash repeats its event byte for byte.
    assert keys.seal(who, ZHANG) == sealed
    assert keys.seal(who, ZHANG.model_copy(update={"name": "张伟伟"})).nonce != sealed.nonce


def test_a_modified_ciphertext_is_detected(keys: KeyStore) -> None:
    sealed = keys.seal(customer(), ZHANG)
    flipped = sealed.ciphertext[:-2] + ("A" if sealed.ciphertext[-2] != "A" else "B") + sealed.ciphertext[-1]
    with pytest.raises(ValueError, match="modified"):
        keys.unseal(sealed.model_copy(update={"ciphertext": flipped}))


def test_forgetting_a_customer_destroys_the_key_for_good(keys: KeyStore, tmp_path) -> None:
    who, bystander = customer(), customer()
    sealed, kept = keys.seal(who, ZHANG), keys.seal(bystander, ZHANG)
    secret = keys.secret(sealed.key_id)
    assert secret is not None

    done = keys.forget(who, reason="PIPL art. 47 request R-1")
    assert done.first and done.keys == 1 and keys.forgotten(who) == done.at
    with pytest.raises(Erased):
        keys.unseal(sealed)
    assert keys.unseal(kept) == ZHANG  # nobody else is affected
    if keys.url is None:  # the key's bytes are overwritten in the file, not just unlinked
        assert secret not in (tmp_path / "keys.db").read_bytes()

    again = keys.forget(who)
    assert not again.first and again.keys == 0 and again.at == done.at

    # A later complaint starts a new relationship with a new key; the old data stays erased.
    fresh = keys.seal(who, ZHANG)
    assert fresh.key_id != sealed.key_id and keys.unseal(fresh) == ZHANG
    with pytest.raises(Erased):
        keys.unseal(sealed)


def test_a_channel_seals_the_submission_and_redacts_the_customers_identifiers(keys: KeyStore) -> None:
    submission = ComplaintSubmission(
        submission_id="S-1",
        channel="hotline",
        submitted_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        customer_id=customer(),
        customer=ZHANG,
        subject="Card 110101199003077777 charged twice",
        description="张伟 says: call +86 138 0000 0000 or zhang.wei@example.cn",
    )
    sealed = keys.seal_submission(submission)
    raw = encode(sealed)
    for value in ("张伟", "138 0000", "zhang.wei@", "110101199003077777"):
        assert value.encode() not in raw
    again = decode(ComplaintSubmission, raw)
    assert isinstance(again.customer, SealedPersonalData) and keys.unseal(again.customer) == ZHANG
    assert again.description == "XXXX says: call XXXX or XXXX"
    assert keys.seal_submission(again) == again  # sealing twice changes nothing


def test_plain_personal_data_may_leave_out_its_form() -> None:
    body = {
        "submission_id": "S-2",
        "channel": "app",
        "submitted_at": "2026-03-02T08:00:00Z",
        "customer_id": "CUST-2",
        "customer": {"name": "李娜"},
        "subject": "s",
        "description": "d",
    }
    assert decode(ComplaintSubmission, json.dumps(body).encode()).customer == PersonalData(name="李娜")
