//! The OTLP trace messages grpcscope sends, as the opentelemetry-proto
//! definitions (v1) number their fields: `collector/trace/v1/
//! trace_service.proto`, `trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`. Only the fields grpcscope sets or reads.

use crate::present::span::{AttrValue, SpanStatus, WireSpan};

/// `ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceRequest {
    /// Spans by resource.
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceResponse {
    /// Set when the receiver rejected some spans.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTracePartialSuccess {
    /// Spans rejected.
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ResourceSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpans {
    /// The resource.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Spans by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Its attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpans {
    /// The instrumentation scope.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The spans.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// 8 bytes, or empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    /// Name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// `SpanKind`: 3 is CLIENT.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    /// Start.
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    /// End.
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// Attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Status.
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// `Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// Message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// `StatusCode`: 0 UNSET, 1 OK, 2 ERROR.
    #[prost(int32, tag = "3")]
    pub code: i32,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`, the two kinds grpcscope sends.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// `string_value`.
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
    /// `int_value`.
    #[prost(int64, optional, tag = "3")]
    pub int_value: Option<i64>,
}

/// SpanKind CLIENT: the call as the client made it, seen on the wire.
const SPAN_KIND_CLIENT: i32 = 3;

fn key_value(key: &str, v: AnyValue) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(v) }
}

fn text(s: &str) -> AnyValue {
    AnyValue { string_value: Some(s.to_string()), int_value: None }
}

/// The OTLP span of `s`.
pub fn span(s: &WireSpan) -> Span {
    let attributes = s
        .attributes
        .iter()
        .map(|(k, v)| match v {
            AttrValue::Text(t) => key_value(k, text(t)),
            AttrValue::Int(i) => key_value(k, AnyValue { string_value: None, int_value: Some(*i) }),
        })
        .collect();
    let code = match s.status {
        SpanStatus::Unset => 0,
        SpanStatus::Error => 2,
    };
    Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: s.name.clone(),
        kind: SPAN_KIND_CLIENT,
        start_time_unix_nano: s.start_unix_nanos,
        end_time_unix_nano: s.end_unix_nanos,
        attributes,
        status: Some(Status { message: s.status_message.clone(), code }),
    }
}

/// A request carrying `spans`, from the resource `service.name=grpcscope`.
pub fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    let resource = Resource {
        attributes: vec![
            key_value("service.name", text("grpcscope")),
            key_value("telemetry.sdk.name", text("grpcscope")),
            key_value("service.version", text(env!("CARGO_PKG_VERSION"))),
        ],
    };
    let scope = InstrumentationScope { name: "grpcscope".into(), version: env!("CARGO_PKG_VERSION").into() };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans { scope: Some(scope), spans }],
        }],
    }
}
