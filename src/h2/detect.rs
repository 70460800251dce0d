//! Finding HTTP/2 frame boundaries in a byte stream whose start we did not
//! see. (Recognising what a connection carries is the decoder chain's
//! detector: `crate::chain::detect`.)

use super::frame::{FrameHeader, HEADER_LEN};
use serde::Serialize;

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
