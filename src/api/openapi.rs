//! `GET /api/openapi.json`: the OpenAPI 3.1 document, derived from the same route tables
//! the router serves, so a route cannot exist without being documented.

use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::router::{Access, Handler, HandlerResult, Route, RouteClass, Segment};
use crate::runtime::core_state::CoreState;
use serde_json::{Map, Value, json};
use std::rc::Rc;

pub(crate) fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::Get,
        "/api/openapi.json",
        RouteClass::Unlimited,
        "This OpenAPI document",
        Handler::Sync(openapi),
    )]
}

fn schemas() -> Value {
    json!({
        "SuccessEnvelope": {"type": "object", "required": ["status", "data", "timestamp", "request_id", "processing_time_ms"], "properties": {
            "status": {"const": "success"}, "data": {}, "meta": {"$ref": "#/components/schemas/PageMeta"},
            "message": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"},
            "request_id": {"type": "string"}, "processing_time_ms": {"type": "number"},
            "cache_source": {"type": "string", "description": "which cache answered, on cached answers"}}},
        "ErrorEnvelope": {"type": "object", "required": ["status", "error", "message", "timestamp", "request_id", "processing_time_ms"], "properties": {
            "status": {"const": "error"},
            "error": {"enum": ["validation_error", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict",
                "payload_too_large", "range_not_satisfiable", "request_header_fields_too_large", "rate_limit_exceeded",
                "internal_error", "service_unavailable", "timeout", "not_acceptable", "misdirected_request",
                "unsupported_media_type"]},
            "message": {"type": "string"},
            "details": {"type": "object", "properties": {"errors": {"type": "array", "items": {"type": "object",
                "properties": {"field": {"type": "string"}, "type": {"type": "string"}, "message": {"type": "string"}}}}}},
            "timestamp": {"type": "string", "format": "date-time"}, "request_id": {"type": "string"},
            "processing_time_ms": {"type": "number"}}},
        "PageMeta": {"type": "object", "properties": {
            "limit": {"type": "integer"}, "offset": {"type": "integer"}, "total": {"type": "integer"},
            "remaining": {"type": "integer"}, "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]}}},
        "PlaylistCreate": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100}, "description": {"type": "string", "maxLength": 1000}}},
        "PlaylistUpdate": {"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100}, "description": {"type": ["string", "null"], "maxLength": 1000}}},
        "PlaylistAddTracks": {"type": "object", "additionalProperties": false, "required": ["track_ids"], "properties": {
            "track_ids": {"type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "integer", "minimum": 1}},
            "position": {"type": "integer", "minimum": 0}}},
        "PlaylistReorder": {"type": "object", "additionalProperties": false, "required": ["from", "to"], "properties": {
            "from": {"type": "integer", "minimum": 0}, "to": {"type": "integer", "minimum": 0}}},
        "Notification": {"type": "object", "additionalProperties": false, "required": ["title"], "properties": {
            "title": {"type": "string", "maxLength": 200}, "message": {"type": "string", "maxLength": 2000},
            "level": {"enum": ["info", "warning", "critical"]}}},
        "Batch": {"type": "object", "additionalProperties": false, "required": ["items"], "properties": {
            "atomic": {"type": "boolean", "default": false},
            "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "object", "required": ["id", "action"], "properties": {
                "id": {"type": ["string", "integer"]},
                "action": {"enum": ["favorite", "unfavorite", "add_to_playlist", "remove_from_playlist", "set_tags"]},
                "data": {"type": "object"}}}}}}
    })
}

/// Builds the document from a route table.
pub(crate) fn document(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let mut params: Vec<Value> = r
            .segments()
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})),
                Segment::Literal(_) => None,
            })
            .collect();
        params.extend(r.query.iter().map(|(name, ty, desc)| {
            json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": ty}})
        }));
        let mut op = json!({
            "summary": r.summary,
            "parameters": params,
            "responses": {
                "200": {"description": "success envelope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SuccessEnvelope"}}}},
                "default": {"description": "error envelope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
            }
        });
        if let Some(body) = r.body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        if r.access != Access::Public {
            let role = if r.access == Access::Admin {
                "admin"
            } else {
                "listener"
            };
            op["security"] = json!([{"bearerAuth": []}]);
            op["x-required-role"] = json!(role);
            let err = json!({"$ref": "#/components/schemas/ErrorEnvelope"});
            op["responses"]["401"] = json!({"description": "unauthorized: no valid bearer token (once any token exists)", "content": {"application/json": {"schema": err}}});
            op["responses"]["403"] = json!({"description": format!("forbidden: the token's role is below {role}, or no token exists yet and the client is not on loopback"), "content": {"application/json": {"schema": err}}});
        }
        let entry = paths
            .entry(r.pattern.to_string())
            .or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "auralis-server", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                "description": "A token from `auralis-server token create --role admin|listener --name NAME`. Reads need none; changes need one once any token exists (before that: loopback clients only)."}}
        }
    })
}

/// The raw OpenAPI 3.1 document (no envelope: OpenAPI tools load it as it is).
fn openapi(_core: &Rc<CoreState>, _cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let body = serde_json::to_vec(&document(&super::routes()))
        .map_err(|e| ApiError::Internal(format!("serialize the OpenAPI document: {e}")))?;
    Ok(Response::json(200, body).into())
}
