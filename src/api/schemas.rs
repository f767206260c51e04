//! The OpenAPI document's component schemas: the envelopes, request bodies and every
//! operation's `data`. Written against what the handlers serialize; Schemathesis
//! (`tests/openapi_fuzz.rs`) validates every response it draws against them, so a field
//! renamed or retyped on one side fails the test suite.

use serde_json::{Map, Value, json};

/// An object schema: every listed property is required (a nullable one says so in
/// its type); properties not listed may appear.
fn object(props: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
    let properties: Map<String, Value> = props
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    json!({"type": "object", "required": required, "properties": properties})
}

fn int() -> Value {
    json!({"type": "integer"})
}
fn int_or_null() -> Value {
    json!({"type": ["integer", "null"]})
}
fn num() -> Value {
    json!({"type": "number"})
}
fn num_or_null() -> Value {
    json!({"type": ["number", "null"]})
}
fn string() -> Value {
    json!({"type": "string"})
}
fn string_or_null() -> Value {
    json!({"type": ["string", "null"]})
}
fn boolean() -> Value {
    json!({"type": "boolean"})
}
fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}
fn time_or_null() -> Value {
    json!({"type": ["string", "null"], "format": "date-time"})
}
fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn envelopes() -> Vec<(&'static str, Value)> {
    vec![
        (
            "SuccessEnvelope",
            json!({"type": "object", "required": ["status", "data", "timestamp", "request_id", "processing_time_ms"], "properties": {
            "status": {"const": "success"}, "data": {}, "meta": reference("PageMeta"),
            "message": string(), "timestamp": time(),
            "request_id": string(), "processing_time_ms": num()}}),
        ),
        (
            "ErrorEnvelope",
            json!({"type": "object", "required": ["status", "error", "message", "timestamp", "request_id", "processing_time_ms"], "properties": {
            "status": {"const": "error"},
            "error": {"enum": ["validation_error", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict",
                "payload_too_large", "range_not_satisfiable", "request_header_fields_too_large", "rate_limit_exceeded",
                "internal_error", "service_unavailable", "timeout", "not_acceptable", "misdirected_request",
                "unsupported_media_type"]},
            "message": string(),
            "details": {"type": "object", "properties": {"errors": array(object(&[("field", string()), ("type", string()), ("message", string())]))}},
            "timestamp": time(), "request_id": string(), "processing_time_ms": num()}}),
        ),
        (
            "PageMeta",
            json!({"type": "object", "required": ["limit", "has_more", "next_cursor"], "properties": {
            "limit": int(), "offset": int(), "total": int(), "remaining": int(), "has_more": boolean(),
            "next_cursor": string_or_null()}}),
        ),
        ("Object", json!({"type": "object"})),
    ]
}

/// A required text field: trimmed, so it needs one character that is not Unicode
/// white space (Rust's `char::is_whitespace`, listed: regex `\s` differs by engine).
fn text(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max,
        "pattern": "[^\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]"})
}

/// `field` is given and not null (null counts as absent).
fn present(field: &str) -> Value {
    json!({"required": [field], "properties": {field: {"not": {"type": "null"}}}})
}

/// An optional field: `null` counts as absent.
fn nullable(mut schema: Value) -> Value {
    let ty = schema["type"].clone();
    schema["type"] = json!([ty, "null"]);
    schema
}

fn id() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": i64::MAX})
}
fn position() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": i64::MAX})
}

/// One batch item: its `data` depends on its `action`.
fn batch_item(action: &str, data: Value) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["id", "action", "data"], "properties": {
        "id": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 64}, {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}],
            "description": "the client's id for the item, echoed in its result (as a string); unique in the batch"},
        "action": {"const": action},
        "data": data}})
}

fn batch() -> Value {
    let strict = |props: &[(&str, Value)], required: &[&str]| {
        let mut o = object(props);
        o["required"] = json!(required);
        o["additionalProperties"] = json!(false);
        o
    };
    let track = strict(&[("track_id", id())], &["track_id"]);
    let tags = strict(
        &[
            ("track_id", id()),
            ("title", nullable(text(300))),
            ("artist", nullable(text(300))),
            ("album", nullable(text(300))),
            ("genre", nullable(text(100))),
            (
                "year",
                nullable(json!({"type": "integer", "minimum": 1, "maximum": 9999})),
            ),
        ],
        &["track_id"],
    );
    let mut tags = tags;
    tags["anyOf"] = json!(
        ["title", "artist", "album", "genre", "year"]
            .iter()
            .map(|t| present(t))
            .collect::<Vec<_>>()
    );
    let items = json!({"oneOf": [
        batch_item("favorite", track.clone()),
        batch_item("unfavorite", track),
        batch_item("add_to_playlist", strict(&[
            ("playlist_id", id()),
            ("track_ids", json!({"type": "array", "minItems": 1, "maxItems": 500, "items": id()})),
            ("position", nullable(position())),
        ], &["playlist_id", "track_ids"])),
        batch_item("remove_from_playlist", strict(&[("playlist_id", id()), ("position", position())], &["playlist_id", "position"])),
        batch_item("set_tags", tags),
    ]});
    json!({"type": "object", "additionalProperties": false, "required": ["items"], "properties": {
        "atomic": {"type": ["boolean", "null"], "default": false},
        "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": items}}})
}

fn bodies() -> Vec<(&'static str, Value)> {
    vec![
        (
            "PlaylistCreate",
            json!({"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "name": text(100), "description": nullable(json!({"type": "string", "maxLength": 1000}))}}),
        ),
        (
            "PlaylistUpdate",
            json!({"type": "object", "additionalProperties": false,
            "anyOf": [present("name"), {"required": ["description"]}], "properties": {
            "name": nullable(text(100)), "description": {"type": ["string", "null"], "maxLength": 1000,
                "description": "null clears it"}}}),
        ),
        (
            "PlaylistAddTracks",
            json!({"type": "object", "additionalProperties": false, "required": ["track_ids"], "properties": {
            "track_ids": {"type": "array", "minItems": 1, "maxItems": 500, "items": id()},
            "position": nullable(position())}}),
        ),
        (
            "PlaylistReorder",
            json!({"type": "object", "additionalProperties": false, "required": ["from", "to"], "properties": {
            "from": position(), "to": position()}}),
        ),
        (
            "Notification",
            json!({"type": "object", "additionalProperties": false, "required": ["title"], "properties": {
            "title": text(200), "message": nullable(json!({"type": "string", "maxLength": 2000})),
            "level": {"enum": ["info", "warning", "critical", null]}}}),
        ),
        (
            "Purge",
            json!({"type": "object", "additionalProperties": false, "properties": {
            "older_than_days": nullable(json!({"type": "integer", "minimum": 0, "maximum": 36500}))}}),
        ),
        ("Batch", batch()),
    ]
}

// Long: a table of schemas, one entry per type; splitting it scatters one list.
fn library() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Track",
            object(&[
                ("id", int()),
                ("title", string()),
                ("artist", string_or_null()),
                ("album", string_or_null()),
                ("album_artist", string_or_null()),
                ("artist_id", int_or_null()),
                ("album_id", int_or_null()),
                ("track_number", int_or_null()),
                ("disc_number", int_or_null()),
                ("year", int_or_null()),
                ("genre", string_or_null()),
                ("duration_ms", int()),
                ("format", string()),
                ("codec", string_or_null()),
                ("sample_rate", int_or_null()),
                ("channels", int_or_null()),
                ("bit_depth", int_or_null()),
                ("file_size", int()),
                ("favorite", boolean()),
                ("play_count", int()),
                ("last_played_at", time_or_null()),
                ("has_cover", boolean()),
                ("added_at", time()),
                (
                    "tag_source",
                    json!({"type": ["object", "null"], "additionalProperties": {"type": "string"}}),
                ),
                ("missing", boolean()),
            ]),
        ),
        (
            "Album",
            object(&[
                ("id", int()),
                ("title", string()),
                ("artist_id", int_or_null()),
                ("artist", string_or_null()),
                ("year", int_or_null()),
                ("track_count", int()),
                ("duration_ms", int()),
                ("has_cover", boolean()),
            ]),
        ),
        (
            "Artist",
            object(&[
                ("id", int()),
                ("name", string()),
                ("album_count", int()),
                ("track_count", int()),
            ]),
        ),
        (
            "Playlist",
            object(&[
                ("id", int()),
                ("name", string()),
                ("description", string_or_null()),
                ("track_count", int()),
                ("duration_ms", int()),
                ("created_at", time()),
                ("updated_at", time()),
            ]),
        ),
        (
            "PlaylistWithTracks",
            json!({"allOf": [reference("Playlist"), object(&[("tracks", array(reference("Track")))])]}),
        ),
        (
            "PlaylistDeleted",
            object(&[("id", int()), ("deleted", json!({"const": true}))]),
        ),
        (
            "LibraryStats",
            object(&[
                ("tracks", int()),
                ("albums", int()),
                ("artists", int()),
                ("genres", int()),
                ("playlists", int()),
                ("favorites", int()),
                ("missing", int()),
                ("total_bytes", int()),
                ("total_duration_ms", int()),
                (
                    "formats",
                    json!({"type": "object", "additionalProperties": {"type": "integer"}}),
                ),
            ]),
        ),
        (
            "ScanProgress",
            object(&[
                (
                    "state",
                    json!({"enum": ["idle", "running", "completed", "failed", "refused"]}),
                ),
                ("root", string_or_null()),
                ("files_seen", int()),
                ("added", int()),
                ("updated", int()),
                ("unchanged", int()),
                ("missing", int()),
                ("moved", int()),
                ("removed", int()),
                ("failed", int()),
                (
                    "failures",
                    array(object(&[("path", string()), ("error", string())])),
                ),
                ("started_at", time_or_null()),
                ("finished_at", time_or_null()),
                ("elapsed_ms", int_or_null()),
                ("error", string_or_null()),
            ]),
        ),
        ("Purged", object(&[("purged", int())])),
        (
            "BatchResult",
            object(&[
                (
                    "status",
                    json!({"enum": ["completed", "partial", "failed"]}),
                ),
                ("atomic", boolean()),
                (
                    "results",
                    array(object(&[("id", string()), ("status", string())])),
                ),
                ("successful", int()),
                ("failed", int()),
            ]),
        ),
    ]
}

// Long: a table of schemas, one entry per type; splitting it scatters one list.
fn streaming() -> Vec<(&'static str, Value)> {
    vec![
        (
            "StreamMetadata",
            object(&[
                ("track_id", int()),
                ("sample_rate", int()),
                ("channels", int()),
                ("frames", int()),
                ("duration_ms", int()),
                ("chunk_duration", num()),
                ("chunk_frames", int()),
                ("total_chunks", int()),
                ("formats", array(string())),
                ("format_parameters", json!({"type": "object"})),
                ("presets", array(string())),
                ("loudness_lufs", num_or_null()),
                (
                    "revision",
                    json!({"type": "string", "pattern": "^[0-9]+$", "description": "decimal: pass it as `rev` on chunk URLs"}),
                ),
            ]),
        ),
        (
            "CacheStats",
            object(&[
                ("budgets", json!({"type": "object"})),
                ("by_format", json!({"type": "object"})),
                ("decodes", int()),
                ("merged", json!({"type": "object"})),
                ("per_core", array(json!({"type": "object"}))),
                ("prefetch", json!({"type": "object"})),
            ]),
        ),
        (
            "CacheHealth",
            object(&[
                (
                    "status",
                    json!({"enum": ["healthy", "degraded", "unhealthy"]}),
                ),
                ("requests", int()),
                ("hit_rate", array(json!({"type": "object"}))),
                ("judged_window", string_or_null()),
                ("thresholds", json!({"type": "object"})),
                ("tier1", json!({"type": "object"})),
                ("tier2", json!({"type": "object"})),
            ]),
        ),
        (
            "CacheTrackStatus",
            object(&[
                ("track_id", int()),
                ("total_chunks", int()),
                ("variants", array(json!({"type": "object"}))),
                ("decode_rate_frames_per_s", num_or_null()),
                ("estimated_completion_s", num_or_null()),
                ("estimate", string()),
            ]),
        ),
        (
            "CacheWarm",
            object(&[
                ("track_id", int()),
                ("total_chunks", int()),
                (
                    "chunks",
                    json!({"type": "object", "additionalProperties": {"type": "integer"}}),
                ),
                ("estimated_completion_s", num_or_null()),
            ]),
        ),
        (
            "CacheCleared",
            object(&[
                ("tier2_entries_removed", int()),
                ("tier2_bytes_removed", int()),
                ("tier1", string()),
            ]),
        ),
        (
            "CacheTrackEvicted",
            object(&[
                ("track_id", int()),
                ("tier2_entries_removed", int()),
                ("tier2_bytes_removed", int()),
            ]),
        ),
    ]
}

// Long: a table of schemas, one entry per type; splitting it scatters one list.
fn system() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Version",
            object(&[("name", string()), ("version", string())]),
        ),
        (
            "Health",
            object(&[
                (
                    "status",
                    json!({"enum": ["healthy", "degraded", "unhealthy"]}),
                ),
                ("ready", boolean()),
                ("version", string()),
                ("uptime_s", num()),
                ("connections", int()),
                ("driver", string()),
                ("served_by", int()),
                ("alerts", array(json!({"type": "object"}))),
                ("cores", array(json!({"type": "object"}))),
            ]),
        ),
        (
            "Live",
            object(&[
                ("status", json!({"const": "alive"})),
                ("core", int()),
                ("uptime_s", num()),
            ]),
        ),
        (
            "Ready",
            json!({"type": "object", "required": ["status", "core"], "properties": {
                "status": {"const": "ready"}, "core": int(),
                "writable": {"type": "boolean", "description": "with a shared database: whether library writes would succeed now"}}}),
        ),
        (
            "Alerts",
            object(&[
                (
                    "health",
                    json!({"enum": ["healthy", "degraded", "unhealthy"]}),
                ),
                ("alerts", array(json!({"type": "object"}))),
            ]),
        ),
        (
            "WsConnections",
            object(&[
                (
                    "per_core",
                    array(object(&[("core", int()), ("connections", int())])),
                ),
                ("total", int()),
                ("cores_missing", array(int())),
                ("details", array(json!({"type": "object"}))),
            ]),
        ),
        (
            "Second",
            object(&[
                ("at", time()),
                ("interval_s", num()),
                ("requests", int()),
                ("throughput_rps", num()),
                ("error_rate", num()),
                ("rate_limited_rate", num()),
                ("hit_rate", num_or_null()),
                ("latency_us", json!({"type": "object"})),
                ("cache", json!({"type": "object"})),
                ("requests_per_core", array(int())),
                ("connections_per_core", array(int())),
                ("ws_connections_per_core", array(int())),
                ("imbalance", num()),
                ("ws_messages", int()),
            ]),
        ),
        (
            "Trends",
            object(&[
                ("samples", int()),
                ("rule", string()),
                ("throughput", string()),
                ("p50_latency", string()),
                ("p99_latency", string()),
                ("error_rate", string()),
                ("cache_hit_rate", string()),
            ]),
        ),
        (
            "Metrics",
            object(&[
                (
                    "health",
                    json!({"enum": ["healthy", "degraded", "unhealthy"]}),
                ),
                ("alerts", array(json!({"type": "object"}))),
                ("last_second", reference("Second")),
                ("since_start", json!({"type": "object"})),
                ("trends", reference("Trends")),
                ("latency_slo", array(json!({"type": "object"}))),
                ("cache_hit_rate", array(json!({"type": "object"}))),
                ("monitor", json!({"type": "object"})),
            ]),
        ),
        (
            "Endpoint",
            json!({"type": "object", "required": ["kind", "name", "last_second", "total"], "properties": {
            "kind": string(), "name": string(), "last_second": {"type": "object"},
            "total": {"type": "object"}, "responses": {"type": "object", "description": "by status class, on routes"}}}),
        ),
        ("Endpoints", array(reference("Endpoint"))),
        ("History", array(reference("Second"))),
        (
            "NotificationQueued",
            object(&[
                ("id", string()),
                ("topic", json!({"const": "notifications"})),
                ("cores", int()),
            ]),
        ),
    ]
}

/// Every component schema, by name.
pub(crate) fn components() -> Value {
    let mut all = Map::new();
    for (name, schema) in envelopes()
        .into_iter()
        .chain(bodies())
        .chain(library())
        .chain(streaming())
        .chain(system())
    {
        all.insert(name.to_string(), schema);
    }
    Value::Object(all)
}
