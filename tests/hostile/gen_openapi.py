#!/usr/bin/env python3
"""Writes otp-guard's OpenAPI 3.1 document (src/openapi.json, served at /v1/openapi.json).

    python3 tests/hostile/gen_openapi.py > src/openapi.json

The routes, statuses and problem codes here are read from src/guard.rs, src/admin.rs,
src/request.rs, src/decision.rs and src/eventlog.rs; keep them in step. A response used by
more than one operation is written once under components/responses.
"""
import json
import sys

CODES = {
    "invalid_request": 400, "payload_too_large": 413, "invalid_phone": 400,
    "country_not_allowed": 403, "number_type_blocked": 403, "captcha_failed": 403,
    "channel_not_allowed": 403, "blocklisted": 403, "ip_blocked": 403, "rate_limited": 429,
    "protection_engaged": 503, "upstream_error": 502, "not_found": 404,
    "method_not_allowed": 405, "unauthorized": 401, "config_error": 500,
}
TITLES = {
    "invalid_request": "Invalid request", "payload_too_large": "Request body too large",
    "invalid_phone": "Invalid phone number", "country_not_allowed": "Country not allowed",
    "number_type_blocked": "Number type not allowed", "captcha_failed": "Captcha failed",
    "channel_not_allowed": "Channel not allowed", "blocklisted": "Number blocked",
    "ip_blocked": "Network not allowed", "rate_limited": "Too many requests",
    "protection_engaged": "Fraud protection engaged", "upstream_error": "Upstream service failed",
    "not_found": "Not found", "method_not_allowed": "Method not allowed",
    "unauthorized": "Unauthorized", "config_error": "Configuration error",
}
REF = lambda kind, name: {"$ref": f"#/components/{kind}/{name}"}
nullable = lambda t: {"type": [t, "null"]}

COMMON_HEADERS = {
    "Cache-Control": REF("headers", "CacheControl"),
}
CORS_HEADERS = {
    "Vary": REF("headers", "Vary"),
    "Access-Control-Allow-Origin": REF("headers", "AccessControlAllowOrigin"),
    "Access-Control-Expose-Headers": REF("headers", "AccessControlExposeHeaders"),
}


def problem_response(status, codes, description, head=False, name=None):
    """A problem+json response limited to `codes` (all with HTTP `status`)."""
    for c in codes:
        assert CODES[c] == status, (c, status)
    headers = dict(COMMON_HEADERS)
    headers.update(CORS_HEADERS)
    if "rate_limited" in codes:
        headers["Retry-After"] = REF("headers", "RetryAfter")
    if "method_not_allowed" in codes:
        headers["Allow"] = REF("headers", "Allow")
    if "unauthorized" in codes:
        headers["WWW-Authenticate"] = REF("headers", "WWWAuthenticate")
    resp = {"description": description, "headers": headers}
    if name:
        resp["x-name"] = name + ("Head" if head else "")
    if not head:
        schema = {"allOf": [REF("schemas", "Problem"), {"properties": {"code": {"enum": codes}}}]}
        resp["content"] = {"application/problem+json": {"schema": schema}}
    return resp


def json_response(description, schema, head=False, extra_headers=None):
    headers = dict(COMMON_HEADERS)
    headers.update(CORS_HEADERS)
    if extra_headers:
        headers.update(extra_headers)
    resp = {"description": description, "headers": headers}
    if not head:
        resp["content"] = {"application/json": {"schema": schema}}
    return resp


def no_content(description):
    return {"x-name": "NoContent", "description": description, "headers": dict(COMMON_HEADERS, **CORS_HEADERS)}


# Responses every operation can give.
def config_error(head=False):
    return problem_response(500, ["config_error"],
                            "`config_error`: the deployed policy or a secret is invalid or missing; `detail` names "
                            "the key, never its value. Every route, preflights included, answers this while the "
                            "configuration is invalid.", head, "ConfigError")


def admin_auth(responses, head=False):
    responses["401"] = problem_response(401, ["unauthorized"],
                                        "`unauthorized`: no `Authorization: Bearer` header, or not the `ADMIN_TOKEN`.",
                                        head, "Unauthorized")
    responses.setdefault("404", problem_response(404, ["not_found"],
                                                 "`not_found`: the deployment has no `ADMIN_TOKEN` secret, so every "
                                                 "admin route answers as if it did not exist.", head, "AdminNotFound"))
    return responses


def method_not_allowed(head):
    return problem_response(405, ["method_not_allowed"],
                            "`method_not_allowed`: the route does not take this method; `Allow` names the ones it "
                            "does. (`OPTIONS` without `Access-Control-Request-Method` is not a preflight and is "
                            "routed like any other method.)", head, "MethodNotAllowed")


ALL_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]


def wrong_methods(path_item, allowed, allow_header, tag, admin=False, extra=None):
    """Operations for the methods a route refuses with 405 (the worker answers every method)."""
    for m in ALL_METHODS:
        if m in allowed or m == "options":
            continue
        head = m == "head"
        responses = {"405": method_not_allowed(head)}
        if extra:
            for status, resp in extra(head).items():
                responses[status] = resp
        responses["500"] = config_error(head)
        op = {
            "tags": [tag],
            "summary": f"Wrong method: answered 405 (`Allow: {allow_header}`)",
            "operationId": None,
            "responses": admin_auth(responses, head) if admin else responses,
        }
        if admin:
            op["security"] = [{"adminBearer": []}]
        path_item[m] = op


def preflight(path_item, tag, admin=False, extra=None):
    responses = {
        "204": {
            "x-name": "Preflight",
            "description": "The CORS preflight answer (any path). An origin listed in `ALLOWED_ORIGINS` gets "
                           "`Access-Control-Allow-Origin`, `-Methods`, `-Headers` and `-Max-Age`; any other "
                           "origin gets none of them.",
            "headers": {
                "Cache-Control": REF("headers", "CacheControl"),
                "Vary": REF("headers", "Vary"),
                "Access-Control-Allow-Origin": REF("headers", "AccessControlAllowOrigin"),
                "Access-Control-Allow-Methods": {"schema": {"type": "string", "const": "GET, POST, PUT, DELETE, OPTIONS"}},
                "Access-Control-Allow-Headers": {"schema": {"type": "string", "const": "Content-Type, Authorization"}},
                "Access-Control-Max-Age": {"schema": {"type": "string", "const": "86400"}},
            },
        },
        "405": method_not_allowed(True),
        "500": config_error(True),
    }
    if admin:
        admin_auth(responses, True)
    if extra:
        responses.update(extra(True))
    path_item["options"] = {
        "tags": [tag],
        "summary": "CORS preflight",
        "description": "Answered before routing and authentication, on every path, when the request carries "
                       "`Access-Control-Request-Method`.",
        "parameters": [REF("parameters", "AccessControlRequestMethod"), REF("parameters", "Origin")],
        "responses": responses,
        "security": [{}],
    }


doc = {
    "openapi": "3.1.0",
    "info": {
        "title": "otp-guard",
        "version": "0.1.0",
        "summary": "An edge guard in front of Twilio Verify: refuses SMS pumping, toll fraud and bots before a "
                   "passcode is sent.",
        "description": (
            "The public contract of otp-guard (stable: clients and tests depend on it), and its operator API.\n\n"
            "Request bodies are JSON objects sent with `Content-Type: application/json` (any parameters, "
            "case-insensitive) of at most 8 KiB (8192 bytes; also enforced when streamed without a length). "
            "Every error is `application/problem+json` (RFC 9457) with a stable machine-readable `code`; the HTTP "
            "status follows from the code (see `Problem`). Responses never carry a full phone number, only a "
            "masked one (`+44******3456`).\n\n"
            "Every route answers every method: a method a route does not take is `405 method_not_allowed` with "
            "an `Allow` header (documented below per route); unknown paths are `404 not_found`. `OPTIONS` with "
            "`Access-Control-Request-Method` is a CORS preflight on any path. While the deployed configuration is "
            "invalid, every request is answered `500 config_error`.\n\n"
            "`GET /` and `GET /admin` (the demo page and the operator dashboard) are static assets served from "
            "`www/` before the worker runs; they are not part of this API."
        ),
        "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
    },
    "servers": [{"url": "/", "description": "The guard itself (this document is served at /v1/openapi.json)"}],
    "tags": [
        {"name": "verification", "description": "The two endpoints a sign-up or login form calls."},
        {"name": "meta", "description": "Health, page configuration and this document."},
        {"name": "admin", "description": "The operator API (bearer `ADMIN_TOKEN`; 404 on every route when no "
                                         "`ADMIN_TOKEN` secret is set)."},
        {"name": "method-not-allowed", "description": "Methods a route refuses, with the answer they get."},
    ],
    "paths": {},
    "components": {
        "securitySchemes": {
            "adminBearer": {
                "type": "http", "scheme": "bearer",
                "description": "`Authorization: Bearer <ADMIN_TOKEN>` (`bearer` also accepted; compared in constant "
                               "time). Admin routes authenticate before anything else, so an unauthenticated caller "
                               "learns nothing about which admin routes exist.",
            },
        },
        "headers": {
            "CacheControl": {"description": "Every API answer is `no-store`.",
                             "schema": {"type": "string", "const": "no-store"}},
            "Vary": {"description": "`Origin` (CORS depends on it).", "schema": {"type": "string", "const": "Origin"}},
            "AccessControlAllowOrigin": {"description": "The request's `Origin`, only when it is in "
                                                        "`ALLOWED_ORIGINS` (or that is `*`).",
                                         "schema": {"type": "string"}},
            "AccessControlExposeHeaders": {"description": "`Retry-After`, with `Access-Control-Allow-Origin`.",
                                           "schema": {"type": "string", "const": "Retry-After"}},
            "RetryAfter": {"description": "Seconds before a retry may succeed (equal to `retry_after_s`).",
                           "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
            "Allow": {"description": "The methods this route takes.", "required": True,
                      "schema": {"type": "string", "examples": ["POST", "GET, HEAD", "PUT, DELETE", "DELETE"]}},
            "WWWAuthenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}},
        },
        "parameters": {
            "AccessControlRequestMethod": {
                "name": "Access-Control-Request-Method", "in": "header", "required": True,
                "description": "Makes an `OPTIONS` request a CORS preflight.",
                "schema": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
            },
            "Origin": {
                "name": "Origin", "in": "header", "required": False,
                "description": "The calling page's origin; CORS headers are added only for origins in `ALLOWED_ORIGINS`.",
                "schema": {"type": "string", "examples": ["http://localhost:8787"]},
            },
            "Since": {"name": "since", "in": "query", "required": False,
                      "description": "Events at or after this time: RFC 3339 (`2026-11-21T14:00:00Z`, "
                                     "`...+01:00`, fractional seconds allowed) or milliseconds since the Unix epoch. "
                                     "Stats and incidents default to the last 24 hours.",
                      "schema": REF("schemas", "Time")},
            "Until": {"name": "until", "in": "query", "required": False,
                      "description": "Events before this time (same forms as `since`).",
                      "schema": REF("schemas", "Time")},
            "Country": {"name": "country", "in": "query", "required": False,
                        "description": "The number's region (ISO 3166-1 alpha-2, case-insensitive).",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_+-]{1,3}$", "examples": ["CG"]}},
            "Prefix": {"name": "prefix", "in": "query", "required": False,
                       "description": "Number prefix (`+242`; send `+` as `%2B`): events whose prefix starts with it.",
                       "schema": {"type": "string", "pattern": "^[A-Za-z0-9_+-]{1,16}$", "examples": ["+242"]}},
            "Decision": {"name": "decision", "in": "query", "required": False,
                         "description": "`allow`, `block`, `engage` or `lift`.",
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_+-]{1,16}$", "examples": ["block"]}},
            "Reason": {"name": "reason", "in": "query", "required": False,
                       "description": "`ok` or a problem `code`.",
                       "schema": {"type": "string", "pattern": "^[A-Za-z0-9_+-]{1,32}$",
                                  "examples": ["protection_engaged"]}},
            "Route": {"name": "route", "in": "query", "required": False,
                      "description": "`send`, `check`, `admin`, `protection`, `config`.",
                      "schema": {"type": "string", "pattern": "^[A-Za-z0-9_+-]{1,16}$", "examples": ["send"]}},
            "Cursor": {"name": "cursor", "in": "query", "required": False,
                       "description": "The `next_cursor` of the previous page: events after this id (`order=asc`) "
                                      "or before it (`order=desc`).",
                       "schema": {"type": "integer", "format": "int64"}},
            "Order": {"name": "order", "in": "query", "required": False,
                      "description": "`asc` (default): oldest first; `desc`: newest first, for recent-events views.",
                      "schema": {"type": "string", "enum": ["asc", "desc"], "default": "asc"}},
            "EventsLimit": {"name": "limit", "in": "query", "required": False,
                            "description": "Page size (default 100).",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
            "ScanLimit": {"name": "limit", "in": "query", "required": False,
                          "description": "How many events to read (default 50,000).",
                          "schema": {"type": "integer", "minimum": 1, "maximum": 50000, "default": 50000}},
            "Format": {"name": "format", "in": "query", "required": False,
                       "description": "`json` (default), `ndjson` (one event per line) or `csv` (formula-safe).",
                       "schema": {"type": "string", "enum": ["json", "ndjson", "csv"], "default": "json"}},
            "IgnoredFormat": {"name": "format", "in": "query", "required": False,
                              "description": "Accepted and ignored (always JSON).", "schema": {"type": "string"}},
            "E164": {"name": "e164", "in": "path", "required": True,
                     "description": "A whole, valid number in E.164 form (`+447400123456`; `+` may be sent as `%2B`). "
                                    "Anything else is `400 invalid_phone`.",
                     "schema": {"type": "string", "pattern": "^\\+[0-9]{1,20}$", "examples": ["+447400123456"]}},
            "BlockEntry": {"name": "entry", "in": "path", "required": True,
                           "description": "A whole, valid number in E.164 form, or a prefix: `+` and 1 to 14 digits "
                                          "(`+242`). Anything else is `400 invalid_phone`.",
                           "schema": {"type": "string", "pattern": "^\\+[0-9]{1,20}$", "examples": ["+242"]}},
            "Dest": {"name": "dest", "in": "path", "required": True,
                     "description": "A pumping destination: an ISO region in capitals (`CG`) or `+` and 1 to 14 "
                                    "digits (`+24206`). Anything else (or an unknown region) is `404 not_found`.",
                     "schema": {"type": "string", "pattern": "^(\\+[0-9]{1,14}|[A-Z]{2})$", "examples": ["CG"]}},
        },
        "schemas": {
            "Problem": {
                "type": "object",
                "description": "RFC 9457 problem details. `status` always equals the HTTP status, and the status "
                               "follows from `code`. `scope` and `retry_after_s` are present exactly when `code` is "
                               "`rate_limited` (with a `Retry-After` header).",
                "required": ["type", "title", "status", "code", "detail"],
                "properties": {
                    "type": {"type": "string", "pattern": "^urn:otp-guard:error:[a-z_]+$",
                             "examples": ["urn:otp-guard:error:rate_limited"]},
                    "title": {"type": "string"},
                    "status": {"type": "integer", "enum": sorted(set(CODES.values()))},
                    "code": {"type": "string", "enum": list(CODES)},
                    "detail": {"type": "string", "description": "A sentence for people. Never holds a phone number, "
                                                                "a token or a secret value."},
                    "scope": {"type": "string", "enum": ["ip", "subnet", "phone", "prefix", "country", "global"],
                              "description": "Which quota is full (`rate_limited` only)."},
                    "retry_after_s": {"type": "integer", "minimum": 0,
                                      "description": "Seconds before a retry may succeed (`rate_limited` only)."},
                },
                "additionalProperties": False,
                "allOf": [
                    {"if": {"properties": {"code": {"const": c}}, "required": ["code"]},
                     "then": {"properties": {"status": {"const": s}, "type": {"const": f"urn:otp-guard:error:{c}"},
                                             "title": {"const": TITLES[c]}}}}
                    for c, s in CODES.items()
                ] + [
                    {"if": {"properties": {"code": {"const": "rate_limited"}}, "required": ["code"]},
                     "then": {"required": ["scope", "retry_after_s"]},
                     "else": {"not": {"anyOf": [{"required": ["scope"]}, {"required": ["retry_after_s"]}]}}},
                ],
                "examples": [{"type": "urn:otp-guard:error:rate_limited", "title": "Too many requests", "status": 429,
                              "code": "rate_limited",
                              "detail": "too many verification requests (phone limit); retry in 42 s",
                              "scope": "phone", "retry_after_s": 42}],
            },
            "Time": {"type": "string",
                     "pattern": "^([0-9]{1,20}|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?"
                                "([Zz]|[+-][0-9]{2}:[0-9]{2}))$",
                     "examples": ["2026-11-21T14:00:00Z", "1795374297491"]},
            "SendRequest": {
                "type": "object",
                "required": ["phone"],
                "additionalProperties": False,
                "description": "Unknown members are refused (`invalid_request`). `null` is the same as absent for "
                               "the optional members.",
                "properties": {
                    "phone": {"type": "string",
                              "description": "E.164 (`+14155550123`); national with `country` (`(415) 555-0123`); a "
                                             "`00` or `011` prefix; a `tel:` URI; spaces, dashes, dots, slashes, "
                                             "parentheses; any script's decimal digits; at most 64 characters. "
                                             "Anything else is `400 invalid_phone`.",
                              "examples": ["+44 7400 123456"]},
                    "country": {"type": ["string", "null"], "pattern": "^([A-Za-z]{2})?$",
                                "description": "Region for national numbers (ISO 3166-1 alpha-2). An unknown region "
                                               "is `invalid_phone`; another shape is `invalid_request`.",
                                "examples": ["GB"]},
                    "channel": {"type": ["string", "null"], "enum": ["sms", "call", "whatsapp", None],
                                "default": "sms"},
                    "turnstile_token": {"type": ["string", "null"], "maxLength": 2048,
                                        "description": "The Turnstile widget's token. Absent or empty: "
                                                       "`403 captcha_failed` (once the number is otherwise "
                                                       "acceptable). Longer than 2048 characters: `invalid_request`.",
                                        "examples": ["XXXX.DUMMY.TOKEN.XXXX"]},
                    "locale": {"type": ["string", "null"], "pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$",
                               "description": "Language of the message (`en`, `pt-BR`, `es-419`), passed to Twilio.",
                               "examples": ["en"]},
                },
                "examples": [{"phone": "+44 7400 123456", "turnstile_token": "XXXX.DUMMY.TOKEN.XXXX"}],
            },
            "CheckRequest": {
                "type": "object",
                "required": ["phone", "code"],
                "additionalProperties": False,
                "description": "Unknown members are refused (`invalid_request`).",
                "properties": {
                    "phone": {"type": "string", "description": "As for a send.", "examples": ["+447400123456"]},
                    "country": {"type": ["string", "null"], "pattern": "^([A-Za-z]{2})?$"},
                    "code": {"type": "string", "pattern": "^[A-Za-z0-9]{4,10}$", "examples": ["123456"]},
                },
                "examples": [{"phone": "+447400123456", "code": "123456"}],
            },
            "Pending": {
                "type": "object",
                "required": ["status", "channel", "to", "sms_attempts", "call_available", "retry_after_s"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "string", "const": "pending"},
                    "channel": {"type": "string", "enum": ["sms", "call", "whatsapp"]},
                    "to": {"type": "string", "pattern": "^\\+[0-9]{1,3}\\**[0-9]{0,4}$",
                           "description": "The masked number.", "examples": ["+44******3456"]},
                    "sms_attempts": {"type": "integer", "minimum": 0},
                    "call_available": {"type": "boolean", "description": "The voice gate is open for this number."},
                    "retry_after_s": {"type": "integer", "minimum": 0,
                                      "description": "Seconds before the next send to this number."},
                },
                "examples": [{"status": "pending", "channel": "sms", "to": "+44******3456", "sms_attempts": 1,
                              "call_available": False, "retry_after_s": 30}],
            },
            "Checked": {
                "type": "object",
                "required": ["status", "valid"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "string", "description": "Twilio's verification status (`approved`, "
                                                               "`pending`, ...).", "examples": ["approved"]},
                    "valid": {"type": "boolean", "description": "True only when the status is `approved`."},
                },
            },
            "Health": {
                "type": "object", "required": ["status", "version"], "additionalProperties": False,
                "properties": {"status": {"type": "string", "const": "ok"}, "version": {"type": "string"}},
            },
            "ClientConfig": {
                "type": "object",
                "required": ["turnstile_site_key", "turnstile_script_url", "turnstile_action", "channels",
                             "default_country", "voice_gate_sms_attempts"],
                "additionalProperties": False,
                "properties": {
                    "turnstile_site_key": {"type": "string"},
                    "turnstile_script_url": {"type": "string"},
                    "turnstile_action": nullable("string"),
                    "channels": {"type": "array", "items": {"type": "string", "enum": ["sms", "call", "whatsapp"]}},
                    "default_country": {"type": ["string", "null"],
                                        "description": "The visitor's country (`request.cf.country`), if a known region."},
                    "voice_gate_sms_attempts": {"type": "integer", "minimum": 0},
                },
            },
            "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"],
                                "description": "This document."},
            "Event": {
                "type": "object",
                "description": "A row of the decision log. Numbers are masked; `phone_hash` is a keyed hash.",
                "required": ["id", "ts", "time", "request_id", "route", "decision", "reason", "status"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer"},
                    "event_id": {"type": ["string", "null"],
                                 "description": "The decision's id (128 bits of SHA-256 over its log line, hex); "
                                                "null on rows older than migration 0002."},
                    "ts": {"type": "integer", "description": "ms since the epoch"},
                    "time": {"type": "string"}, "request_id": {"type": "string"}, "route": {"type": "string"},
                    "ip": nullable("string"), "ip_country": nullable("string"), "asn": nullable("integer"),
                    "phone": nullable("string"), "phone_hash": nullable("string"), "country": nullable("string"),
                    "prefix": nullable("string"), "number_type": nullable("string"), "channel": nullable("string"),
                    "decision": {"type": "string"}, "reason": {"type": "string"}, "status": {"type": "integer"},
                    "would_block": {"type": ["string", "null"], "description": "Comma-separated codes (monitor mode)."},
                    "safelisted": nullable("integer"), "twilio_sid": nullable("string"),
                    "price_usd": nullable("number"), "approved": nullable("integer"),
                    "protection": {"type": ["string", "null"], "description": "The block engaged or lifted, as JSON text."},
                    "detail": nullable("string"),
                },
            },
            "Events": {
                "type": "object", "required": ["events", "next_cursor"], "additionalProperties": False,
                "properties": {
                    "events": {"type": "array", "items": REF("schemas", "Event")},
                    "next_cursor": {"type": ["integer", "null"],
                                    "description": "Pass as `cursor` for the next page; null on the last page."},
                },
            },
            "Figures": {
                "type": "object", "additionalProperties": False,
                "required": ["window_sends", "baseline_per_window", "conversion_now", "conversion_normal"],
                "properties": {
                    "window_sends": {"type": "integer"}, "baseline_per_window": {"type": "number"},
                    "conversion_now": nullable("number"), "conversion_normal": nullable("number"),
                },
            },
            "Trigger": {"type": ["string", "null"], "enum": ["spike_with_conversion_collapse", "new_destination",
                                                            "network_conversion_collapse", "slow_conversion_collapse",
                                                            "unserved_destination", None]},
            "Stats": {
                "type": "object",
                "required": ["from", "to", "events", "countries", "channels", "reasons", "estimated_spend_usd",
                             "series", "active_blocks", "spend_caps_usd"],
                "additionalProperties": False,
                "properties": {
                    "from": nullable("string"), "to": nullable("string"), "events": {"type": "integer"},
                    "countries": {"type": "object", "additionalProperties": {
                        "type": "object", "additionalProperties": False,
                        "required": ["requests", "sent", "blocked", "approved", "conversion", "estimated_spend_usd"],
                        "properties": {"requests": {"type": "integer"}, "sent": {"type": "integer"},
                                       "blocked": {"type": "integer"}, "approved": {"type": "integer"},
                                       "conversion": nullable("number"), "estimated_spend_usd": {"type": "number"}}}},
                    "channels": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "reasons": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "estimated_spend_usd": {"type": "object", "required": ["last_hour", "last_day"],
                                            "additionalProperties": False,
                                            "properties": {"last_hour": {"type": "number"},
                                                           "last_day": {"type": "number"}}},
                    "series": {"type": "array", "items": {
                        "type": "object", "required": ["hour", "countries"], "additionalProperties": False,
                        "properties": {"hour": {"type": "string"}, "countries": {
                            "type": "object", "additionalProperties": {
                                "type": "object", "required": ["sent", "blocked", "approved"],
                                "additionalProperties": False,
                                "properties": {"sent": {"type": "integer"}, "blocked": {"type": "integer"},
                                               "approved": {"type": "integer"}}}}}}},
                    "active_blocks": {"type": "array", "items": {
                        "type": "object", "required": ["dest", "engaged", "until", "trigger", "figures"],
                        "additionalProperties": False,
                        "properties": {"dest": {"type": "string"}, "engaged": {"type": "string"},
                                       "until": nullable("string"), "trigger": REF("schemas", "Trigger"),
                                       "figures": {"oneOf": [REF("schemas", "Figures"), {"type": "null"}]}}}},
                    "spend_caps_usd": {"type": "object", "additionalProperties": False,
                                       "required": ["hourly", "daily", "country_hourly", "country_daily"],
                                       "properties": {k: nullable("number") for k in
                                                      ["hourly", "daily", "country_hourly", "country_daily"]}},
                },
            },
            "Incidents": {
                "type": "object", "required": ["incidents"], "additionalProperties": False,
                "properties": {"incidents": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["start", "end", "destinations", "requests", "sends", "refused", "conversion_before",
                                 "conversion_during", "estimated_cost_usd", "distinct_ips", "asns", "actions"],
                    "properties": {
                        "start": {"type": "string"}, "end": {"type": "string"},
                        "destinations": {"type": "array", "items": {"type": "string"}},
                        "requests": {"type": "integer"}, "sends": {"type": "integer"}, "refused": {"type": "integer"},
                        "conversion_before": nullable("number"), "conversion_during": nullable("number"),
                        "estimated_cost_usd": {"type": "number"}, "distinct_ips": {"type": "integer"},
                        "asns": {"type": "array", "items": {"type": "integer"}},
                        "actions": {"type": "array", "items": {
                            "type": "object", "required": ["time", "action", "dest"],
                            "properties": {"time": {"type": "string"},
                                           "action": {"type": "string", "enum": ["engaged", "lifted", "first_refusal"]},
                                           "dest": nullable("string"), "trigger": REF("schemas", "Trigger"),
                                           "until": nullable("string"),
                                           "figures": {"oneOf": [REF("schemas", "Figures"), {"type": "null"}]}},
                            "additionalProperties": False}},
                    }}}},
            },
            "ListEntries": {
                "type": "object", "required": ["entries"], "additionalProperties": False,
                "properties": {"entries": {"type": "array", "items": {
                    "type": "object", "required": ["entry", "added", "kind"], "additionalProperties": False,
                    "properties": {"entry": {"type": ["string", "null"],
                                             "description": "The masked number, or the prefix."},
                                   "added": nullable("string"),
                                   "kind": {"type": "string", "enum": ["number", "prefix"]}}}}},
            },
        },
    },
}

paths = doc["paths"]
BODY_LIMIT_NOTE = (" The body must be sent with `Content-Type: application/json` (else `400 invalid_request`) and be "
                   "at most 8192 bytes (else `413 payload_too_large`).")


def body_route(path, op, tag):
    item = {}
    item["post"] = op
    preflight(item, tag)
    wrong_methods(item, {"post"}, "POST", "method-not-allowed")
    paths[path] = item


send_op = {
    "tags": ["verification"],
    "operationId": "sendVerification",
    "summary": "Send a one-time passcode",
    "description": (
        "Runs the decision pipeline, cheapest checks first: the body; the number; the blocklist and safelist; "
        "country, number-type and client-network policy; the rate limits and the voice gate (read only); "
        "Turnstile siteverify; the rate limits again (reserving the send); then Twilio Verify "
        "(`RiskCheck=enable`). A request refused at any step never reaches the later ones: nothing is sent to "
        "Twilio, and a request without a token never reaches Turnstile. In monitor mode policy refusals are "
        "logged and let through." + BODY_LIMIT_NOTE),
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": REF("schemas", "SendRequest")}}},
    "responses": {
        "202": json_response("A passcode was sent (Twilio Verify accepted the verification).",
                             REF("schemas", "Pending")),
        "400": problem_response(400, ["invalid_request", "invalid_phone"],
                                "`invalid_request`: not JSON, wrong `Content-Type`, not an object, wrong types, "
                                "unknown members, unknown channel, bad `country`/`locale` shape, token over 2048 "
                                "characters. `invalid_phone`: not a valid number in any accepted form (or Twilio "
                                "refused it as invalid)."),
        "403": problem_response(403, ["country_not_allowed", "number_type_blocked", "captcha_failed",
                                      "channel_not_allowed", "blocklisted", "ip_blocked"],
                                "A policy refusal: the number's country or type on this channel, the captcha "
                                "(missing, invalid, spent, or for another hostname or action), a channel not "
                                "offered or a call before the voice gate opens, the blocklist, or the client's "
                                "network."),
        "413": problem_response(413, ["payload_too_large"], "`payload_too_large`: the body is over 8192 bytes.",
                                name="PayloadTooLarge"),
        "429": problem_response(429, ["rate_limited"], "`rate_limited`: a quota is full (`scope`), or Twilio "
                                                       "refused for too many attempts (60203: `phone`) or requests "
                                                       "(20429: `global`)."),
        "500": config_error(),
        "502": problem_response(502, ["upstream_error"], "`upstream_error`: Turnstile, Twilio or the counter store "
                                                         "failed or timed out; nothing was sent."),
        "503": problem_response(503, ["protection_engaged"], "`protection_engaged`: the destination is under an "
                                                             "automatic pumping block, the estimated spend cap is "
                                                             "reached, or Twilio's fraud guard refused (60410)."),
    },
    "security": [{}],
}
send_op["responses"]["500"]["description"] += (" Also when Twilio or Turnstile refuse the deployment's "
                                               "credentials or Verify service.")
body_route("/v1/verifications", send_op, "verification")

check_op = {
    "tags": ["verification"],
    "operationId": "checkVerification",
    "summary": "Check a passcode",
    "description": ("Asks Twilio Verify whether `code` is the pending passcode for the number. A wrong code is "
                    "not an error: `200` with `valid: false`. Approvals feed the pumping detector's conversion "
                    "tracking." + BODY_LIMIT_NOTE),
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": REF("schemas", "CheckRequest")}}},
    "responses": {
        "200": json_response("Twilio's answer: `{\"status\":\"approved\",\"valid\":true}` or "
                             "`{\"status\":\"pending\",\"valid\":false}`.", REF("schemas", "Checked")),
        "400": problem_response(400, ["invalid_request", "invalid_phone"],
                                "`invalid_request`: the body (as for a send; `code` must be 4 to 10 letters or "
                                "digits). `invalid_phone`: not a valid number (or Twilio refused it)."),
        "403": problem_response(403, ["country_not_allowed", "number_type_blocked", "channel_not_allowed"],
                                "Twilio refused the check for the destination (60605, 60205/60208, 60223)."),
        "404": problem_response(404, ["not_found"], "`not_found`: no pending verification for this number "
                                                    "(expired, already approved, or never sent)."),
        "413": problem_response(413, ["payload_too_large"], "`payload_too_large`: the body is over 8192 bytes.",
                                name="PayloadTooLarge"),
        "429": problem_response(429, ["rate_limited"], "`rate_limited`: Twilio's check-attempt limit (60202: "
                                                       "`phone`) or its request rate (20429: `global`)."),
        "500": config_error(),
        "502": problem_response(502, ["upstream_error"], "`upstream_error`: Twilio failed or timed out."),
        "503": problem_response(503, ["protection_engaged"], "`protection_engaged`: Twilio's fraud guard (60410)."),
    },
    "security": [{}],
}
check_op["responses"]["500"]["description"] += " Also when Twilio refuses the deployment's credentials."
body_route("/v1/verifications/check", check_op, "verification")


def read_route(path, op_id, summary, description, schema, tag, admin=False, params=None, extra_responses=None,
               content=None):
    item = {}
    for method in ("get", "head"):
        head = method == "head"
        responses = {}
        if content and not head:
            responses["200"] = {"description": description, "headers": dict(COMMON_HEADERS, **CORS_HEADERS),
                                "content": content}
        else:
            responses["200"] = json_response(description, schema, head)
        for status, make in (extra_responses or {}).items():
            responses[status] = make(head)
        responses["500"] = config_error(head)
        op = {
            "tags": [tag],
            "operationId": op_id if not head else op_id + "Head",
            "summary": summary if not head else summary + " (headers only)",
            "responses": admin_auth(responses, head) if admin else responses,
            "security": [{"adminBearer": []}] if admin else [{}],
        }
        if params:
            op["parameters"] = params
        item[method] = op
    preflight(item, tag, admin)
    wrong_methods(item, {"get", "head"}, "GET, HEAD", "method-not-allowed", admin)
    paths[path] = item


read_route("/v1/health", "health", "Liveness", "`{\"status\":\"ok\",\"version\":\"...\"}`",
           REF("schemas", "Health"), "meta")
read_route("/v1/client-config", "clientConfig", "What a page needs to render the form",
           "The Turnstile site key, script and action, the channels on offer, the visitor's country as a default "
           "for the country picker, and how many SMS attempts open the voice gate.",
           REF("schemas", "ClientConfig"), "meta")
read_route("/v1/openapi.json", "openapi", "This document", "The OpenAPI 3.1 description of this API.",
           REF("schemas", "OpenApiDocument"), "meta")

bad_query = lambda head: problem_response(400, ["invalid_request"], "`invalid_request`: an unknown parameter, or "
                                          "a value of the wrong shape (`detail` names the parameter).", head, "BadQuery")
log_down = lambda head: problem_response(502, ["upstream_error"], "`upstream_error`: the decision log (D1) is "
                                         "unavailable.", head, "LogUnavailable")
store_down = lambda head: problem_response(502, ["upstream_error"], "`upstream_error`: the list store (KV) is "
                                           "unavailable.", head, "StoreUnavailable")
filters = [REF("parameters", p) for p in ("Since", "Until", "Country", "Prefix", "Decision", "Reason", "Route")]

read_route("/v1/admin/events", "adminEvents", "The decision log",
           "Decision events, oldest first (or newest first with `order=desc`), filtered and paginated "
           "(`next_cursor`). Unknown parameters are refused.",
           REF("schemas", "Events"), "admin", admin=True,
           params=filters + [REF("parameters", "Cursor"), REF("parameters", "Order"), REF("parameters", "EventsLimit"),
                             REF("parameters", "Format")],
           extra_responses={"400": bad_query, "502": log_down},
           content={"application/json": {"schema": REF("schemas", "Events")},
                    "application/x-ndjson": {"schema": {"type": "string",
                                                        "description": "One `Event` JSON object per line."}},
                    "text/csv": {"schema": {"type": "string",
                                            "description": "A header line, then one event per line "
                                                           "(`charset=utf-8`); cells starting with `=`, `+`, `-` or "
                                                           "`@` are neutralised."}}})
scan_params = filters + [REF("parameters", "Cursor"), REF("parameters", "ScanLimit"), REF("parameters", "IgnoredFormat")]
read_route("/v1/admin/stats", "adminStats", "Statistics",
           "Counts per country, channel and reason; conversion and estimated spend per country; spend in the last "
           "hour and day against the caps; an hourly series per country; active pumping blocks. The last 24 hours "
           "unless `since` says otherwise.", REF("schemas", "Stats"), "admin", admin=True, params=scan_params,
           extra_responses={"400": bad_query, "502": log_down})
read_route("/v1/admin/incidents", "adminIncidents", "Pumping incidents",
           "Pumping incidents found in the decision log, each with its timeline. The last 24 hours unless `since` "
           "says otherwise.", REF("schemas", "Incidents"), "admin", admin=True, params=scan_params,
           extra_responses={"400": bad_query, "502": log_down})
for name in ("safelist", "blocklist"):
    read_route(f"/v1/admin/{name}", f"admin{name.capitalize()}", f"The {name}",
               "The entries, numbers masked (removing one takes the number itself, as adding it did).",
               REF("schemas", "ListEntries"), "admin", admin=True, extra_responses={"502": store_down})

bad_entry = {
    "safelist": lambda head: problem_response(400, ["invalid_phone"], "`invalid_phone`: the entry is not a whole, "
                                              "valid E.164 number (answered before the method is checked).", head,
                                              "InvalidSafelistEntry"),
    "blocklist": lambda head: problem_response(400, ["invalid_phone"], "`invalid_phone`: the entry is neither a "
                                               "whole, valid E.164 number nor a `+` and 1 to 14 digits (answered "
                                               "before the method is checked).", head, "InvalidBlocklistEntry"),
}
entry_not_found = lambda head: problem_response(404, ["not_found"], "`not_found`: the entry segment is empty, "
                                                "holds a `/` (also as `%2F`), a malformed `%` escape or invalid "
                                                "UTF-8; or no `ADMIN_TOKEN` is set.", head, "EntryNotFound")
for name, param, pname in (("safelist", "E164", "e164"), ("blocklist", "BlockEntry", "entry")):
    item = {"parameters": [REF("parameters", param)]}
    for method, verb in (("put", "Add"), ("delete", "Remove")):
        item[method] = {
            "tags": ["admin"],
            "operationId": f"{'add' if method == 'put' else 'remove'}{name.capitalize()}Entry",
            "summary": f"{verb} a {name} entry",
            "description": ("Idempotent. Stored in KV under the number's keyed hash; visible at once where made and "
                            "within about a minute everywhere. The request body, if any, is ignored." +
                            (" A safelisted number skips the fraud checks (not the rate limits or the captcha)."
                             if name == "safelist" else " The blocklist wins over the safelist.")),
            "security": [{"adminBearer": []}],
            "responses": admin_auth({
                "204": no_content("Done."),
                "400": bad_entry[name](False),
                "404": entry_not_found(False),
                "500": config_error(),
                "502": store_down(False),
            }),
        }
    preflight(item, "admin", True, extra=lambda head, n=name: {"400": bad_entry[n](head), "404": entry_not_found(head)})
    wrong_methods(item, {"put", "delete"}, "PUT, DELETE", "method-not-allowed", True,
                  extra=lambda head, n=name: {"400": bad_entry[n](head), "404": entry_not_found(head)})
    paths[f"/v1/admin/{name}/{{{pname}}}"] = item

dest_not_found = lambda head: problem_response(404, ["not_found"], "`not_found`: `dest` is not an ISO region in "
                                               "capitals or `+` and 1 to 14 digits (whatever the method); or no "
                                               "`ADMIN_TOKEN` is set.", head, "DestNotFound")
item = {"parameters": [REF("parameters", "Dest")]}
item["delete"] = {
    "tags": ["admin"], "operationId": "liftBlock", "summary": "Lift an automatic pumping block",
    "description": "Ends a destination's pumping block before its cool-down does (logged as a `lift`). Lifting a "
                   "destination that is not blocked is not an error.",
    "security": [{"adminBearer": []}],
    "responses": admin_auth({
        "204": no_content("Done."),
        "404": dest_not_found(False),
        "500": config_error(),
        "502": problem_response(502, ["upstream_error"], "`upstream_error`: the counter store is unavailable."),
    }),
}
preflight(item, "admin", True, extra=lambda head: {"404": dest_not_found(head)})
wrong_methods(item, {"delete"}, "DELETE", "method-not-allowed", True, extra=lambda head: {"404": dest_not_found(head)})
paths["/v1/admin/blocks/{dest}"] = item

# Operation ids for the 405 and preflight operations.
for path, item in paths.items():
    slug = "".join(p.capitalize() for p in path.replace("{", "").replace("}", "").replace(".", "-")
                   .replace("-", "/").split("/") if p)
    for method, op in item.items():
        if method == "parameters":
            continue
        if not op.get("operationId"):
            op["operationId"] = f"{method}{slug}"

# Interning: a response used by more than one operation lives once in components/responses.
import collections
seen = collections.Counter()
ops = [(path, m, op) for path, item in paths.items() for m, op in item.items() if m != "parameters"]
for _, _, op in ops:
    for status, resp in op["responses"].items():
        seen[json.dumps(resp, sort_keys=True)] += 1
names = {}
shared = {}
for _, _, op in ops:
    for status, resp in list(op["responses"].items()):
        key = json.dumps(resp, sort_keys=True)
        if seen[key] < 2:
            resp.pop("x-name", None)
            continue
        if key not in names:
            content = resp.get("content", {}).get("application/problem+json")
            if "x-name" in resp:
                base = resp.pop("x-name")
            elif content:
                codes = content["schema"]["allOf"][1]["properties"]["code"]["enum"]
                base = "".join(w.capitalize() for c in codes for w in c.split("_"))
            else:
                base = {"204": "NoContent", "200": "Ok"}.get(status, "Status" + status)
                if "content" not in resp and status != "204":
                    base += "Head"
            name, i = base, 2
            while name in shared:
                name, i = f"{base}{i}", i + 1
            names[key] = name
            shared[name] = resp
        op["responses"][status] = REF("responses", names[key])
RENAME = {"Ok": "ListEntries", "OkHead": "ListEntriesHead"}
for _, _, op in ops:
    for status, resp in op["responses"].items():
        name = resp.get("$ref", "").rsplit("/", 1)[-1]
        if name in RENAME:
            resp["$ref"] = "#/components/responses/" + RENAME[name]
shared = {RENAME.get(k, k): v for k, v in shared.items()}
doc["components"]["responses"] = dict(sorted(shared.items()))
json.dump(doc, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
