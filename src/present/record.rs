//! The output record of a call: one struct, serialized as is by the JSON
//! writer (docs/calls-jsonl.md is its contract), and read by whatever else
//! shows a call's fields. Built once per call; no JSON tree is assembled key
//! by key. Fields are declared in the contract's order, which is the order
//! they are written in.

use super::Decoder;
use crate::grpc::status::{bin_as_base64, status_name};
use crate::grpc::{Call, HeaderPair, Message, Origin, TransportError};
use crate::notes::{Level, Note, NoteCode};
use crate::proto::budget::RenderBudget;
use crate::tcp::{ConnId, Side};
use crate::time::Timestamp;
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

/// A call's connection, as the contract names it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnRef {
    /// The connection's number in this capture (the one `conns` prints).
    pub id: ConnId,
    /// `ip:port` of the client (IPv6 as `[::1]:50051`).
    pub client: String,
    /// `ip:port` of the server.
    pub server: String,
}

/// A header list as `[[name, value], ...]`: `null` for what is unknown,
/// `-bin` values as base64 text whatever their wire encoding.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a>(pub &'a [HeaderPair]);

impl<'a> Headers<'a> {
    /// Each field as text, as the JSON writes it: `None` for what is
    /// unknown, `-bin` values as base64.
    pub fn texts(&self) -> impl Iterator<Item = (Option<Cow<'a, str>>, Option<Cow<'a, str>>)> + 'a {
        self.0.iter().map(|(n, v)| {
            let name = n.as_ref().map(|n| String::from_utf8_lossy(n));
            let value = match (n, v) {
                (_, None) => None,
                (Some(n), Some(v)) if n.ends_with(b"-bin") => Some(bin_as_base64(v).into()),
                (_, Some(v)) => Some(String::from_utf8_lossy(v)),
            };
            (name, value)
        })
    }
}

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for field in self.texts() {
            seq.serialize_element(&field)?;
        }
        seq.end()
    }
}

/// The RST_STREAM that ended a call.
#[derive(Debug, Clone, Serialize)]
pub struct RstRecord {
    /// HTTP/2 error code.
    pub error_code: u32,
    /// Its name.
    pub name: String,
    /// Who sent it.
    pub from: Side,
}

/// A response that was not gRPC (a proxy's error page): its start.
#[derive(Debug, Clone, Serialize)]
pub struct BodyRecord {
    /// Its content-type.
    pub content_type: Option<String>,
    /// Body bytes seen.
    pub length: u64,
    /// The start of the body, as text.
    pub excerpt: String,
}

/// One gRPC message.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRecord {
    /// Time of the frame that completed it.
    pub ts: Timestamp,
    /// The compressed flag.
    pub compressed: bool,
    /// The length prefix (bytes on the wire).
    pub length: u32,
    /// The protobuf type used to decode it.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Where the type comes from when not from the schemas given
    /// (`reflection from 10.0.0.2:50051`: that server's reflection traffic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_source: Option<String>,
    /// The schema decode (proto3 JSON).
    pub json: Option<crate::proto::Json>,
    /// The schemaless decode.
    pub fields: Option<Value>,
    /// Why it was not decoded (or only partly).
    pub error: Option<String>,
    /// Size after decompression, when compressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decompressed_length: Option<usize>,
    /// Fields outside the schema, when any.
    #[serde(skip_serializing_if = "is_zero")]
    pub unknown_fields: usize,
    /// Where rendering stopped (`--max-rendered-size`), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The record of one call.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord<'a> {
    /// Its connection.
    pub conn: ConnRef,
    /// HTTP/2 stream id.
    pub stream_id: u32,
    /// `:path`, or the method its evidence names (`method_source`).
    pub method: Option<String>,
    /// What `method` rests on: `header`, `peer` or `schema`.
    pub method_source: Option<crate::grpc::MethodSource>,
    /// Every method that fits when more than one does (`method` is then null).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub method_candidates: Vec<String>,
    /// The unknown HPACK entry (or entries) `:path` refers to, e.g.
    /// `?dyn#3`: calls of one connection with the same value share a method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_slot: Option<String>,
    /// Why the status is unknown, when `error_origin` is `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_unknown: Option<String>,
    /// `:authority`.
    pub authority: Option<String>,
    /// Time of its first frame.
    pub start: Timestamp,
    /// Time of the frame that ended it.
    pub end: Option<Timestamp>,
    /// `end - start`.
    pub duration_ms: Option<f64>,
    /// Request headers in wire order.
    pub request_headers: Headers<'a>,
    /// Response headers.
    pub response_headers: Headers<'a>,
    /// Trailers.
    pub trailers: Headers<'a>,
    /// `:status`.
    pub http_status: Option<u16>,
    /// `grpc-status`.
    pub grpc_status: Option<u32>,
    /// Its canonical name.
    pub grpc_status_name: Option<&'static str>,
    /// `grpc-message`, percent-decoded.
    pub grpc_message: Option<String>,
    /// `grpc-status-details-bin` decoded.
    pub status_details: Option<Value>,
    /// Where a failure came from.
    pub error_origin: Origin,
    /// The RST_STREAM that ended it.
    pub rst_stream: Option<RstRecord>,
    /// Client messages.
    pub requests: Vec<MessageRecord>,
    /// Server messages.
    pub responses: Vec<MessageRecord>,
    /// The end was seen both ways (or a reset).
    pub complete: bool,
    /// The transport failure, when the transport failed it.
    pub transport_error: Option<TransportError>,
    /// Time of the server's first frame.
    pub first_response: Option<Timestamp>,
    /// `grpc-timeout`.
    pub timeout_ms: Option<f64>,
    /// Request `content-type`.
    pub content_type: Option<String>,
    /// `grpc-encoding` of the requests.
    pub request_encoding: Option<String>,
    /// `grpc-encoding` of the responses.
    pub response_encoding: Option<String>,
    /// The response was Trailers-Only.
    pub trailers_only: bool,
    /// A response that was not gRPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<BodyRecord>,
    /// DATA bytes from the client.
    pub request_bytes: u64,
    /// DATA bytes from the server.
    pub response_bytes: u64,
    /// Problems seen on the call.
    pub notes: Vec<Note>,
}

impl<'a> CallRecord<'a> {
    /// The record of `call`, its messages decoded by `dec`.
    pub fn new(call: &'a Call, dec: &Decoder) -> Self {
        let (origin, transport) = call.verdict();
        let grpc_status = call.grpc_status();
        let details = call.status_details().map(|b| dec.schema_for(call.server).status_details(&b));
        let mut notes = call.notes.clone();
        if let Some(Err(e)) = &details {
            notes.push(Note::new(
                Level::Error,
                NoteCode::StatusDetails,
                format!("grpc-status-details-bin is not decodable: {e}"),
            ));
        }
        // One budget for the whole record: a call of many messages is bounded too.
        let mut budget = dec.budget();
        let mut messages = |list: &[Message], request: bool| {
            list.iter().map(|m| message(call, m, request, dec, &mut budget)).collect::<Vec<_>>()
        };
        let requests = messages(&call.requests, true);
        let responses = messages(&call.responses, false);
        let [request_bytes, response_bytes] = call.bytes;
        CallRecord {
            conn: ConnRef { id: call.conn, client: call.client.to_string(), server: call.server.to_string() },
            stream_id: call.stream_id,
            method: call.resolved_method().map(|(m, _)| m.into_owned()),
            method_source: call.resolved_method().map(|(_, s)| s),
            method_candidates: call.inferred.as_ref().map(|i| i.candidates.clone()).unwrap_or_default(),
            method_slot: call.method_key().map(|k| k.to_string()),
            status_unknown: call.status_unknown_reason().filter(|_| call.verdict().0 == Origin::Unknown),
            authority: call.authority(),
            start: call.start,
            end: call.end,
            duration_ms: call.duration_nanos().map(|n| n as f64 / 1e6),
            request_headers: Headers(&call.request_headers),
            response_headers: Headers(&call.response_headers),
            trailers: Headers(&call.trailers),
            http_status: call.http_status(),
            grpc_status,
            grpc_status_name: grpc_status.and_then(status_name),
            grpc_message: call.grpc_message(),
            status_details: details.and_then(Result::ok),
            error_origin: origin,
            rst_stream: call.rst.map(|r| RstRecord {
                error_code: r.error_code,
                name: crate::exchange::http2_error_name(r.error_code),
                from: r.from,
            }),
            requests,
            responses,
            complete: call.complete(),
            transport_error: transport,
            first_response: call.first_response,
            timeout_ms: call.timeout_nanos().map(|n| n as f64 / 1e6),
            content_type: call.content_type(),
            request_encoding: call.encoding(true),
            response_encoding: call.encoding(false),
            trailers_only: call.trailers_only,
            response_body: call.response_body.as_ref().map(|body| BodyRecord {
                content_type: call.response_content_type(),
                length: response_bytes,
                excerpt: String::from_utf8_lossy(body).into_owned(),
            }),
            request_bytes,
            response_bytes,
            notes,
        }
    }
}

fn message(call: &Call, m: &Message, request: bool, dec: &Decoder, budget: &mut RenderBudget) -> MessageRecord {
    let d = dec.message_within(call, m, request, budget);
    MessageRecord {
        ts: m.ts,
        compressed: m.compressed,
        length: m.length,
        type_name: d.type_name,
        type_source: d.type_source,
        json: d.json,
        fields: d.fields,
        error: d.error,
        decompressed_length: d.decompressed,
        unknown_fields: d.unknown_fields,
        truncated: d.truncated,
    }
}
