//! Turns one connection's exchanges (HTTP/2 streams) into calls.

use super::message::{Assembler, Message, MessageLimits};
use super::{Call, HeaderPair, RstInfo};
use crate::exchange::{At, ExchangeEvent, Head, ResetCause};
use crate::notes::{Level, Note, NoteCode};
use crate::tcp::{ConnId, Dir, EndReason};
use crate::time::Timestamp;
use ahash::AHashMap;
use bytes::Bytes;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

/// What the gRPC layer tells the sinks.
#[derive(Debug, Clone)]
pub enum GrpcEvent {
    /// A call began (its first frame was seen); calls are printed in start order.
    Started {
        /// Connection.
        conn: ConnId,
        /// Stream.
        stream_id: u32,
        /// When.
        start: Timestamp,
    },
    /// A call is over (or the capture ended): its full record.
    Finished(Box<Call>),
    /// A server reflection response carried these serialized FileDescriptorProtos.
    Schema {
        /// The server that sent them: they describe its services, no one else's.
        server: std::net::SocketAddr,
        /// The files.
        files: Vec<Bytes>,
    },
}

struct Open {
    /// Boxed: the call moves into its Finished event without a copy.
    call: Box<Call>,
    asm: [Assembler; 2],
    response_headers_seen: bool,
    kept_bytes: usize,
    /// The response's content-type is not gRPC: its body is kept as an excerpt.
    response_not_grpc: bool,
}

/// Bytes of a non-gRPC response body kept for display.
const BODY_EXCERPT: usize = 1024;

/// Reflection methods whose responses carry descriptors.
const REFLECTION: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The calls of one connection.
pub struct CallTracker {
    conn: ConnId,
    client: SocketAddr,
    server: SocketAddr,
    limits: MessageLimits,
    /// Message bytes kept per call, beyond which payloads are dropped (`--max-call-bytes`).
    max_call_bytes: usize,
    calls: AHashMap<u32, Open>,
    /// Streams whose call already ended: their late frames (a client's
    /// END_STREAM or RST after the server's trailers) must not start a new call.
    finished: std::collections::VecDeque<u32>,
    /// The same ids, for lookups.
    finished_set: ahash::AHashSet<u32>,
}

/// Finished streams remembered per connection.
const FINISHED_MEMORY: usize = 1024;

impl CallTracker {
    /// A tracker for connection `conn`.
    pub fn new(
        conn: ConnId,
        client: SocketAddr,
        server: SocketAddr,
        limits: MessageLimits,
        max_call_bytes: usize,
    ) -> Self {
        CallTracker {
            conn,
            client,
            server,
            limits,
            max_call_bytes,
            calls: AHashMap::new(),
            finished: Default::default(),
            finished_set: Default::default(),
        }
    }

    /// Calls in progress.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// Takes an exchange event of this connection.
    pub fn exchange(&mut self, ev: &ExchangeEvent, out: &mut Vec<GrpcEvent>) {
        match ev {
            ExchangeEvent::Refused { at, last_id } => self.goaway(*last_id, at.ts, out),
            ExchangeEvent::Begun { at, id } => {
                let _ = self.open(at, *id, out);
            }
            ExchangeEvent::Head { at, id, head, end } => self.head(at, *id, head, *end, out),
            ExchangeEvent::HeadLost { at, id } => {
                if let Some(open) = self.open(at, *id, out) {
                    open.call.notes.push(Note::new(
                        Level::Warning,
                        NoteCode::HeadersLost,
                        "a header block of this call was not captured",
                    ));
                }
            }
            ExchangeEvent::Body { at, id, data, missing, end, .. } => {
                self.body(at, *id, data, missing.clone(), out);
                if *end {
                    self.end_direction(*id, at, out);
                }
            }
            ExchangeEvent::Reset { at, id, from, cause: ResetCause::Http2 { error_code } } => {
                if let Some(open) = self.calls.get_mut(id) {
                    open.call.rst = Some(RstInfo { error_code: *error_code, from: *from, ts: at.ts });
                    self.finish(*id, at.ts, at.packet, "the stream was reset", out);
                }
            }
            ExchangeEvent::Lost { at } => self.lost(at),
        }
    }

    /// Bytes of `at.dir` were lost: every open call may miss messages there.
    fn lost(&mut self, at: &At) {
        let dir = at.dir;
        for open in self.calls.values_mut() {
            let mut msgs = Vec::new();
            let newly = open.asm.get_mut(dir.index()).is_some_and(|a| a.lose(at.ts, 0, &mut msgs));
            if let Some(l) = open.call.lost.get_mut(dir.index()) {
                *l = true;
            }
            push_messages(&mut open.call, dir, msgs);
            if newly {
                let who = if dir == Dir::ToServer { "request" } else { "response" };
                open.call.notes.push(Note::new(
                    Level::Warning,
                    NoteCode::MessagesLost,
                    format!("bytes were lost in a capture gap: {who} messages after this point have unknown boundaries and are not decoded"),
                ));
            }
        }
    }

    /// The call of exchange `id`, opened now if this is its first event.
    fn open(&mut self, at: &At, id: u32, out: &mut Vec<GrpcEvent>) -> Option<&mut Open> {
        if !self.calls.contains_key(&id) {
            // A late event of a call that already ended (a client's END_STREAM
            // or RST after the server's trailers) must not start a new call.
            if self.finished_set.contains(&id) {
                return None;
            }
            let call = Box::new(Call::new(self.conn, self.client, self.server, id, at.ts));
            out.push(GrpcEvent::Started { conn: self.conn, stream_id: id, start: at.ts });
            let asm = [Assembler::new(self.limits), Assembler::new(self.limits)];
            self.calls
                .insert(id, Open { call, asm, response_headers_seen: false, kept_bytes: 0, response_not_grpc: false });
        }
        let open = self.calls.get_mut(&id)?;
        if at.dir == Dir::ToClient && open.call.first_response.is_none() {
            open.call.first_response = Some(at.ts);
        }
        Some(open)
    }

    fn head(&mut self, at: &At, id: u32, head: &Arc<Head>, end: bool, out: &mut Vec<GrpcEvent>) {
        let Some(open) = self.open(at, id, out) else { return };
        open.call.notes.extend(head.notes.iter().cloned());
        let fields = head.fields.clone();
        let slot = match at.dir {
            Dir::ToServer => 0,
            Dir::ToClient if !open.response_headers_seen && !end => 1,
            Dir::ToClient => 2,
        };
        // A second client block (request trailers) must not replace the request head.
        let keep = !(at.dir == Dir::ToServer && open.call.request_headers_seen);
        if let Some(b) = open.call.blocks.get_mut(slot).filter(|_| keep) {
            *b = Some(head.clone());
        }
        match at.dir {
            Dir::ToServer if !open.call.request_headers_seen => {
                open.call.request_headers = fields.into();
                open.call.request_headers_seen = true;
                check_request(&mut open.call);
            }
            Dir::ToServer => open.call.notes.push(Note::new(
                Level::Warning,
                NoteCode::RequestTrailers,
                "the client sent a second header block (request trailers are not used by gRPC)",
            )),
            Dir::ToClient if !open.response_headers_seen => {
                open.response_headers_seen = true;
                if end {
                    open.call.trailers = fields.into();
                    open.call.trailers_only = true;
                } else {
                    open.call.response_headers = fields.into();
                }
                open.response_not_grpc = open.call.response_content_type_bytes().is_some_and(|ct| {
                    let ct = ct.trim_ascii();
                    !ct.get(..16).is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
                });
                if open.response_not_grpc {
                    let ct = open.call.response_content_type().unwrap_or_default();
                    open.call.notes.push(Note::new(
                        Level::Warning,
                        NoteCode::ResponseNotGrpc,
                        format!(
                            "the response is not gRPC (content-type {ct:?}): its body is shown, not parsed as messages"
                        ),
                    ));
                }
            }
            Dir::ToClient => open.call.trailers = fields.into(),
        }
        if head.dropped > 0 {
            let which = match slot {
                0 => "request headers",
                1 => "response headers",
                _ => "trailers",
            };
            open.call.notes.push(Note::new(
                Level::Warning,
                NoteCode::HeaderListLimit,
                format!(
                    "{} field(s) of the {which} were not kept (a header limit: --max-header-list, --max-open-headers): what they said is unknown",
                    head.dropped
                ),
            ));
        }
        if at.dir == Dir::ToClient && end {
            check_status(&mut open.call);
        }
        if end {
            self.end_direction(id, at, out);
        }
    }

    fn body(&mut self, at: &At, id: u32, data: &Bytes, missing: Option<Range<usize>>, out: &mut Vec<GrpcEvent>) {
        let max_call = self.max_call_bytes;
        let limits = self.limits;
        let limit = limits.max_decompressed;
        let Some(open) = self.open(at, id, out) else { return };
        if let Some(b) = open.call.bytes.get_mut(at.dir.index()) {
            *b += data.len() as u64;
        }
        if at.dir == Dir::ToClient && open.response_not_grpc {
            let mut body = open.call.response_body.take().map(Vec::from).unwrap_or_default();
            let room = BODY_EXCERPT.saturating_sub(body.len());
            body.extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
            open.call.response_body = Some(Bytes::from(body));
            return;
        }
        let mut msgs = Vec::new();
        if let Some(a) = open.asm.get_mut(at.dir.index()) {
            a.push(at.ts, at.packet, data, missing, &mut msgs);
            if let Some(length) = a.take_oversized() {
                open.call.notes.push(Note::new(
                    Level::Warning,
                    NoteCode::MessageTooLarge,
                    format!("a message claims {length} bytes, more than --max-message-size {}: its length is kept, not its bytes", limits.max_message),
                ));
            }
        }
        check_compression(&mut open.call, at.dir, &mut msgs, limits);
        if at.dir == Dir::ToClient && is_reflection(&open.call) {
            let codec = open.call.encoding(false).as_deref().and_then(super::Codec::from_header);
            let plain = |m: &Message| -> Option<Bytes> {
                let d = m.data.as_ref()?;
                if !m.compressed {
                    return Some(d.clone());
                }
                super::message::decompress(codec?, d, limit).ok().map(Bytes::from)
            };
            let learned: Vec<Bytes> = msgs.iter().filter_map(plain).flat_map(|d| reflected_files(&d)).collect();
            if !learned.is_empty() {
                out.push(GrpcEvent::Schema { server: open.call.server, files: learned });
            }
        }
        for m in &mut msgs {
            // Bound what one call may hold: a stream of a million messages keeps their lengths, not their bytes.
            let size = m.data.as_ref().map_or(0, Bytes::len);
            if open.kept_bytes + size > max_call {
                m.data = None;
                m.error.get_or_insert_with(|| format!("not kept: the call passed --max-call-bytes {max_call}"));
            } else {
                open.kept_bytes += size;
                // Own the bytes: the packet buffer they slice is large and shared.
                m.data = m.data.take().map(|d| Bytes::copy_from_slice(&d));
            }
        }
        push_messages(&mut open.call, at.dir, msgs);
    }

    fn end_direction(&mut self, sid: u32, at: &At, out: &mut Vec<GrpcEvent>) {
        let Some(open) = self.calls.get_mut(&sid) else { return };
        let mut msgs = Vec::new();
        if let Some(a) = open.asm.get_mut(at.dir.index()) {
            a.end(at.ts, at.packet, "the stream ended", &mut msgs);
        }
        push_messages(&mut open.call, at.dir, msgs);
        match at.dir {
            Dir::ToServer => open.call.request_ended = true,
            Dir::ToClient => open.call.response_ended = true,
        }
        if open.call.request_ended && open.call.response_ended {
            self.finish(sid, at.ts, at.packet, "the stream ended", out);
        } else if at.dir == Dir::ToClient {
            // The server is done; the call is over even if the client never half-closes.
            self.finish(sid, at.ts, at.packet, "the server ended the stream", out);
        }
    }

    fn goaway(&mut self, last: u32, ts: Timestamp, out: &mut Vec<GrpcEvent>) {
        let excluded: Vec<u32> = self
            .calls
            .iter()
            .filter(|(sid, o)| **sid > last && o.call.first_response.is_none())
            .map(|(s, _)| *s)
            .collect();
        for sid in sorted(excluded) {
            if let Some(open) = self.calls.get_mut(&sid) {
                open.call.goaway = Some((last, ts));
            }
            self.finish(sid, ts, 0, "a GOAWAY excluded the stream", out);
        }
    }

    /// The TCP connection ended: calls still open end with it, or stay
    /// incomplete when the capture (not the connection) ended.
    pub fn connection_closed(&mut self, reason: EndReason, ts: Timestamp, out: &mut Vec<GrpcEvent>) {
        let open: Vec<u32> = self.calls.keys().copied().collect();
        for sid in sorted(open) {
            let closed = reason.is_closed();
            if let Some(o) = self.calls.get_mut(&sid) {
                if closed {
                    o.call.connection_end = Some(reason);
                }
            }
            if closed {
                self.finish(sid, ts, 0, "the connection closed", out);
            } else {
                self.finish_incomplete(sid, ts, out);
            }
        }
    }

    /// Bytes of `dir` were retransmitted with other content: every call
    /// open now may have been decoded from either copy, so each says which.
    pub fn retransmit_conflict(&mut self, dir: Dir, offset: u64, packet: u64) {
        for o in self.calls.values_mut() {
            if o.call.notes.iter().any(|n| n.code == NoteCode::RetransmitConflict) {
                continue;
            }
            o.call.notes.push(Note::new(
                Level::Warning,
                NoteCode::RetransmitConflict,
                format!(
                    "packet {packet} retransmitted bytes at offset {offset} of the {} stream with different content: the first copy is decoded, as the Linux receiver keeps it",
                    match dir {
                        Dir::ToServer => "client→server",
                        Dir::ToClient => "server→client",
                    }
                ),
            ));
        }
    }

    fn remember_finished(&mut self, sid: u32) {
        if self.finished.len() >= FINISHED_MEMORY {
            if let Some(old) = self.finished.pop_front() {
                self.finished_set.remove(&old);
            }
        }
        self.finished.push_back(sid);
        self.finished_set.insert(sid);
    }

    fn finish(&mut self, sid: u32, ts: Timestamp, packet: u64, why: &str, out: &mut Vec<GrpcEvent>) {
        let Some(mut open) = self.calls.remove(&sid) else { return };
        self.remember_finished(sid);
        for dir in [Dir::ToServer, Dir::ToClient] {
            let mut msgs = Vec::new();
            if let Some(a) = open.asm.get_mut(dir.index()) {
                a.end(ts, packet, why, &mut msgs);
            }
            push_messages(&mut open.call, dir, msgs);
        }
        open.call.end = Some(ts);
        out.push(GrpcEvent::Finished(open.call));
    }

    fn finish_incomplete(&mut self, sid: u32, ts: Timestamp, out: &mut Vec<GrpcEvent>) {
        let Some(mut open) = self.calls.remove(&sid) else { return };
        self.remember_finished(sid);
        for dir in [Dir::ToServer, Dir::ToClient] {
            let mut msgs = Vec::new();
            if let Some(a) = open.asm.get_mut(dir.index()) {
                a.end(ts, 0, "the capture ended", &mut msgs);
            }
            push_messages(&mut open.call, dir, msgs);
        }
        open.call.notes.push(Note::new(Level::Info, NoteCode::Incomplete, "the capture ended before the call did"));
        out.push(GrpcEvent::Finished(open.call));
    }
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

/// The compression-bomb check: each compressed message is inflated into
/// nothing, counting bytes; one that passes --max-decompressed-size loses its
/// bytes (no output will try to decompress it) and the call says why.
/// Without payloads wanted (statistics), compressed bytes are dropped here.
fn check_compression(call: &mut Call, dir: Dir, msgs: &mut [Message], limits: MessageLimits) {
    let codec = call.encoding(dir == Dir::ToServer).as_deref().and_then(super::Codec::from_header);
    for m in msgs.iter_mut().filter(|m| m.compressed) {
        let (Some(codec), Some(data)) = (codec, &m.data) else { continue };
        match super::message::decompressed_len(codec, data, limits.max_decompressed) {
            Err(e @ super::message::DecompressError::Limit { .. }) => {
                call.notes.push(Note::new(
                    Level::Warning,
                    NoteCode::DecompressionLimit,
                    format!("a {}-byte {codec:?} message {e}", m.length),
                ));
                m.error = Some(e.to_string());
                m.data = None;
            }
            Ok((_, trailing)) if trailing > 0 => call.notes.push(Note::new(
                Level::Warning,
                NoteCode::CompressedTrailingData,
                format!(
                    "a {}-byte gzip message ends in {trailing} byte(s) that are not a gzip member: \
                     decoded without them (grpc-java ignores them; grpc-go fails the call as INTERNAL)",
                    m.length
                ),
            )),
            _ => {}
        }
        if !limits.keep_payloads {
            m.data = None;
        }
    }
}

fn push_messages(call: &mut Call, dir: Dir, msgs: Vec<Message>) {
    match dir {
        Dir::ToServer => call.requests.extend(msgs),
        Dir::ToClient => call.responses.extend(msgs),
    }
}

/// Request checks: content-type (gRPC's own, or flagged).
/// Notes a grpc-status sent twice (the last counts, as grpc-go and
/// grpc-java take it) or that is not a number gRPC accepts (INTERNAL, as
/// grpc-go reports it).
fn check_status(call: &mut Call) {
    let values: Vec<&Bytes> = call
        .trailers
        .iter()
        .filter(|(n, _)| n.as_deref() == Some(&b"grpc-status"[..]))
        .filter_map(|(_, v)| v.as_ref())
        .collect();
    let shown = |v: &Bytes| format!("{:?}", String::from_utf8_lossy(v));
    let mut notes = Vec::new();
    if values.len() > 1 {
        let all: Vec<String> = values.iter().map(|v| shown(v)).collect();
        notes.push(Note::new(
            Level::Warning,
            NoteCode::GrpcStatusDuplicated,
            format!(
                "grpc-status sent {} times ({}): the last counts, as in grpc-go and grpc-java",
                values.len(),
                all.join(", ")
            ),
        ));
    }
    if let Some(last) = values.last().filter(|v| super::status::parse_status(v).is_none()) {
        notes.push(Note::new(
            Level::Error,
            NoteCode::GrpcStatusMalformed,
            format!("malformed grpc-status {}: reported as INTERNAL, as grpc-go does", shown(last)),
        ));
    }
    if let Some(raw) = call.malformed_http_status() {
        notes.push(Note::new(
            Level::Error,
            NoteCode::HttpStatusMalformed,
            format!("malformed :status {raw}: reported as INTERNAL, as grpc-go does"),
        ));
    }
    call.notes.extend(notes);
}

fn check_request(call: &mut Call) {
    if let Some(ct) = Call::header(&call.request_headers, "content-type") {
        let base = ct.split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
        let ok = [&b"application/grpc"[..], b"application/grpc+proto", b"application/grpc+json"]
            .iter()
            .any(|g| base.eq_ignore_ascii_case(g));
        if !ok {
            let ct = String::from_utf8_lossy(ct);
            call.notes.push(Note::new(
                Level::Warning,
                NoteCode::ContentType,
                format!("content-type {ct:?} is not application/grpc, application/grpc+proto or application/grpc+json"),
            ));
        }
    } else if call.request_headers.iter().all(|(n, _)| n.is_some()) {
        call.notes.push(Note::new(Level::Warning, NoteCode::ContentType, "the request has no content-type"));
    }
    for why in malformed_request(&call.request_headers) {
        call.notes.push(Note::new(Level::Error, NoteCode::MalformedRequest, why));
    }
}

/// What makes a request head malformed for gRPC (RFC 9113 §8.3.1, and
/// gRPC over HTTP/2: `:method` POST, one `:path`), in the words of the
/// note. Nothing is said when a field name is unknown (an HPACK entry from
/// before the capture may be the missing pseudo-header).
fn malformed_request(fields: &[HeaderPair]) -> Vec<String> {
    if fields.iter().any(|(n, _)| n.is_none()) {
        return Vec::new();
    }
    let named = |want: &'static str| fields.iter().filter(move |(n, _)| n.as_deref() == Some(want.as_bytes()));
    let mut out = Vec::new();
    match named(":path").count() {
        0 => out.push(
            "the request has no :path: gRPC servers reject it as malformed (RST_STREAM PROTOCOL_ERROR)".to_string(),
        ),
        1 => {}
        n => out.push(format!(
            "the request has {n} :path fields: malformed, gRPC servers reject it (RST_STREAM PROTOCOL_ERROR)"
        )),
    }
    if let Some((_, Some(m))) = named(":method").next().filter(|(_, v)| v.as_deref() != Some(&b"POST"[..])) {
        out.push(format!(
            ":method is {:?}: gRPC requires POST (servers answer 405 or reset the stream)",
            String::from_utf8_lossy(m)
        ));
    }
    let first_regular = fields.iter().position(|(n, _)| n.as_ref().is_some_and(|n| !n.starts_with(b":")));
    if let Some(after) = first_regular.and_then(|i| fields.get(i..)) {
        if let Some((Some(p), _)) = after.iter().find(|(n, _)| n.as_ref().is_some_and(|n| n.starts_with(b":"))) {
            out.push(format!(
                "pseudo-header {} after regular header fields: malformed (RFC 9113 §8.3), servers reset the stream",
                String::from_utf8_lossy(p)
            ));
        }
    }
    out
}

fn is_reflection(call: &Call) -> bool {
    call.method_str().is_some_and(|m| REFLECTION.contains(&m))
}

/// The serialized FileDescriptorProtos in a ServerReflectionResponse
/// (field 4, file_descriptor_response; its field 1, repeated bytes).
fn reflected_files(msg: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    for (num, value) in crate::proto::wire::length_delimited_fields(msg) {
        if num == 4 {
            for (n, fdp) in crate::proto::wire::length_delimited_fields(value) {
                if n == 1 {
                    out.push(Bytes::copy_from_slice(fdp));
                }
            }
        }
    }
    out
}
