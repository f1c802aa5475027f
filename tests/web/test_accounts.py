"""Account use cases: hashed API tokens, one-time form tokens, absence and backup posts (AB岗)."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, InvalidInput
from engine.services import accounts
from engine.store.models import ApiToken
from engine.store.uow import reading


def test_api_tokens_are_stored_only_as_a_hash(ow):
    token = accounts.issue_api_token(ow, "window1", "scanner")
    with reading(ow.db) as session:
        stored = session.scalar(select(ApiToken.token_hash))
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored
    assert accounts.user_for_token(ow, token) == "window1"
    with pytest.raises(InvalidInput) as refused:
        accounts.issue_api_token(ow, "window1", "")
    assert refused.value.fields == {"label": "1–100 characters"}


def test_a_form_token_is_accepted_once(ow):
    assert accounts.consume_form_token(ow, "abc123")
    assert not accounts.consume_form_token(ow, "abc123")
    assert not accounts.consume_form_token(ow, "")


def test_absence_rules(ow):
    with pytest.raises(Forbidden):
        accounts.set_absence(ow, "window2", "reviewer1", True, "market_reviewer")
    with pytest.raises(InvalidInput) as no_backup:
        accounts.set_absence(ow, "reviewer1", "reviewer1", True, None)
    assert "backup" in no_backup.value.fields
    with pytest.raises(InvalidInput) as other_post:
        accounts.set_absence(ow, "reviewer1", "reviewer1", True, "inspector1")
    assert other_post.value.fields == {"backup": "needs the same post"}
    # The backup works the holder's tasks, so it must come from the holder's department line.
    with pytest.raises(InvalidInput) as other_department:
        accounts.set_absence(ow, "head1", "reviewer1", True, "market_reviewer")
    assert other_department.value.fields == {"backup": "needs the same department"}
    # An admin (whose centre covers every bureau) may mark a reviewer absent with a colleague as backup.
    profile = accounts.set_absence(ow, "admin", "nature_reviewer", True, "nature_reviewer2")
    assert profile["is_absent"] and profile["backup"] == "nature_reviewer2"
    assert accounts.profile(ow, "nature_reviewer2")["covers_for"] == ["nature_reviewer"]
    assert accounts.set_absence(ow, "nature_reviewer", "nature_reviewer", False, None)["is_absent"] is False
    assert accounts.profile(ow, "nature_reviewer2")["covers_for"] == []
