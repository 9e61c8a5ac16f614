"""A retired learner leaves no trace in the bulk email ledgers: claims, delivery events, chunk sets.

At the data layer (moto): the ledger items are written as a send leaves them, then the erasure
runs for one learner and the others' entries must stay exactly as they were.
"""

from __future__ import annotations

import json

from functions.dal.email_repo import (
    ChunkItem,
    ClaimItem,
    EmailRepository,
    EventItem,
    chunk_sk,
    claim_sk,
    send_pk,
)
from functions.dal.retirement_repo import RetirementRepository


def test_the_learner_is_erased_from_every_ledger_of_the_sends_and_no_one_else(small_chunks_stack):
    settings = small_chunks_stack.settings
    EmailRepository(settings)  # binds the email table's models
    repo = RetirementRepository(settings)
    pk, other = send_pk("send-1"), send_pk("send-2")
    ClaimItem(pk, claim_sk(5), user_id=5, chunk=0, run="r1", lease_until=0).save()
    ClaimItem(pk, claim_sk(6), user_id=6, chunk=0, run="r1", lease_until=0).save()
    EventItem(pk, "V#1", data=json.dumps({"address": "Five@Example.org", "kind": "bounce"})).save()
    EventItem(pk, "V#2", data=json.dumps({"user_id": 5, "kind": "complaint"})).save()
    EventItem(pk, "V#3", data=json.dumps({"address": "six@example.org", "user_id": 6})).save()
    ChunkItem(
        pk, chunk_sk(0), sent_ids={5, 6}, in_doubt_ids={5, 8}, failed_entries={"5:Throttling", "6:X"}
    ).save()
    ChunkItem(pk, chunk_sk(1), sent_ids={6}, failed_entries={"56:X"}).save()  # 56 is not 5
    ChunkItem(pk, chunk_sk(2), in_doubt_ids={5}).save()
    ClaimItem(other, claim_sk(6), user_id=6, chunk=0, run="r2", lease_until=0).save()

    removed = repo.erase_email_sends(["send-1", "send-2", "send-never"], 5, {"five@example.org"})

    assert removed == {"email_claims": 1, "email_events": 2}
    assert [item.sk for item in ClaimItem.query(pk, ClaimItem.sk.startswith("R#"))] == [claim_sk(6)]
    assert [item.sk for item in EventItem.query(pk, EventItem.sk.startswith("V#"))] == ["V#3"]
    chunks = {item.sk: item for item in ChunkItem.query(pk, ChunkItem.sk.startswith("C#"))}
    assert (chunks[chunk_sk(0)].sent_ids, chunks[chunk_sk(0)].in_doubt_ids) == ({6}, {8})
    assert chunks[chunk_sk(0)].failed_entries == {"6:X"}
    assert (chunks[chunk_sk(1)].sent_ids, chunks[chunk_sk(1)].failed_entries) == ({6}, {"56:X"})
    assert not chunks[chunk_sk(2)].in_doubt_ids  # the only one in doubt was the learner
    assert [item.user_id for item in ClaimItem.query(other, ClaimItem.sk.startswith("R#"))] == [6]
