//! `--reflect HOST:PORT`: fetching a live server's schema through gRPC
//! server reflection (v1, then v1alpha), as grpcurl does, for a debug pod
//! without `.proto` files. Opt-in: grpcscope otherwise never sends a byte.
//!
//! [`Session`] is the protocol as a pure state machine (bytes in, bytes
//! out): one HTTP/2 connection in clear text (h2c, prior knowledge), one
//! ServerReflectionInfo stream that lists the services, then asks for the
//! file of each service and of every import not received yet. [`fetch`] is
//! the thin driver that owns the socket.

#[cfg(test)]
mod tests;

use crate::h2::frame::{data_payload, flags, header_block, FrameHeader, FrameType, HEADER_LEN, PREFACE};
use crate::h2::hpack::{Decoder, Limits};
use crate::proto::wire::{emit_varint, length_delimited_fields};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The two paths of the reflection service, newest first.
const PATHS: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Bytes accepted from the server, at most: a schema is kilobytes.
const MAX_RECEIVED: usize = 64 * 1024 * 1024;

/// Files accepted, at most.
const MAX_FILES: usize = 10_000;

/// gRPC status UNIMPLEMENTED: the server lacks this version of reflection.
const UNIMPLEMENTED: &str = "12";

/// Why fetching the schema failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReflectError {
    /// The server could not be reached or the connection failed.
    Io(String),
    /// The server answered, but not with a usable reflection service.
    Refused(String),
    /// It sent more than a schema can be.
    TooLarge,
    /// It did not finish in time.
    Timeout,
}

impl std::fmt::Display for ReflectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReflectError::Io(e) => write!(f, "{e}"),
            ReflectError::Refused(e) => write!(f, "{e}"),
            ReflectError::TooLarge => write!(f, "the server sent more than {MAX_RECEIVED} bytes: not a schema"),
            ReflectError::Timeout => f.write_str("the server did not finish answering in time"),
        }
    }
}

/// The reflection exchange of one connection.
#[derive(Debug)]
pub struct Session {
    authority: String,
    /// Which of [`PATHS`] the current stream uses.
    version: usize,
    stream_id: u32,
    inbox: BytesMut,
    /// gRPC message bytes of the current stream, not yet a whole message.
    messages: BytesMut,
    hpack: Decoder,
    received: usize,
    /// Requests sent and not answered yet.
    outstanding: usize,
    /// Files received, serialized FileDescriptorProtos, by name.
    files: Vec<Bytes>,
    names: BTreeSet<String>,
    asked: BTreeSet<String>,
    to_send: VecDeque<u8>,
    done: bool,
    /// Why the server's answers are unusable, once known.
    failure: Option<ReflectError>,
}

impl Session {
    /// A session with the server named `authority` (`host:port`); its first
    /// bytes are ready in [`Session::take_output`].
    pub fn new(authority: &str) -> Self {
        let mut s = Session {
            authority: authority.to_string(),
            version: 0,
            stream_id: 1,
            inbox: BytesMut::new(),
            messages: BytesMut::new(),
            hpack: Decoder::new(true, Limits::default()),
            received: 0,
            outstanding: 0,
            files: Vec::new(),
            names: BTreeSet::new(),
            asked: BTreeSet::new(),
            to_send: VecDeque::new(),
            done: false,
            failure: None,
        };
        s.send(PREFACE);
        s.send(&frame(FrameType::SETTINGS, 0, 0, &[]));
        // A schema of many files may exceed the initial 64 kB windows.
        s.send(&frame(FrameType::WINDOW_UPDATE, 0, 0, &(16u32 << 20).to_be_bytes()));
        s.open_stream();
        s
    }

    /// Bytes to write to the server.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.to_send.drain(..).collect()
    }

    /// Whether the exchange is over (see [`Session::result`]).
    pub fn is_done(&self) -> bool {
        self.done || self.failure.is_some()
    }

    /// The files received (serialized FileDescriptorProtos), or why none could be.
    pub fn result(self) -> Result<Vec<Bytes>, ReflectError> {
        match self.failure {
            Some(e) => Err(e),
            None => Ok(self.files),
        }
    }

    /// Takes bytes read from the server.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.received += bytes.len();
        if self.received > MAX_RECEIVED {
            self.failure = Some(ReflectError::TooLarge);
            return;
        }
        self.inbox.extend_from_slice(bytes);
        while !self.is_done() {
            let Some(h) = FrameHeader::parse(&self.inbox) else { return };
            if self.inbox.len() < h.total_len() {
                return;
            }
            let frame = self.inbox.split_to(h.total_len()).freeze();
            self.frame(&h, frame.slice(HEADER_LEN..));
        }
    }

    /// The connection ended (EOF) before the exchange did.
    pub fn eof(&mut self) {
        if !self.is_done() {
            self.failure = Some(ReflectError::Refused("the server closed the connection during reflection".into()));
        }
    }

    fn frame(&mut self, h: &FrameHeader, payload: Bytes) {
        match h.kind {
            FrameType::SETTINGS if !h.has(flags::ACK) => self.send(&frame(FrameType::SETTINGS, flags::ACK, 0, &[])),
            FrameType::PING if !h.has(flags::ACK) => self.send(&frame(FrameType::PING, flags::ACK, 0, &payload)),
            FrameType::GOAWAY => {
                self.failure = Some(ReflectError::Refused("the server sent GOAWAY during reflection".into()))
            }
            FrameType::RST_STREAM if h.stream_id == self.stream_id => {
                self.failure = Some(ReflectError::Refused("the server reset the reflection stream".into()))
            }
            FrameType::HEADERS if h.stream_id == self.stream_id => self.headers(h, &payload),
            FrameType::DATA if h.stream_id == self.stream_id => self.data(h, &payload),
            _ => {}
        }
    }

    fn headers(&mut self, h: &FrameHeader, payload: &Bytes) {
        let block = header_block(h, payload);
        let decoded = self.hpack.decode(&block);
        let field = |name: &str| {
            decoded.fields.iter().find(|f| f.name.as_deref() == Some(name.as_bytes())).and_then(|f| f.value.clone())
        };
        let status = field("grpc-status").map(|v| String::from_utf8_lossy(&v).into_owned());
        if let Some(s) = field(":status").filter(|s| &s[..] != b"200") {
            self.failure = Some(ReflectError::Refused(format!(
                "HTTP {} instead of 200: not a gRPC server (or it needs TLS, which --reflect does not speak)",
                String::from_utf8_lossy(&s)
            )));
            return;
        }
        match status.as_deref() {
            None | Some("0") if !h.has(flags::END_STREAM) => {}
            Some("0") | None => self.finish(),
            Some(UNIMPLEMENTED) if self.version + 1 < PATHS.len() => {
                // Reflection v1 unknown: try v1alpha on a new stream.
                self.version += 1;
                self.stream_id += 2;
                self.messages.clear();
                self.open_stream();
            }
            Some(code) => {
                let message = field("grpc-message").map(|m| crate::grpc::status::percent_decode(&m));
                self.failure = Some(ReflectError::Refused(format!(
                    "the reflection service answered grpc-status {code}{}",
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                )));
            }
        }
    }

    fn data(&mut self, h: &FrameHeader, payload: &Bytes) {
        let data = data_payload(h, payload);
        if !payload.is_empty() {
            // Give back what was used, on the stream and the connection.
            let n = (payload.len() as u32).to_be_bytes();
            self.send(&frame(FrameType::WINDOW_UPDATE, 0, 0, &n));
            self.send(&frame(FrameType::WINDOW_UPDATE, 0, self.stream_id, &n));
        }
        self.messages.extend_from_slice(&data);
        while let Some(prefix) = self.messages.get(1..5).and_then(|p| <[u8; 4]>::try_from(p).ok()) {
            let len = u32::from_be_bytes(prefix);
            let Some(total) = (len as usize).checked_add(5).filter(|t| self.messages.len() >= *t) else { break };
            let msg = self.messages.split_to(total).freeze();
            self.response(&msg.slice(5..));
        }
    }

    /// One ServerReflectionResponse.
    fn response(&mut self, msg: &Bytes) {
        self.outstanding = self.outstanding.saturating_sub(1);
        for (num, value) in length_delimited_fields(msg) {
            match num {
                // list_services_response: ask for each service's file.
                6 => {
                    for (n, service) in length_delimited_fields(value) {
                        let name = length_delimited_fields(service).into_iter().find(|(f, _)| *f == 1);
                        if let (1, Some((_, name))) = (n, name) {
                            let name = String::from_utf8_lossy(name).into_owned();
                            if !name.starts_with("grpc.reflection.") {
                                self.ask(4, &name);
                            }
                        }
                    }
                }
                // file_descriptor_response: keep the files, ask for imports not seen.
                4 => {
                    for (n, fdp) in length_delimited_fields(value) {
                        if n == 1 {
                            self.file(fdp);
                        }
                    }
                }
                _ => {}
            }
        }
        if self.outstanding == 0 {
            // Nothing more to ask: end our side; the server ends with trailers.
            self.send(&frame(FrameType::DATA, flags::END_STREAM, self.stream_id, &[]));
        }
    }

    fn file(&mut self, fdp: &[u8]) {
        let fields = length_delimited_fields(fdp);
        let name = fields.iter().find(|(n, _)| *n == 1).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        let Some(name) = name else { return };
        if self.files.len() >= MAX_FILES || !self.names.insert(name) {
            return;
        }
        self.files.push(Bytes::copy_from_slice(fdp));
        for (_, dep) in fields.iter().filter(|(n, _)| *n == 3) {
            let dep = String::from_utf8_lossy(dep).into_owned();
            if !self.names.contains(&dep) {
                self.ask(3, &dep);
            }
        }
    }

    /// Sends a request with field `field` (3 file_by_filename, 4
    /// file_containing_symbol, 7 list_services) set to `value`, once.
    fn ask(&mut self, field: u8, value: &str) {
        if field != 7 && !self.asked.insert(format!("{field}:{value}")) {
            return;
        }
        let mut req = vec![(field << 3) | 2];
        req.extend(emit_varint(value.len() as u64));
        req.extend_from_slice(value.as_bytes());
        self.outstanding += 1;
        self.send(&frame(FrameType::DATA, 0, self.stream_id, &crate::grpc::message::emit(false, &req)));
    }

    fn open_stream(&mut self) {
        let mut block = Vec::new();
        for (n, v) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", PATHS.get(self.version).copied().unwrap_or_default()),
            (":authority", self.authority.as_str()),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("user-agent", concat!("grpcscope/", env!("CARGO_PKG_VERSION"))),
        ] {
            block.extend(crate::h2::hpack::literal_without_indexing(n.as_bytes(), v.as_bytes()));
        }
        self.send(&frame(FrameType::HEADERS, flags::END_HEADERS, self.stream_id, &block));
        self.outstanding = 0;
        self.ask(7, "");
    }

    fn finish(&mut self) {
        if self.files.is_empty() {
            self.failure = Some(ReflectError::Refused("the reflection service listed no schema files".into()));
        }
        self.done = true;
    }

    fn send(&mut self, bytes: &[u8]) {
        self.to_send.extend(bytes);
    }
}

fn frame(kind: FrameType, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    crate::h2::frame::emit(kind, flags, stream_id, payload)
}

/// Fetches the schema of the server at `target` (`host:port`) within `timeout`.
pub fn fetch(target: &str, timeout: Duration) -> Result<Vec<Bytes>, ReflectError> {
    let io = |e: std::io::Error| ReflectError::Io(format!("{target}: {e}"));
    let addr = target
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| ReflectError::Io(format!("{target}: no address")))?;
    let deadline = Instant::now() + timeout;
    let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    let mut session = Session::new(target);
    let mut buf = vec![0u8; 64 * 1024];
    while !session.is_done() {
        let out = session.take_output();
        if !out.is_empty() {
            sock.write_all(&out).map_err(io)?;
        }
        let left = deadline.checked_duration_since(Instant::now()).ok_or(ReflectError::Timeout)?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1)))).map_err(io)?;
        match sock.read(&mut buf) {
            Ok(0) => session.eof(),
            Ok(n) => session.receive(buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(ReflectError::Timeout)
            }
            Err(e) => return Err(io(e)),
        }
    }
    let out = session.take_output();
    let _ = sock.write_all(&out);
    session.result()
}
