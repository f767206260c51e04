//! `GET /api/openapi.json`: the OpenAPI 3.1 document, derived from the same route tables
//! the router serves, so a route cannot exist without being documented.

use crate::http::context::RequestCtx;
use crate::http::error::ApiError;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::router::{
    Access, Answer, Data, Handler, HandlerResult, Param, Route, RouteClass, Segment,
};
use crate::library::tokens::Role;
use crate::runtime::core_state::CoreState;
use serde_json::{Map, Value, json};
use std::rc::Rc;

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::Get,
            "/api/openapi.json",
            RouteClass::Unlimited,
            "This OpenAPI document",
            Handler::Sync(openapi),
        )
        .raw(&["application/json"]),
    ]
}

/// What each status means, for the responses the document lists.
fn describe(status: u16) -> &'static str {
    match status {
        206 => "partial content: the byte range asked for (`Range`)",
        304 => "not modified: the `If-None-Match` validator still holds",
        400 => "the body is not JSON, or is empty",
        401 => "unauthorized: no valid bearer token (once any token exists)",
        403 => {
            "forbidden: the token's role is too low, or no token exists yet and the client is not on loopback (or is a web page)"
        }
        404 => "not found",
        406 => "not acceptable: none of the formats the `Accept` header names",
        409 => "conflict with the current state",
        413 => "payload too large",
        415 => "unsupported media type: the body must be `application/json`",
        416 => "range not satisfiable",
        422 => "validation error: `details.errors` names every field",
        429 => "rate limit exceeded (`Retry-After`)",
        431 => "the request's header section (its query included) is over the limit",
        500 => "internal error",
        503 => "service unavailable: a full queue, a cap, or no library configured (`Retry-After`)",
        504 => "timeout: the decode deadline passed",
        _ => "error",
    }
}

/// A query parameter's schema, from the values the handler accepts.
fn param_schema(p: Param) -> Value {
    match p {
        Param::Int(min, max) => json!({"type": "integer", "minimum": min, "maximum": max}),
        Param::Num(min, max) => json!({"type": "number", "minimum": min, "maximum": max}),
        Param::Str(max) => json!({"type": "string", "maxLength": max}),
        Param::Bool => json!({"type": "boolean"}),
        Param::OneOf(words) => json!({"type": "string", "enum": words}),
        Param::Order(fields) => {
            let both: Vec<String> = fields
                .iter()
                .flat_map(|f| [(*f).to_string(), format!("-{f}")])
                .collect();
            json!({"type": "string", "enum": both})
        }
    }
}

/// A path parameter's schema: ids are positive, indexes and positions start at 0.
fn path_schema(name: &str) -> Value {
    match name {
        "index" => json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
        "position" => json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
        _ => json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}),
    }
}

fn parameters(r: &Route) -> Vec<Value> {
    let path = r.segments().iter().filter_map(|s| match s {
        Segment::Param(name) => {
            Some(json!({"name": name, "in": "path", "required": true, "schema": path_schema(name)}))
        }
        Segment::Literal(_) => None,
    });
    let query = r.query.iter().map(|(name, p, desc)| {
        json!({"name": name, "in": "query", "required": false, "description": desc, "schema": param_schema(*p)})
    });
    path.chain(query).collect()
}

/// The success response: the envelope with its typed `data`, or the handler's own
/// media types.
fn success(r: &Route) -> (u16, Value) {
    let schema_ref = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    match r.answer {
        Answer::Json(status, data) => {
            let (data, meta) = match data {
                Data::One(name) => (schema_ref(name), json!({})),
                Data::Page(name) => (
                    json!({"type": "array", "items": schema_ref(name)}),
                    json!({"required": ["meta"]}),
                ),
            };
            let schema = json!({"allOf": [schema_ref("SuccessEnvelope"), meta,
                {"properties": {"data": data}}]});
            let mut resp = json!({"description": "success envelope", "content": {"application/json": {"schema": schema}}});
            if status == 201 {
                resp["headers"] = json!({"Location": {"required": true, "description": "the created resource", "schema": {"type": "string"}}});
            }
            (status, resp)
        }
        Answer::Raw(types) => {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| {
                    (
                        (*t).to_string(),
                        json!({"schema": {"type": "string", "format": "binary"}}),
                    )
                })
                .collect();
            (
                200,
                json!({"description": "the body itself", "content": content}),
            )
        }
        Answer::Upgrade => (101, json!({"description": "switching protocols"})),
    }
}

/// Every status an operation can answer: its success, those its shape implies (path
/// ids, a query, a body, a role, a rate-limit class) and those its handler declares.
fn responses(r: &Route) -> Value {
    let (status, ok) = success(r);
    // Every request: its header section may be over the limit (a long query too).
    let mut codes: Vec<u16> = vec![431, 500, 503];
    let has_path = r.segments().iter().any(|s| matches!(s, Segment::Param(_)));
    if has_path {
        codes.extend([404, 422]);
    }
    if !r.query.is_empty() {
        codes.push(422);
    }
    if r.body.is_some() {
        codes.extend([400, 413, 415, 422]);
    }
    if r.access != Access::Public {
        codes.extend([401, 403]);
    }
    if r.class != RouteClass::Unlimited {
        codes.push(429);
    }
    codes.extend(r.also);
    codes.sort_unstable();
    codes.dedup();
    let err = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}});
    let mut out = Map::new();
    out.insert(status.to_string(), ok.clone());
    for code in codes {
        let resp = match code {
            206 => json!({"description": describe(206), "content": ok["content"].clone()}),
            304 => json!({"description": describe(304)}),
            _ => {
                let mut e = err.clone();
                e["description"] = json!(describe(code));
                e
            }
        };
        out.insert(code.to_string(), resp);
    }
    Value::Object(out)
}

/// Builds the document from a route table. `open`: no token exists yet and this
/// client may change things without one (loopback), so a token is optional for it.
pub(crate) fn document(routes: &[Route], open: bool) -> Value {
    let mut paths = Map::new();
    let mut websocket = Vec::new();
    for r in routes {
        if matches!(r.answer, Answer::Upgrade) {
            websocket.push(json!({"path": r.pattern, "summary": r.summary}));
            continue;
        }
        let mut op = json!({
            "operationId": operation_id(r),
            "summary": r.summary,
            "parameters": parameters(r),
            "responses": responses(r),
        });
        if let Some(body) = r.body {
            let required = body != "Purge";
            op["requestBody"] = json!({"required": required, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        if r.access != Access::Public {
            let role = if r.access == Access::Admin {
                "admin"
            } else {
                "listener"
            };
            op["security"] = if open {
                json!([{"bearerAuth": []}, {}])
            } else {
                json!([{"bearerAuth": []}])
            };
            op["x-required-role"] = json!(role);
        }
        let entry = paths
            .entry(r.pattern.to_string())
            .or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "auralis-server", "version": env!("CARGO_PKG_VERSION"),
            "description": "Every answer is an envelope (`status`, `data` or `error`, `timestamp`, `request_id`, `processing_time_ms`). Cross-parameter rules a schema cannot state: `offset` or `cursor`, not both; `sort` or `order_by`, not both; `level` only with `format=flac`, `bitrate` only with `format=opus`; `cursor` is a token the server issued (`meta.next_cursor`); batch item ids are unique in a batch (`1` and `\"1\"` being the same id)."},
        "paths": paths,
        "x-websocket": websocket,
        "components": {
            "schemas": super::schemas::components(),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                "description": "A token from `auralis-server token create --role admin|listener --name NAME`. Reads need none; changes need one once any token exists (before that: loopback clients only, and this document marks the token optional for them)."}}
        }
    })
}

/// `GET /api/tracks/{id}/cover` → `get_api_tracks_id_cover`: unique per route.
fn operation_id(r: &Route) -> String {
    let mut id = r.method.as_str().to_ascii_lowercase();
    for seg in r.segments() {
        id.push('_');
        match seg {
            Segment::Literal(l) => id.push_str(&l.replace(['.', '-'], "_")),
            Segment::Param(p) => id.push_str(p),
        }
    }
    id
}

/// The raw OpenAPI 3.1 document (no envelope: OpenAPI tools load it as it is).
fn openapi(core: &Rc<CoreState>, cx: &RequestCtx, _req: &Request) -> HandlerResult {
    let loopback = crate::http::middleware::auth::local(core, cx.peer);
    let open = crate::library::tokens::permit(core.library.as_ref(), Role::Admin, None, loopback)
        .is_ok_and(|permitted| permitted.is_ok());
    let body = serde_json::to_vec(&document(&super::routes(), open))
        .map_err(|e| ApiError::Internal(format!("serialize the OpenAPI document: {e}")))?;
    Ok(Response::json(200, body).into())
}
