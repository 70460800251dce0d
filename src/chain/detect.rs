//! The detector: what a connection carries, from the first bytes of each
//! direction. It decides which decoders the connection's chain gets: HTTP/2
//! for a client preface (or a server's SETTINGS sent first), nothing more
//! yet for TLS (its server name is read from the ClientHello), HTTP/1.x or
//! anything else.

use crate::h2::frame::{FrameHeader, FrameType, DEFAULT_MAX_FRAME_SIZE, PREFACE};

/// Verdict on the first bytes a client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStart {
    /// Not enough bytes to decide.
    NeedMore,
    /// The HTTP/2 preface (24 bytes).
    Preface,
    /// A TLS handshake record.
    Tls,
    /// An HTTP/1.x request line.
    Http1,
    /// Anything else.
    Other,
}

const HTTP1_METHODS: [&[u8]; 9] =
    [b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE "];

/// Classifies the first bytes a client sent on a connection whose start was captured.
pub fn classify_client_start(b: &[u8]) -> ClientStart {
    let n = b.len().min(PREFACE.len());
    if b.get(..n) == PREFACE.get(..n) {
        return if n == PREFACE.len() { ClientStart::Preface } else { ClientStart::NeedMore };
    }
    // TLS record: handshake (22), version 3.x.
    if b.first() == Some(&0x16) && b.get(1).is_none_or(|v| *v == 3) {
        return if b.len() >= 3 { ClientStart::Tls } else { ClientStart::NeedMore };
    }
    for m in HTTP1_METHODS {
        let k = b.len().min(m.len());
        if b.get(..k) == m.get(..k) {
            return if k == m.len() { ClientStart::Http1 } else { ClientStart::NeedMore };
        }
    }
    ClientStart::Other
}

/// The first bytes a server sent form a SETTINGS frame header (its
/// connection preface; gRPC C-core sends it before the client's arrives).
pub fn server_settings_first(b: &[u8]) -> bool {
    FrameHeader::parse(b)
        .is_some_and(|h| h.kind == FrameType::SETTINGS && h.flags == 0 && h.is_plausible(DEFAULT_MAX_FRAME_SIZE))
}

/// Length of the TLS record at the start of `b` (`None` while its header is incomplete).
pub fn tls_record_len(b: &[u8]) -> Option<usize> {
    match b.get(3..5) {
        Some(&[hi, lo]) => Some(usize::from(u16::from_be_bytes([hi, lo]))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_starts() {
        assert_eq!(classify_client_start(PREFACE), ClientStart::Preface);
        assert_eq!(classify_client_start(&PREFACE[..10]), ClientStart::NeedMore);
        assert_eq!(classify_client_start(&[0x16, 3, 1, 2, 0]), ClientStart::Tls);
        assert_eq!(classify_client_start(b"GET / HTTP/1.1\r\n"), ClientStart::Http1);
        assert_eq!(classify_client_start(b"GE"), ClientStart::NeedMore);
        assert_eq!(classify_client_start(b"\x00\x01hello"), ClientStart::Other);
    }

    #[test]
    fn a_server_settings_frame_first_is_http2() {
        assert!(server_settings_first(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]));
        assert!(!server_settings_first(&[0, 0, 0, 4, 1, 0, 0, 0, 0]), "an ACK is not a preface");
        assert!(!server_settings_first(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(tls_record_len(&[0x16, 3, 1, 0x02, 0x00]), Some(512));
        assert_eq!(tls_record_len(&[0x16, 3]), None);
    }
}
