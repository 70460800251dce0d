//! Where gRPC messages lie in DATA frames, for the frames list: which
//! messages a frame carries, whole or in part (`message 1 (120 B)`,
//! `message 2 begins: 16379 of 100000 B`). Only the 5-byte prefixes are
//! read; the bytes stay where they are and nothing is kept but a length
//! per stream direction.

use crate::h2::frame::{flags, Body, FrameType};
use crate::h2::Frame;
use crate::tcp::{ConnId, Dir};
use std::collections::HashMap;
use std::ops::Range;

/// Stream directions followed at once; past it, new streams' frames say
/// their layout is not followed (a flood of streams must not grow this).
pub const MAX_FOLLOWED: usize = 65_536;

/// A gRPC message, or part of one, inside one DATA frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessagePiece {
    /// The message's number in its stream and direction, from 1.
    pub index: u32,
    /// The length its prefix gives, once the prefix has been read.
    pub length: Option<u32>,
    /// Bytes of its body (the prefix not counted) in this frame.
    pub here: u32,
    /// Its prefix begins in this frame.
    pub begins: bool,
    /// Its last byte is in this frame.
    pub ends: bool,
}

/// What a DATA frame carries, as far as the capture tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataLayout {
    /// These pieces, in order.
    Messages(Vec<MessagePiece>),
    /// Where messages start is not known, and why.
    Unknown(Unknown),
}

/// Why a DATA frame's messages cannot be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// The stream's headers were not captured: it began before the capture,
    /// maybe in the middle of a message.
    BeganBefore,
    /// Bytes of this direction were lost since the last boundary.
    Lost,
    /// [`MAX_FOLLOWED`] stream directions were already being followed.
    NotFollowed,
    /// The headers name another content-type than gRPC's (a proxy's HTML
    /// error page): the body is not Length-Prefixed-Messages.
    NotGrpc,
    /// A byte where a message prefix starts is no gRPC flags byte (only 0
    /// and 1 are): the body is not what gRPC frames.
    NotAPrefix(u8),
}

impl Unknown {
    /// In words, for the frames list.
    pub fn describe(self) -> String {
        let words = match self {
            Unknown::BeganBefore => "message boundaries unknown: the stream began before the capture",
            Unknown::Lost => "message boundaries unknown: bytes were lost before this frame",
            Unknown::NotFollowed => "message boundaries not followed (too many open streams)",
            Unknown::NotGrpc => "not gRPC messages: the headers give another content-type",
            Unknown::NotAPrefix(b) => {
                return format!(
                    "not gRPC messages: a message would start with flags byte 0x{b:02x} (gRPC's are 0 and 1)"
                )
            }
        };
        words.to_string()
    }
}

impl DataLayout {
    /// `2 gRPC messages: 1 (120 B), 2 (33 B)`, `gRPC message 3 continues
    /// (16384 of 100000 B)`: lengths as the prefixes give them, without the
    /// 5 prefix bytes.
    pub fn describe(&self) -> String {
        let pieces = match self {
            DataLayout::Unknown(why) => return why.describe(),
            DataLayout::Messages(p) => p,
        };
        let one = |p: &MessagePiece| {
            let of = match p.length {
                Some(l) => format!("{} of {l} B", p.here),
                None => "its prefix split across frames".into(),
            };
            match (p.begins, p.ends) {
                (true, true) => format!("{} ({} B)", p.index, p.length.unwrap_or(0)),
                (true, false) => format!("{} begins ({of})", p.index),
                (false, true) => format!("{} ends ({of})", p.index),
                (false, false) => format!("{} continues ({of})", p.index),
            }
        };
        match pieces.as_slice() {
            [] => "no gRPC message bytes".into(),
            [p] => format!("gRPC message {}", one(p)),
            many => {
                let list: Vec<String> = many.iter().map(one).collect();
                format!("{} gRPC messages: {}", many.len(), list.join(", "))
            }
        }
    }
}

/// Where one stream direction stands between frames.
#[derive(Debug, Clone, Copy)]
enum Walk {
    /// Reading a prefix: message `index`, `have` of its 5 bytes, the length so far.
    Prefix { index: u32, have: u8, length: u32 },
    /// Reading message `index`'s body: `need` of its `length` bytes to go.
    Body { index: u32, length: u32, need: u32 },
    /// Boundaries unknown.
    Lost(Unknown),
}

impl Walk {
    const START: Walk = Walk::Prefix { index: 1, have: 0, length: 0 };

    /// The walk after message `index` of `length` bytes ended.
    fn after(index: u32) -> Walk {
        Walk::Prefix { index: index.saturating_add(1), have: 0, length: 0 }
    }
}

/// Walks `len` bytes of a frame's DATA (`bytes`, of which `missing` were
/// never captured), reading each prefix met: a byte at a time, since a
/// prefix is 5 bytes and may be split across frames.
fn walk_data(walk: &mut Walk, bytes: &[u8], len: usize, missing: Option<&Range<usize>>) -> DataLayout {
    let mut pieces: Vec<MessagePiece> = Vec::new();
    let mut at = 0usize;
    while at < len {
        match *walk {
            Walk::Lost(why) if pieces.is_empty() => return DataLayout::Unknown(why),
            Walk::Lost(_) => break,
            Walk::Prefix { .. } if missing.is_some_and(|m| m.start <= at && at < m.end) => {
                *walk = Walk::Lost(Unknown::Lost);
            }
            Walk::Prefix { have: 0, .. } if bytes.get(at).is_some_and(|b| *b > 1) => {
                *walk = Walk::Lost(Unknown::NotAPrefix(bytes.get(at).copied().unwrap_or(0)));
            }
            Walk::Prefix { index, have, length } => {
                // Byte 0 is the compressed flag; bytes 1 to 4 the length.
                let byte = bytes.get(at).copied().unwrap_or(0);
                let length = if have == 0 { length } else { (length << 8) | u32::from(byte) };
                note(&mut pieces, index, None, 0, have == 0);
                at += 1;
                *walk = if have < 4 {
                    Walk::Prefix { index, have: have + 1, length }
                } else {
                    if let Some(p) = pieces.last_mut() {
                        p.length = Some(length);
                        p.ends = length == 0;
                    }
                    if length == 0 {
                        Walk::after(index)
                    } else {
                        Walk::Body { index, length, need: length }
                    }
                };
            }
            Walk::Body { index, length, need } => {
                let take = (need as usize).min(len - at);
                note(&mut pieces, index, Some(length), take, false);
                at += take;
                let need = need - take as u32;
                *walk = if need == 0 {
                    if let Some(p) = pieces.last_mut() {
                        p.ends = true;
                    }
                    Walk::after(index)
                } else {
                    Walk::Body { index, length, need }
                };
            }
        }
    }
    DataLayout::Messages(pieces)
}

/// Adds `take` bytes of message `index` to the pieces, continuing the
/// last piece when it is the same message.
fn note(pieces: &mut Vec<MessagePiece>, index: u32, length: Option<u32>, take: usize, begins: bool) {
    match pieces.last_mut() {
        Some(p) if p.index == index => {
            p.here += take as u32;
            p.length = p.length.or(length);
        }
        _ => pieces.push(MessagePiece { index, length, here: take as u32, begins, ends: false }),
    }
}

/// Follows every stream direction of a capture, frame by frame.
#[derive(Debug, Default)]
pub struct DataLayouts {
    walks: HashMap<(ConnId, u32, Dir), Walk>,
}

impl DataLayouts {
    /// Takes the next frame; for a DATA frame, returns what it carries.
    pub fn frame(&mut self, f: &Frame) -> Option<DataLayout> {
        let key = (f.conn, f.header.stream_id, f.dir);
        let end = f.header.has(flags::END_STREAM);
        let layout = match &f.body {
            Body::Headers { .. } if f.header.stream_id != 0 => {
                // A content-type the capture shows and that is not gRPC's
                // (an HTML error page) is not cut into messages; an unknown
                // one (an HPACK entry from before the capture) is.
                let content_type = f.block.as_ref().and_then(|b| b.get("content-type"));
                let start = match content_type {
                    Some(ct) if !ct.starts_with(b"application/grpc") => Walk::Lost(Unknown::NotGrpc),
                    _ => Walk::START,
                };
                if self.walks.len() < MAX_FOLLOWED {
                    self.walks.entry(key).or_insert(start);
                }
                None
            }
            Body::Data { data, .. } => Some(self.data(key, f, data)),
            Body::RstStream { .. } => {
                self.walks.retain(|(c, s, _), _| (*c, *s) != (f.conn, f.header.stream_id));
                None
            }
            _ => None,
        };
        if end && f.header.kind != FrameType::CONTINUATION {
            self.walks.remove(&key);
        }
        layout
    }

    fn data(&mut self, key: (ConnId, u32, Dir), f: &Frame, data: &Range<usize>) -> DataLayout {
        let Some(walk) = self.walks.get_mut(&key) else {
            let why = if self.walks.len() >= MAX_FOLLOWED { Unknown::NotFollowed } else { Unknown::BeganBefore };
            return DataLayout::Unknown(why);
        };
        let missing = f.data_missing(data);
        let bytes = f.payload.get(data.clone()).unwrap_or_default();
        walk_data(walk, bytes, data.len(), missing.as_ref())
    }

    /// Frames of `dir` on `conn` were lost: every stream's boundaries with them.
    pub fn lost(&mut self, conn: ConnId, dir: Dir) {
        for ((c, _, d), w) in self.walks.iter_mut() {
            if (*c, *d) == (conn, dir) {
                *w = Walk::Lost(Unknown::Lost);
            }
        }
    }

    /// Stream directions being followed.
    pub fn followed(&self) -> usize {
        self.walks.len()
    }
}

#[cfg(test)]
mod tests;
