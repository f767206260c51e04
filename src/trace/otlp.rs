//! Finished spans as an OTLP `ExportTraceServiceRequest` (the OpenTelemetry project's
//! generated protobuf types), encoded on the exporter thread.

use super::span::{SpanData, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};

/// Who emits the spans: OTLP resource attributes (`service.name`, ...).
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub attributes: Vec<(&'static str, String)>,
}

fn key_value(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn attribute(key: &str, v: Value) -> KeyValue {
    let value = match v {
        Value::Str(s) => any_value::Value::StringValue(s.into_owned()),
        Value::Int(i) => any_value::Value::IntValue(i),
        Value::Float(f) => any_value::Value::DoubleValue(f),
        Value::Bool(b) => any_value::Value::BoolValue(b),
    };
    key_value(key, value)
}

/// W3C trace flags in OTLP's `flags` field: bit 0 sampled, and bits 8-9 saying
/// whether the parent is known to be remote (unknown here, so only bit 8 is set).
const FLAGS_SAMPLED_REMOTE_KNOWN: u32 = 0x1 | 0x100;

fn span(d: SpanData) -> Span {
    let status = Some(match d.error {
        Some(message) => Status {
            message,
            code: status::StatusCode::Error as i32,
        },
        None => Status::default(),
    });
    Span {
        trace_id: d.context.trace_id.0.to_vec(),
        span_id: d.context.span_id.0.to_vec(),
        trace_state: d.trace_state.map(String::from).unwrap_or_default(),
        parent_span_id: d.parent.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: FLAGS_SAMPLED_REMOTE_KNOWN,
        name: d.name.into_owned(),
        kind: d.kind as i32,
        start_time_unix_nano: d.start_unix_ns,
        end_time_unix_nano: d.end_unix_ns,
        attributes: d
            .attributes
            .into_iter()
            .map(|(k, v)| attribute(k, v))
            .collect(),
        status,
        ..Span::default()
    }
}

/// One request carrying `spans` under `resource`.
pub(crate) fn request(resource: &Resource, spans: Vec<SpanData>) -> ExportTraceServiceRequest {
    let attributes = resource
        .attributes
        .iter()
        .map(|(k, v)| key_value(k, any_value::Value::StringValue(v.clone())))
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(ProtoResource {
                attributes,
                ..ProtoResource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "auralis-server".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                spans: spans.into_iter().map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
