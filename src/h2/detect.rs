//! Recognising what a TCP connection carries, and finding HTTP/2 frame
//! boundaries in a byte stream whose start we did not see.

use super::frame::{FrameHeader, HEADER_LEN, PREFACE};
use serde::Serialize;

/// What a connection's bytes turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Not decided yet.
    Unknown,
    /// HTTP/2 in clear text.
    Http2,
    /// A TLS session (encrypted: not decodable).
    Tls,
    /// HTTP/1.x.
    Http1,
    /// Something else.
    Other,
}

/// How HTTP/2 was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The client connection preface was captured.
    Preface,
    /// `--h2-port` named the server's port.
    PortHint,
    /// The start was not captured; consecutive well-formed frames were found.
    FrameSync,
}

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

/// Outcome of looking for frame boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// Frames start at this offset of the buffer.
    At(usize),
    /// Nothing convincing yet; more bytes may tell.
    NeedMore,
}

/// Finds where HTTP/2 frames start in `buf`, bytes of a stream whose
/// framing we lost. `segment_starts` are the buffer offsets where TCP
/// segments began (writers usually start a segment with a frame).
///
/// A candidate is accepted when the frames chained from it all pass the
/// strict header check and either three of them are complete, or (when
/// `lenient`, i.e. the user named the port) at least one is, starting at a
/// segment start and ending exactly where a segment ended; without
/// `lenient`, two such frames are needed.
pub fn find_frames(buf: &[u8], segment_starts: &[usize], max_frame_size: u32, lenient: bool) -> Sync {
    let aligned_min = if lenient { 1 } else { 2 };
    let mut ends: Vec<usize> = segment_starts.iter().copied().skip(1).collect();
    ends.push(buf.len());
    for &p in segment_starts {
        let (complete, end) = chain(buf, p, max_frame_size);
        if complete >= 3 || (complete >= aligned_min && end.is_some_and(|e| ends.contains(&e))) {
            return Sync::At(p);
        }
    }
    for p in 0..buf.len().saturating_sub(HEADER_LEN) {
        if chain(buf, p, max_frame_size).0 >= 3 {
            return Sync::At(p);
        }
    }
    Sync::NeedMore
}

/// Follows frames from `p`: how many complete plausible frames in a row,
/// and where the last of them ends (`None` if the chain broke on an
/// implausible header rather than running out of bytes).
fn chain(buf: &[u8], mut p: usize, max_frame_size: u32) -> (usize, Option<usize>) {
    let mut n = 0;
    loop {
        let Some(h) = buf.get(p..).and_then(FrameHeader::parse) else {
            return (n, Some(p));
        };
        if !h.is_plausible(max_frame_size) {
            return (n, None);
        }
        let end = p + h.total_len();
        if end > buf.len() {
            return (n, Some(p));
        }
        n += 1;
        p = end;
        if n >= 3 {
            return (n, Some(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        b.push(kind);
        b.push(flags);
        b.extend_from_slice(&sid.to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

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
    fn frames_are_found_after_garbage() {
        let mut buf = b"tail of a lost frame".to_vec();
        let start = buf.len();
        buf.extend(frame(1, 4, 1, &[0x83, 0x86]));
        buf.extend(frame(0, 1, 1, &[0, 0, 0, 0, 1, 8]));
        // Aligned with a segment that starts and ends there: two frames suffice.
        assert_eq!(find_frames(&buf, &[0, start], 16_384, false), Sync::At(start));
        // Without the segment hint, two frames are not enough evidence...
        assert_eq!(find_frames(&buf, &[0], 16_384, false), Sync::NeedMore);
        // ...three are.
        buf.extend(frame(8, 0, 0, &[0, 0, 0, 9]));
        assert_eq!(find_frames(&buf, &[0], 16_384, false), Sync::At(start));
    }

    #[test]
    fn random_bytes_do_not_sync() {
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        assert_eq!(find_frames(&noise, &[0, 1000, 2000], 16_384, false), Sync::NeedMore);
    }
}
