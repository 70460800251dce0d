//! What the frames list keeps of each HTTP/2 frame: its header, where it
//! came from and a few words, never its bytes. The detail tree, the bytes
//! pane and the explanation re-read the frame from the capture when it is
//! selected ([`super::replay`]), as Wireshark re-dissects a packet.

use crate::filter::{FrameFacts, Record, Value};
use crate::grpc::HeaderList;
use crate::h2::frame::{error_name, flags, Body, FrameHeader};
use crate::h2::hpack::Representation;
use crate::h2::{Frame, HeaderBlock};
use crate::present::data_layout::DataLayout;
use crate::present::line::{FrameLine, FrameTone};
use crate::tcp::{ConnId, Dir};
use crate::time::Timestamp;

/// A frame as the list holds it.
#[derive(Debug, Clone)]
pub struct FrameMeta {
    /// Connection.
    pub conn: ConnId,
    /// Direction.
    pub dir: Dir,
    /// Time of the packet that completed it.
    pub ts: Timestamp,
    /// That packet's number.
    pub packet: u64,
    /// The 9-byte header.
    pub header: FrameHeader,
    /// Its place among its connection's frames, from 0: what a re-read
    /// counts to.
    pub nth: u32,
    /// Notes the decoder made on it.
    pub notes: u16,
    /// RST_STREAM's or GOAWAY's error code, WINDOW_UPDATE's increment, or
    /// the DATA bytes past the padding.
    pub value: u32,
    /// How the list shows it.
    pub tone: FrameTone,
    /// What it says, in a few words (the list's SUMMARY).
    pub summary: Box<str>,
    /// The fields of the header block it completed, for filters and the
    /// ladder (the list is shared with the call's when the same).
    pub fields: Option<HeaderList>,
    /// What that block did to the HPACK dynamic table, when it did
    /// anything (most blocks only refer to entries).
    pub table_ops: Option<Box<TableOps>>,
}

/// A header block's changes to its direction's dynamic table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOps {
    /// Size updates at its start (RFC 7541 §6.3), in order.
    pub size_updates: Vec<usize>,
    /// Fields sent with incremental indexing: name and value as text.
    pub inserted: Vec<(String, String)>,
    /// A field referred to an entry the capture never showed.
    pub unknown: bool,
}

impl TableOps {
    fn of(b: &HeaderBlock) -> Option<Box<TableOps>> {
        let ops = TableOps {
            size_updates: b.decoded.size_updates.iter().map(|u| u.max_size as usize).collect(),
            inserted: b
                .decoded
                .fields
                .iter()
                .filter(|f| f.repr.kind == Representation::IncrementalIndexing)
                .map(|f| (f.name_str(), f.value_str()))
                .collect(),
            unknown: b.decoded.fields.iter().any(|f| f.is_unknown()),
        };
        (ops != TableOps::default()).then(|| Box::new(ops))
    }
}

impl FrameMeta {
    /// What the list keeps of `f`, the `nth` frame of its connection.
    pub fn of(f: &Frame, layout: Option<&DataLayout>, nth: u32) -> FrameMeta {
        let line = FrameLine::frame(f, layout);
        let value = match &f.body {
            Body::RstStream { error_code } | Body::GoAway { error_code, .. } => *error_code,
            Body::WindowUpdate { increment } => *increment,
            Body::Data { data, .. } => u32::try_from(data.len()).unwrap_or(u32::MAX),
            _ => 0,
        };
        FrameMeta {
            conn: f.conn,
            dir: f.dir,
            ts: f.ts,
            packet: f.packet,
            header: f.header,
            nth,
            notes: u16::try_from(f.notes.len()).unwrap_or(u16::MAX),
            value,
            tone: line.tone,
            summary: line.summary.into_boxed_str(),
            fields: f
                .block
                .as_ref()
                .map(|b| b.decoded.fields.iter().map(|x| (x.name.clone(), x.value.clone())).collect()),
            table_ops: f.block.as_deref().and_then(TableOps::of),
        }
    }

    /// The line the list shows.
    pub fn line(&self) -> FrameLine {
        FrameLine::from_header(
            (self.conn, self.dir, self.ts, self.packet),
            &self.header,
            self.summary.to_string(),
            self.tone,
        )
    }

    /// Whether it completed a header block.
    pub fn has_block(&self) -> bool {
        self.fields.is_some()
    }

    fn field_value(&self, name: &str) -> Option<String> {
        let v = crate::grpc::Call::header(self.fields.as_deref()?, name)?;
        Some(format!("{name}={}", String::from_utf8_lossy(v)))
    }

    fn is_error_frame(&self) -> bool {
        use crate::h2::frame::FrameType;
        self.header.kind == FrameType::RST_STREAM || self.header.kind == FrameType::GOAWAY
    }

    /// `HEADERS[1] :path=/pkg.Svc/M`, `DATA[1] 125B`, `RST_STREAM[3] CANCEL`:
    /// the ladder's label.
    pub fn ladder_label(&self) -> String {
        use crate::h2::frame::FrameType;
        let kind = self.header.kind;
        let head = if self.header.stream_id == 0 {
            kind.name()
        } else {
            format!("{}[{}]", kind.name(), self.header.stream_id)
        };
        let ack = self.header.has(flags::ACK) && (kind == FrameType::SETTINGS || kind == FrameType::PING);
        let detail = if self.has_block() {
            self.field_value(":path")
                .or_else(|| self.field_value("grpc-status"))
                .or_else(|| self.field_value(":status"))
                .unwrap_or_default()
        } else if kind == FrameType::DATA {
            format!("{}B", self.value)
        } else if self.is_error_frame() {
            error_name(self.value)
        } else if ack {
            "ACK".into()
        } else if kind == FrameType::WINDOW_UPDATE {
            format!("+{}", self.value)
        } else {
            String::new()
        };
        let ends = self.header.has(flags::END_STREAM) && (kind == FrameType::DATA || kind == FrameType::HEADERS);
        format!("{head}{} {detail}", if ends { " ES" } else { "" }).trim_end().to_string()
    }
}

/// The frames filter's fields, as `grpcscope frames --filter` reads them
/// from a whole frame.
impl Record for FrameMeta {
    fn field(&self, name: &str, arg: Option<&str>) -> Value {
        if name == "header" {
            return self.fields.as_deref().map_or(Value::Null, |f| crate::filter::header_value(f, arg));
        }
        let error = self.is_error_frame().then_some(self.value);
        FrameFacts {
            conn: self.conn,
            dir: self.dir,
            ts: self.ts,
            header: &self.header,
            error,
            notes: usize::from(self.notes),
        }
        .field(name)
    }
}
