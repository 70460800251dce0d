//! OTLP/gRPC: `TraceService/Export` calls on one HTTP/2 connection in
//! clear text (h2c, prior knowledge), as a pure state machine (bytes in,
//! bytes out) in the manner of `reflect::Session`. One export at a time;
//! its DATA respects the collector's flow-control windows and frame size.

use super::ExportError;
use crate::h2::frame::{data_payload, emit, flags, header_block, setting, FrameHeader, FrameType, HEADER_LEN, PREFACE};
use crate::h2::hpack::{literal_without_indexing, Decoder, Limits};
use bytes::{Bytes, BytesMut};

/// The method's path.
const PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// HTTP/2's initial window and frame size (RFC 9113 §6.5.2).
const DEFAULT_WINDOW: i64 = 65_535;
const DEFAULT_FRAME: usize = 16_384;

/// Bytes of answer accepted, at most: a response is a few bytes.
const MAX_INBOX: usize = 1 << 20;

/// gRPC status codes the OTLP specification retries.
const RETRYABLE: [&str; 7] = ["1", "4", "8", "10", "11", "14", "15"];

/// The export in flight.
#[derive(Debug)]
struct Export {
    stream_id: u32,
    /// Message bytes not sent yet.
    unsent: Bytes,
    window: i64,
    /// What the response says, once it has.
    result: Option<Result<i64, ExportError>>,
    body: BytesMut,
}

/// One connection to a collector.
#[derive(Debug)]
pub struct Session {
    authority: String,
    hpack: Decoder,
    inbox: BytesMut,
    out: Vec<u8>,
    next_stream: u32,
    conn_window: i64,
    initial_window: i64,
    max_frame: usize,
    export: Option<Export>,
    /// Why the connection is unusable (GOAWAY, a protocol error), once it is.
    broken: Option<String>,
}

impl Session {
    /// A session with `authority` (`host:port`); its preface is ready in
    /// [`Session::take_output`].
    pub fn new(authority: &str) -> Session {
        let mut s = Session {
            authority: authority.to_string(),
            hpack: Decoder::new(true, Limits::default()),
            inbox: BytesMut::new(),
            out: Vec::new(),
            next_stream: 1,
            conn_window: DEFAULT_WINDOW,
            initial_window: DEFAULT_WINDOW,
            max_frame: DEFAULT_FRAME,
            export: None,
            broken: None,
        };
        s.out.extend_from_slice(PREFACE);
        s.out.extend(emit(FrameType::SETTINGS, 0, 0, &[]));
        s
    }

    /// Bytes to write to the collector.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Why the connection cannot be used any more, if it cannot.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Starts exporting `request` (an encoded ExportTraceServiceRequest).
    pub fn start(&mut self, request: &[u8]) {
        let stream_id = self.next_stream;
        self.next_stream += 2;
        let mut block = Vec::new();
        for (n, v) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", self.authority.as_str()),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("user-agent", concat!("grpcscope/", env!("CARGO_PKG_VERSION"))),
        ] {
            block.extend(literal_without_indexing(n.as_bytes(), v.as_bytes()));
        }
        self.out.extend(emit(FrameType::HEADERS, flags::END_HEADERS, stream_id, &block));
        let message = Bytes::from(crate::grpc::message::emit(false, request));
        self.export = Some(Export {
            stream_id,
            unsent: message,
            window: self.initial_window,
            result: None,
            body: BytesMut::new(),
        });
        self.pump();
    }

    /// The export's outcome once the collector has answered: the spans it
    /// rejected, or why it failed.
    pub fn result(&mut self) -> Option<Result<i64, ExportError>> {
        if let Some(why) = &self.broken {
            if self.export.as_ref().is_some_and(|e| e.result.is_none()) {
                self.export = None;
                return Some(Err(ExportError::retry(why.clone())));
            }
        }
        let done = self.export.as_ref().is_some_and(|e| e.result.is_some());
        done.then(|| self.export.take().and_then(|e| e.result)).flatten()
    }

    /// Sends what the windows allow.
    fn pump(&mut self) {
        let Some(e) = &mut self.export else { return };
        while !e.unsent.is_empty() {
            let room = e.window.min(self.conn_window).min(self.max_frame as i64);
            if room <= 0 {
                return;
            }
            let n = (room as usize).min(e.unsent.len());
            let chunk = e.unsent.split_to(n);
            let end = if e.unsent.is_empty() { flags::END_STREAM } else { 0 };
            self.out.extend(emit(FrameType::DATA, end, e.stream_id, &chunk));
            e.window -= n as i64;
            self.conn_window -= n as i64;
        }
    }

    /// The connection ended.
    pub fn eof(&mut self) {
        self.broken.get_or_insert_with(|| "the collector closed the connection".into());
    }

    /// Takes bytes read from the collector.
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.inbox.len() + bytes.len() > MAX_INBOX {
            self.broken = Some("the collector sent more than an answer".into());
            return;
        }
        self.inbox.extend_from_slice(bytes);
        while self.broken.is_none() {
            let Some(h) = FrameHeader::parse(&self.inbox) else { return };
            if self.inbox.len() < h.total_len() {
                return;
            }
            let frame = self.inbox.split_to(h.total_len()).freeze();
            self.frame(&h, frame.slice(HEADER_LEN..));
        }
    }

    fn frame(&mut self, h: &FrameHeader, payload: Bytes) {
        let ours = self.export.as_ref().is_some_and(|e| e.stream_id == h.stream_id);
        match h.kind {
            FrameType::SETTINGS if !h.has(flags::ACK) => {
                self.settings(&payload);
                self.out.extend(emit(FrameType::SETTINGS, flags::ACK, 0, &[]));
            }
            FrameType::PING if !h.has(flags::ACK) => self.out.extend(emit(FrameType::PING, flags::ACK, 0, &payload)),
            FrameType::WINDOW_UPDATE => {
                let inc = payload
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map_or(0, |b| i64::from(u32::from_be_bytes(b) & 0x7fff_ffff));
                if h.stream_id == 0 {
                    self.conn_window += inc;
                } else if let Some(e) = self.export.as_mut().filter(|_| ours) {
                    e.window += inc;
                }
            }
            FrameType::GOAWAY => self.broken = Some("the collector sent GOAWAY".into()),
            FrameType::RST_STREAM if ours => {
                self.finish(Err(ExportError::retry("the collector reset the export stream")))
            }
            FrameType::HEADERS if ours => self.headers(h, &payload),
            FrameType::DATA if ours => {
                let data = data_payload(h, &payload);
                if !payload.is_empty() {
                    // Give the connection's window back: exports go on for hours.
                    let n = (payload.len() as u32).to_be_bytes();
                    self.out.extend(emit(FrameType::WINDOW_UPDATE, 0, 0, &n));
                }
                if let Some(e) = &mut self.export {
                    e.body.extend_from_slice(&data);
                }
            }
            _ => {}
        }
        self.pump();
    }

    fn settings(&mut self, payload: &[u8]) {
        for entry in payload.chunks_exact(6) {
            let Ok([a, b, c, d, e, f]) = <[u8; 6]>::try_from(entry) else { continue };
            let id = u16::from_be_bytes([a, b]);
            let value = u32::from_be_bytes([c, d, e, f]);
            match id {
                // Open streams move by the difference.
                setting::INITIAL_WINDOW_SIZE => {
                    let delta = i64::from(value) - self.initial_window;
                    self.initial_window = i64::from(value);
                    if let Some(e) = &mut self.export {
                        e.window += delta;
                    }
                }
                setting::MAX_FRAME_SIZE => self.max_frame = (value as usize).clamp(DEFAULT_FRAME, 1 << 24),
                _ => {}
            }
        }
    }

    fn headers(&mut self, h: &FrameHeader, payload: &Bytes) {
        let decoded = self.hpack.decode(&header_block(h, payload));
        let field = |name: &str| {
            decoded.fields.iter().find(|f| f.name.as_deref() == Some(name.as_bytes())).and_then(|f| f.value.clone())
        };
        if let Some(s) = field(":status").filter(|s| &s[..] != b"200") {
            let code = String::from_utf8_lossy(&s).into_owned();
            let retry = matches!(code.as_str(), "429" | "502" | "503" | "504");
            let reason = format!("HTTP {code} instead of gRPC (is this the collector's OTLP/gRPC port, 4317?)");
            return self.finish(Err(ExportError { retryable: retry, retry_after_secs: None, reason }));
        }
        let Some(status) = field("grpc-status") else {
            if h.has(flags::END_STREAM) {
                self.finish(Err(ExportError::retry("the collector ended the export without a grpc-status")));
            }
            return;
        };
        let status = String::from_utf8_lossy(&status).into_owned();
        if status == "0" {
            let body = self.export.as_ref().map(|e| e.body.clone().freeze()).unwrap_or_default();
            return self.finish(Ok(super::rejected(body.get(5..).unwrap_or_default())));
        }
        let message = field("grpc-message").map(|m| crate::grpc::status::percent_decode(&m)).unwrap_or_default();
        let reason =
            format!("grpc-status {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") });
        let retryable = RETRYABLE.contains(&status.as_str());
        self.finish(Err(ExportError { retryable, retry_after_secs: None, reason }));
    }

    fn finish(&mut self, r: Result<i64, ExportError>) {
        if let Some(e) = &mut self.export {
            e.result.get_or_insert(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::hpack::literal_without_indexing as lit;

    fn frames(bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = bytes.strip_prefix(PREFACE).unwrap_or(bytes);
        while let Some(h) = FrameHeader::parse(at) {
            out.push((h, at[HEADER_LEN..h.total_len()].to_vec()));
            at = &at[h.total_len()..];
        }
        out
    }

    fn block(fields: &[(&str, &str)]) -> Vec<u8> {
        fields.iter().flat_map(|(n, v)| lit(n.as_bytes(), v.as_bytes())).collect()
    }

    #[test]
    fn a_large_export_waits_for_window_updates_and_ends_on_grpc_status() {
        let mut s = Session::new("127.0.0.1:4317");
        let request = vec![7u8; 100_000];
        s.start(&request);
        let sent = frames(&s.take_output());
        let data: usize = sent.iter().filter(|(h, _)| h.kind == FrameType::DATA).map(|(_, p)| p.len()).sum();
        assert_eq!(data, 65_535, "the initial window, in frames of at most 16 KiB");
        assert!(sent.iter().all(|(h, _)| h.length as usize <= DEFAULT_FRAME));
        // The collector opens the windows; the rest goes, ending the stream.
        s.receive(&emit(FrameType::WINDOW_UPDATE, 0, 0, &100_000u32.to_be_bytes()));
        s.receive(&emit(FrameType::WINDOW_UPDATE, 0, 1, &100_000u32.to_be_bytes()));
        let rest = frames(&s.take_output());
        let more: usize = rest.iter().map(|(_, p)| p.len()).sum();
        assert_eq!(data + more, request.len() + 5);
        assert!(rest.last().is_some_and(|(h, _)| h.has(flags::END_STREAM)));
        assert_eq!(s.result(), None, "no answer yet");
        let mut answer = emit(FrameType::HEADERS, flags::END_HEADERS, 1, &block(&[(":status", "200")]));
        answer.extend(emit(FrameType::DATA, 0, 1, &crate::grpc::message::emit(false, &[])));
        answer.extend(emit(
            FrameType::HEADERS,
            flags::END_HEADERS | flags::END_STREAM,
            1,
            &block(&[("grpc-status", "0")]),
        ));
        s.receive(&answer);
        assert_eq!(s.result(), Some(Ok(0)));
    }

    #[test]
    fn unavailable_is_retried_and_unimplemented_is_not() {
        for (code, retryable) in [("14", true), ("12", false)] {
            let mut s = Session::new("c:4317");
            s.start(b"x");
            let trailers = block(&[(":status", "200"), ("grpc-status", code), ("grpc-message", "no%20way")]);
            s.receive(&emit(FrameType::HEADERS, flags::END_HEADERS | flags::END_STREAM, 1, &trailers));
            let e = s.result().unwrap().unwrap_err();
            assert_eq!((e.retryable, e.reason.as_str()), (retryable, format!("grpc-status {code}: no way").as_str()));
        }
    }
}
