"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/openapi.json``.

Hand-written, and checked against every response of the demo meeting by the tests
(tests/test_api.py): every object schema forbids properties it does not name, so a field
added to a response without being described here (and thought about) fails the suite.
"""

from __future__ import annotations

from copy import deepcopy

VERSION = "1.0.0"


def _object(properties: dict, required: list[str] | None = None, description: str = "") -> dict:
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
DATE = {"type": "string", "format": "date"}
DATE_TIME = {"type": "string", "format": "date-time",
             "description": "ISO 8601 with the offset of the meeting's time zone."}
SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}

SCHEMAS = {
    "Error": _object({
        "error": {"type": "string", "description": "What went wrong and how to go on."},
        "status": {"type": "integer"},
    }),
    "Meeting": _object({
        "id": {"type": "integer"},
        "slug": STRING,
        "name": STRING,
        "location": NULLABLE_STRING,
        "starts_on": DATE,
        "ends_on": DATE,
        "timezone": {"type": "string", "description": "IANA time zone, e.g. America/Chicago."},
        "publication": {"type": "integer", "minimum": 0,
                        "description": "The meeting's publication step: it grows whenever "
                                       "anything public about the meeting changes."},
    }),
    "SheetRef": _object({
        "version": {"type": "integer", "minimum": 1},
        "fingerprint": SHA256,
        "valid_from": DATE_TIME,
    }, description="A published version of a room's sheet: what the room's QR code shows."),
    "RoomSummary": _object({
        "id": {"type": "integer"},
        "name": STRING,
        "sheet": {"oneOf": [_ref("SheetRef"), {"type": "null"}]},
    }),
    "MeetingList": _object({"meetings": {"type": "array", "items": _ref("Meeting")}}),
    "Relationship": _object({
        "company": STRING,
        "nature": {"type": "string", "description": "The nature of the relationship, as printed."},
    }, description="A relationship a reviewer found relevant, and mitigated."),
    "StatementRef": _object({
        "version": {"type": "integer", "minimum": 1},
        "sha256": SHA256,
        "valid_from": DATE_TIME,
    }),
    "Person": _object({
        "name": STRING,
        "role": STRING,
        "kind": {"type": "string", "enum": ["relevant", "none", "review", "awaiting"],
                 "description": "relevant: relevant relationships, all mitigated; none: no "
                                "relevant relationships; review: under review; awaiting: no "
                                "disclosure received yet."},
        "kind_label": STRING,
        "relationships": {"type": "array", "items": _ref("Relationship")},
        "off_label": NULLABLE_STRING,
        "words": {"type": ["string", "null"],
                  "description": "The statement word for word as printed on the sheet."},
        "statement": {"oneOf": [_ref("StatementRef"), {"type": "null"}]},
    }, description="One person's public statement in one activity, as published."),
    "Supporter": _object({"name": STRING, "in_kind": NULLABLE_STRING},
                         description="Commercial support acknowledged for the activity."),
    "Activity": _object({
        "id": {"type": ["integer", "null"]},
        "code": STRING,
        "title": STRING,
        "starts_at": DATE_TIME,
        "ends_at": DATE_TIME,
        "room": NULLABLE_STRING,
        "support": {"type": "array", "items": _ref("Supporter")},
        "accredited": {"type": "boolean",
                       "description": "False for an activity not accredited for CME (an "
                                      "industry session, a meal): nobody discloses for it."},
        "complete": {"type": "boolean",
                     "description": "Every person's disclosure is reviewed and cleared."},
        "pending": {"type": "array", "items": STRING,
                    "description": "Names of the people not yet cleared."},
        "people": {"type": "array", "items": _ref("Person")},
    }),
    "ActivityList": _object({
        "meeting": _ref("Meeting"),
        "activities": {"type": "array", "items": _ref("Activity")},
    }),
    "ActivityDetail": _object({"meeting": _ref("Meeting"), "activity": _ref("Activity")}),
    "RoomSheet": _object({
        "meeting": _ref("Meeting"),
        "room": _object({"id": {"type": "integer"}, "name": STRING}),
        "location": NULLABLE_STRING,
        "timezone": STRING,
        "sheet": _ref("SheetRef"),
        "activities": {"type": "array", "items": _ref("Activity")},
    }, description="A room's latest published sheet: exactly what its QR code shows."),
}
# A meeting with its rooms: the Meeting fields plus ``rooms``.
SCHEMAS["MeetingDetail"] = deepcopy(SCHEMAS["Meeting"])
SCHEMAS["MeetingDetail"]["properties"]["rooms"] = {"type": "array", "items": _ref("RoomSummary")}
SCHEMAS["MeetingDetail"]["required"].append("rooms")


def _json(schema: str, description: str) -> dict:
    return {"description": description,
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
            "content": {"application/json": {"schema": _ref(schema)}}}


ERRORS = {
    "304": {"description": "Not modified: the ETag sent in If-None-Match is still current."},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "429": {"$ref": "#/components/responses/TooManyRequests"},
}


def _id(name: str, what: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"},
            "description": what}


def _get(summary: str, schema: str, parameters: list | None = None, *, not_found: bool = True
         ) -> dict:
    responses = {"200": _json(schema, summary), **ERRORS}
    if not_found:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    operation = {"summary": summary, "responses": responses,
                 "parameters": [{"$ref": "#/components/parameters/IfNoneMatch"}]}
    operation["parameters"] += parameters or []
    return {"get": operation}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


SPEC = {
    "openapi": "3.1.0",
    "info": {
        "title": "CME faculty disclosures",
        "version": VERSION,
        "description": (
            "Read-only JSON for meeting apps and programme systems: a meeting's rooms, its "
            "activities with their times, and the public disclosure statement of each person "
            "in each activity, exactly as the room sheets show them. Each token reads one "
            "meeting; the meeting's staff issue and revoke tokens. Send it as "
            "`Authorization: Bearer <token>`. Responses carry an ETag: send it back in "
            "If-None-Match and an unchanged answer is a bodiless 304."),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/meetings": _get("The meeting this token reads (a list of one).", "MeetingList",
                                 not_found=False),
        "/api/v1/meetings/{meeting_id}": _get(
            "A meeting and its rooms, each with its current sheet version.", "MeetingDetail",
            [_id("meeting_id", "The meeting's id.")]),
        "/api/v1/meetings/{meeting_id}/activities": _get(
            "Every activity of the meeting with its times, room and public statements.",
            "ActivityList", [_id("meeting_id", "The meeting's id.")]),
        "/api/v1/activities/{activity_id}": _get(
            "One activity with its times, room and public statements.", "ActivityDetail",
            [_id("activity_id", "The activity's id.")]),
        "/api/v1/rooms/{room_id}": _get(
            "A room's current published sheet: its activities, people and statements.",
            "RoomSheet", [_id("room_id", "The room's id.")]),
    },
    "components": {
        "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "A token issued by the meeting's staff (Meeting → API tokens)."}},
        "parameters": {"IfNoneMatch": {
            "name": "If-None-Match", "in": "header", "required": False,
            "schema": {"type": "string"}, "description": "The ETag of the answer you hold."}},
        "headers": {"ETag": {"schema": {"type": "string"},
                             "description": "r<room>.<sheet version> for a room, "
                                            "m<meeting>.<publication step> otherwise."}},
        "responses": {
            "Unauthorized": _error("No token, or a token that is unknown or revoked."),
            "NotFound": _error("No such object in the meeting this token reads."),
            "TooManyRequests": _error("Too many requests with this token: wait and retry."),
        },
        "schemas": SCHEMAS,
    },
}


def spec() -> dict:
    return deepcopy(SPEC)
