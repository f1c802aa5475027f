"""The JSON API: bearer tokens, the casework round trip, JSON errors, and the OpenAPI document checked by schemathesis."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from engine import services
from tests.integration.helpers import AD_APPLICATION
from web.api.openapi import document


def bearer(ow, username: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + services.accounts.issue_api_token(ow, username, "tests")}


def test_token_round_trip_from_application_to_history(app, ow):
    api = app.test_client()
    created = api.post("/api/v1/cases", json={"item_code": "outdoor-ad", "data": AD_APPLICATION},
                       headers=bearer(ow, "zhangsan"))
    assert created.status_code == 201
    case_no, code = created.json["case_no"], created.json["lookup_code"]
    window = bearer(ow, "window1")
    task_id = api.get("/api/v1/inbox?scope=groups", headers=window).json["items"][0]["task_id"]
    assert api.post(f"/api/v1/tasks/{task_id}/claim", headers=window).json == {"task_id": task_id, "assignee": "window1"}
    done = api.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"intake_decision": "accept"}}, headers=window)
    assert done.json["status"] == "ACCEPTED"
    assert api.get(f"/api/v1/cases/{case_no}", headers=window).json["status"] == "ACCEPTED"
    history = api.get(f"/api/v1/cases/{case_no}/history", headers=window).json["events"]
    assert [e["type"] for e in history] == ["applied", "claimed", "accepted"]
    assert api.post("/api/v1/track", json={"case_no": case_no, "lookup_code": code}).json["status"] == "ACCEPTED"


def test_errors_are_json_with_the_refusals_status(app, ow):
    api = app.test_client()
    assert api.get("/api/v1/inbox").status_code == 401
    assert api.get("/api/v1/inbox", headers={"Authorization": "Bearer nope"}).json["error"] == "Unauthenticated"
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]
    other = api.get(f"/api/v1/cases/{case_no}", headers=bearer(ow, "market_reviewer"))
    assert other.status_code == 404 and other.json["error"] == "NotFound"
    bad = api.post("/api/v1/cases", json={"item_code": "outdoor-ad", "data": {"area_sqm": "big"}},
                   headers=bearer(ow, "zhangsan"))
    assert bad.status_code == 422 and bad.json["fields"]["site_address"] == "required"
    forbidden = api.post("/api/v1/cases", json={"item_code": "outdoor-ad", "data": AD_APPLICATION},
                         headers=bearer(ow, "reviewer1"))
    assert forbidden.status_code == 403


def test_revoked_token_is_refused(app, ow):
    token = services.accounts.issue_api_token(ow, "window1", "old")
    services.accounts.revoke_api_token(ow, "window1", services.accounts.list_api_tokens(ow, "window1")[0]["id"])
    assert app.test_client().get("/api/v1/inbox", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_openapi_document_lists_every_api_route(app):
    served = app.test_client().get("/api/v1/openapi.json").json
    assert served == document()
    routes = {r.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}") for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/v1/") and not r.rule.endswith("openapi.json")}
    assert routes == set(served["paths"])


@pytest.fixture
def api_schema(app, ow):
    """The served OpenAPI document, bound to the app, with a window clerk's token on every call."""
    services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return schema, bearer(ow, "window1")


def test_schemathesis_finds_no_server_error_or_undocumented_response(api_schema):
    schema, headers = api_schema
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [operation.ok() for operation in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in document()["paths"].values())

    def runner(operation):
        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            case.call_and_validate(headers=headers, checks=checks)
        return run

    # A bounded run: a handful of generated requests per operation keeps this to a few seconds.
    for operation in operations:
        runner(operation)()
