"""The OpenAPI 3 document of /api/v1, written beside the routes it describes and tested against them."""
from __future__ import annotations

from typing import Any

OBJECT = {"type": "object"}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": "string", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {401: "no or bad bearer token", 403: "not allowed", 404: "not found or not visible",
             409: "lost a race or wrong state", 422: "invalid input (per-field messages)",
             429: "too many attempts", 400: "malformed request"}
    return {str(c): _json(_ref("Error"), words[c]) for c in codes}


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message", "fields"],
              "properties": {"error": STRING, "message": STRING,
                             "fields": {"type": "object", "additionalProperties": STRING}}},
    "Receipt": {"type": "object", "required": ["case_no", "lookup_code", "status"],
                "properties": {"case_no": STRING, "lookup_code": STRING, "status": STRING}},
    "WorkItem": {"type": "object", "required": ["task_id", "name", "case_no", "due_at", "card_level"],
                 "properties": {"task_id": STRING, "name": STRING, "bpmn_id": STRING, "case_no": STRING,
                                "item_code": STRING, "assignee": NULLABLE_STRING, "due_at": NULLABLE_STRING,
                                "card_level": STRING, "remaining_days": {"type": "integer", "nullable": True},
                                "acting_for": NULLABLE_STRING}},
    "Event": {"type": "object", "required": ["seq", "type", "actor", "at", "hash"],
              "properties": {"seq": {"type": "integer"}, "type": STRING, "actor": STRING,
                             "acting_for": NULLABLE_STRING, "at": STRING, "payload": OBJECT, "hash": STRING}},
    "Case": {"type": "object", "required": ["case_no", "item_code", "status", "events"],
             "properties": {"case_no": STRING, "item_code": STRING, "status": STRING, "result": NULLABLE_STRING,
                            "applicant": OBJECT, "open_tasks": {"type": "array", "items": _ref("WorkItem")},
                            "events": {"type": "array", "items": _ref("Event")}}},
    # What the portal shows outside the centre: tracking, and the case endpoints for applicants and proxy agents.
    "PublicEvent": {"type": "object", "required": ["type", "at"],
                    "properties": {"type": STRING, "at": STRING, "step": NULLABLE_STRING}},
    "Tracking": {"type": "object", "required": ["case_no", "status", "events"],
                 "properties": {"case_no": STRING, "item_code": STRING, "item_name": STRING, "item_name_en": STRING,
                                "status": STRING, "result": NULLABLE_STRING, "applicant": NULLABLE_STRING,
                                "received_at": STRING, "accepted_at": NULLABLE_STRING,
                                "concluded_at": NULLABLE_STRING, "rating": {"type": "integer", "nullable": True},
                                "may_rate": {"type": "boolean"},
                                "refusal": {"type": "object", "nullable": True, "properties": {
                                    "reason": STRING, "basis": STRING, "remedy_zh": STRING, "remedy_en": STRING}},
                                "events": {"type": "array", "items": _ref("PublicEvent")}}},
    "Item": {"type": "object", "required": ["code", "version", "name"],
             "properties": {"code": STRING, "version": {"type": "integer"}, "name": STRING, "name_en": STRING,
                            "statutory_limit": STRING, "promised_limit": STRING}},
}

TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 36}}
CASE_NO = {"name": "case_no", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
BEARER = [{"bearer": []}]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document."""
    paths = {
        "/items": {"get": {"summary": "The catalogue", "operationId": "items", "security": [],
                           "responses": {"200": _json({"type": "object", "required": ["items"], "properties": {
                               "items": {"type": "array", "items": _ref("Item")}}}, "every item")}}},
        "/cases": {"post": {
            "summary": "Apply for an item", "operationId": "apply", "security": BEARER,
            "requestBody": _body({"type": "object", "required": ["item_code", "data"], "properties": {
                "item_code": STRING, "data": OBJECT, "applicant": OBJECT,
                "on_behalf_of": {"type": "string", "description": "a proxy agent names the mandating applicant"}}}),
            "responses": {"201": _json(_ref("Receipt"), "case created"), **_errors(401, 403, 404, 409, 422)}}},
        "/track": {"post": {
            "summary": "Track a case by number and lookup code", "operationId": "track", "security": [],
            "requestBody": _body({"type": "object", "required": ["case_no", "lookup_code"], "properties": {
                "case_no": STRING, "lookup_code": STRING}}),
            "responses": {"200": _json(_ref("Tracking"), "the public view of the case"), **_errors(404, 422, 429)}}},
        "/inbox": {"get": {
            "summary": "The caller's open work by due time", "operationId": "inbox", "security": BEARER,
            "parameters": [
                {"name": "scope", "in": "query", "schema": {"type": "string", "enum": ["mine", "groups", "all"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 100000}}],
            "responses": {"200": _json({"type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": _ref("WorkItem")}}}, "work items"), **_errors(401, 404, 422)}}},
        "/tasks/{task_id}/claim": {"post": {
            "summary": "Claim a task", "operationId": "claim", "security": BEARER, "parameters": [TASK_ID],
            "responses": {"200": _json({"type": "object", "required": ["task_id", "assignee"], "properties": {
                "task_id": STRING, "assignee": STRING}}, "claimed"), **_errors(401, 403, 404, 409)}}},
        "/tasks/{task_id}/complete": {"post": {
            "summary": "Complete a task with its form data", "operationId": "complete", "security": BEARER,
            "parameters": [TASK_ID],
            "requestBody": _body({"type": "object", "required": ["data"], "properties": {
                "data": OBJECT, "refusal_basis": {"type": "string", "maxLength": 500}}}),
            "responses": {"200": _json({"type": "object", "required": ["task_id", "status"], "properties": {
                "task_id": STRING, "status": STRING}}, "completed; the case's status"),
                **_errors(401, 403, 404, 409, 422)}}},
        "/cases/{case_no}": {"get": {
            "summary": "A case the caller may see", "operationId": "case", "security": BEARER,
            "parameters": [CASE_NO],
            "responses": {"200": _json({"anyOf": [_ref("Case"), _ref("Tracking")]},
                                       "the case file for staff, the public view for applicants and proxy agents"),
                          **_errors(401, 404)}}},
        "/cases/{case_no}/history": {"get": {
            "summary": "Every event of a case", "operationId": "history", "security": BEARER,
            "parameters": [CASE_NO],
            "responses": {"200": _json({"type": "object", "required": ["events"], "properties": {
                "events": {"type": "array", "items": {"anyOf": [_ref("Event"), _ref("PublicEvent")]}}}},
                "the hash-chained events for staff, the public ones for applicants and proxy agents"),
                **_errors(401, 404)}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "OneWindow API", "version": "1.0.0",
                 "description": "一窗通办 JSON API. Errors are JSON {error, message, fields} with the status of the refusal."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
