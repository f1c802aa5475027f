"""National status codes from a case's events: the correction ends with the last material; revocation is 15."""
from datetime import UTC, datetime, timedelta

from engine.exchange import ExchangeEvent, status_codes

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def events(*specs: tuple[str, dict]) -> list[ExchangeEvent]:
    """Events one minute apart, numbered from 1."""
    return [ExchangeEvent(seq, type_, T0 + timedelta(minutes=seq), payload)
            for seq, (type_, payload) in enumerate(specs, start=1)]


def codes(evs: list[ExchangeEvent], result: str | None = None) -> list[tuple[int, int]]:
    """(code, seq) pairs."""
    return [(row["code"], row["seq"]) for row in status_codes(evs, result)]


def test_a_partial_supplement_does_not_end_the_correction():
    evs = events(
        ("applied", {}),
        ("correction_requested", {"missing": ["site plan", "photos"]}),
        ("supplemented", {"materials": ["site plan"], "outstanding": ["photos"], "status": "CORRECTION_REQUESTED"}),
        ("supplemented", {"materials": ["photos"], "outstanding": [], "status": "RECEIVED"}),
    )
    assert codes(evs) == [(1, 1), (6, 2), (7, 4)]


def test_an_accepted_case_with_an_approval_then_revocation_reports_11_then_15():
    evs = events(
        ("applied", {}),
        ("accepted", {"bpmn_id": "intake", "status": "ACCEPTED"}),
        ("task_completed", {"bpmn_id": "review", "status": "IN_REVIEW"}),
        ("task_completed", {"bpmn_id": "decide", "status": "DECIDED"}),
        ("task_completed", {"bpmn_id": "revoke", "status": "REVOKED"}),
    )
    assert codes(evs, "approved") == [(1, 1), (3, 2), (8, 3), (11, 4), (15, 5)]
