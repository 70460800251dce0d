//! Building HTTP/2, HPACK and gRPC bytes by hand, for captures whose every
//! byte a test must control (the adversarial fixtures, unit tests).

/// The 24-byte client connection preface (RFC 9113 §3.4).
pub use crate::h2::frame::PREFACE;

/// Frame types used here, as the bytes [`frame`] takes (the decoder's
/// [`FrameType`](crate::h2::frame::FrameType) constants, not a second copy).
pub mod kind {
    use crate::h2::frame::FrameType;
    /// DATA.
    pub const DATA: u8 = FrameType::DATA.0;
    /// HEADERS.
    pub const HEADERS: u8 = FrameType::HEADERS.0;
    /// SETTINGS.
    pub const SETTINGS: u8 = FrameType::SETTINGS.0;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = FrameType::WINDOW_UPDATE.0;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = FrameType::CONTINUATION.0;
}

/// One frame: the 9-byte header, then `payload`.
pub fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    crate::h2::frame::emit(crate::h2::frame::FrameType(kind), flags, stream_id, payload)
}

/// A SETTINGS frame with the given (identifier, value) pairs.
pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::with_capacity(pairs.len() * 6);
    for (id, value) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&value.to_be_bytes());
    }
    frame(kind::SETTINGS, 0, 0, &p)
}

/// A WINDOW_UPDATE frame granting `increment` bytes on `stream_id` (0: the connection).
pub fn window_update(stream_id: u32, increment: u32) -> Vec<u8> {
    frame(kind::WINDOW_UPDATE, 0, stream_id, &increment.to_be_bytes())
}

/// An HPACK integer (RFC 7541 §5.1) with an `n`-bit prefix; `high` holds
/// the representation's pattern bits above the prefix.
pub fn hpack_int(n: u8, high: u8, value: u64) -> Vec<u8> {
    crate::h2::hpack::emit_integer(n, high, value)
}

fn raw_string(s: &[u8]) -> Vec<u8> {
    crate::h2::hpack::emit_string(s)
}

/// A literal field with a new name, not indexed (RFC 7541 §6.2.2), raw strings.
pub fn literal(name: &str, value: &[u8]) -> Vec<u8> {
    crate::h2::hpack::literal_without_indexing(name.as_bytes(), value)
}

/// A literal field with a new name, added to the dynamic table (RFC 7541 §6.2.1).
pub fn literal_indexed(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x40];
    out.extend(raw_string(name.as_bytes()));
    out.extend(raw_string(value));
    out
}

/// An indexed field (RFC 7541 §6.1): static 1-61, dynamic from 62.
pub fn indexed(index: u64) -> Vec<u8> {
    hpack_int(7, 0x80, index)
}

/// A dynamic table size update (RFC 7541 §6.3).
pub fn size_update(size: u64) -> Vec<u8> {
    hpack_int(5, 0x20, size)
}

/// A header block of literal fields without indexing.
pub fn literal_block(fields: &[(&str, &str)]) -> Vec<u8> {
    fields.iter().flat_map(|(n, v)| literal(n, v.as_bytes())).collect()
}

/// A gRPC Length-Prefixed-Message: the compressed flag, a 4-byte length, the bytes.
pub fn grpc_message(compressed: bool, body: &[u8]) -> Vec<u8> {
    crate::grpc::message::emit(compressed, body)
}

/// The request headers of a gRPC call to `path` (literal, unindexed).
pub fn request_block(path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = vec![(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost:50051")];
    fields.extend_from_slice(&[("content-type", "application/grpc"), ("te", "trailers")]);
    fields.extend_from_slice(extra);
    literal_block(&fields)
}

/// Response headers `:status: 200` with gRPC's content-type.
pub fn response_block() -> Vec<u8> {
    literal_block(&[(":status", "200"), ("content-type", "application/grpc")])
}

/// Trailers carrying `grpc-status`.
pub fn trailers_block(status: u32) -> Vec<u8> {
    literal_block(&[("grpc-status", &status.to_string())])
}
