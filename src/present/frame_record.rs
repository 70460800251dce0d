//! The output record of an HTTP/2 frame: one struct, serialized as is by
//! `frames --format json`. Fields are declared in the order they are
//! written; those a frame type does not have are left out.

use super::hex;
use crate::exchange::Carrier;
use crate::h2::frame::{error_name, setting_name, Body, Priority};
use crate::h2::hpack::{FieldRepr, HeaderField, SizeUpdate};
use crate::h2::{FlowInfo, Frame, StreamState};
use crate::notes::Note;
use crate::tcp::{ConnId, Dir};
use crate::time::Timestamp;
use serde::Serialize;

/// A header field as `[name, value]` text, `null` for what is unknown.
type FieldText = (Option<String>, Option<String>);

fn field_text(f: &HeaderField) -> FieldText {
    let text = |b: &Option<bytes::Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    (text(&f.name), text(&f.value))
}

/// The fields of one frame type.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum BodyFields {
    /// DATA.
    Data {
        /// Application bytes (padding excluded).
        data_length: usize,
        /// Pad length, when PADDED.
        #[serde(skip_serializing_if = "Option::is_none")]
        pad_length: Option<u8>,
    },
    /// HEADERS.
    Headers {
        /// Pad length, when PADDED.
        #[serde(skip_serializing_if = "Option::is_none")]
        pad_length: Option<u8>,
        /// Priority, when PRIORITY.
        #[serde(skip_serializing_if = "Option::is_none")]
        priority: Option<Priority>,
    },
    /// PUSH_PROMISE.
    PushPromise {
        /// The reserved stream.
        promised_stream_id: u32,
    },
    /// PRIORITY.
    Priority {
        /// Its fields.
        priority: Priority,
    },
    /// RST_STREAM.
    RstStream {
        /// Error code.
        error_code: u32,
        /// Its name.
        error_name: String,
    },
    /// SETTINGS.
    Settings {
        /// An acknowledgment.
        ack: bool,
        /// Parameters.
        settings: Vec<SettingField>,
    },
    /// PING.
    Ping {
        /// A reply.
        ack: bool,
        /// Opaque data, hex.
        opaque: String,
    },
    /// GOAWAY.
    GoAway {
        /// Highest stream the sender may have processed.
        last_stream_id: u32,
        /// Error code.
        error_code: u32,
        /// Its name.
        error_name: String,
        /// Debug data (lossy UTF-8).
        debug: String,
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// Increment.
        increment: u32,
    },
    /// An extension frame type.
    Unknown {
        /// The payload, hex.
        payload_hex: String,
    },
    /// A payload that breaks its type's rules.
    Malformed {
        /// Why.
        malformed: String,
    },
    /// CONTINUATION: nothing beyond the header block.
    Nothing {},
}

/// One SETTINGS parameter.
#[derive(Debug, Clone, Serialize)]
pub struct SettingField {
    /// Identifier.
    pub id: u16,
    /// Its name.
    pub name: String,
    /// Value.
    pub value: u32,
}

/// One header field with its HPACK encoding (`frames -v`).
#[derive(Debug, Clone, Serialize)]
pub struct HpackField<'a> {
    /// Name, `null` when unknown.
    pub name: Option<String>,
    /// Value, `null` when unknown.
    pub value: Option<String>,
    /// How it was encoded.
    #[serde(flatten)]
    pub repr: &'a FieldRepr,
    /// Its bytes within the header block.
    pub bytes: [usize; 2],
    /// The unknown entry (inserted before the capture) its unknown parts
    /// belong to, e.g. `?dyn#3`: the same text at every reference to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
}

/// A dynamic-table entry after the block (`frames -v`).
#[derive(Debug, Clone, Serialize)]
pub struct TableEntry<'a> {
    /// HPACK index.
    pub index: usize,
    /// Name.
    pub name: &'a str,
    /// Value.
    pub value: &'a str,
    /// Size by RFC 7541 §4.1.
    pub size: usize,
}

/// The dynamic table after a header block.
#[derive(Debug, Clone, Serialize)]
pub struct TableRecord<'a> {
    /// Size in bytes.
    pub size: usize,
    /// Entries, newest first.
    pub entries: Vec<TableEntry<'a>>,
}

/// The record of one frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord<'a> {
    /// Time of the packet that completed it.
    pub ts: Timestamp,
    /// Connection.
    pub conn: ConnId,
    /// Direction.
    pub dir: Dir,
    /// Stream.
    pub stream_id: u32,
    /// Type name.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Type number.
    pub type_id: u8,
    /// Flag names.
    pub flags: Vec<&'static str>,
    /// Flags byte.
    pub flags_raw: u8,
    /// Payload length.
    pub length: u32,
    /// Offset of its header in the direction's byte stream (the decrypted
    /// stream when `tls_records` is present).
    pub offset: u64,
    /// The packet that completed it.
    pub packet: u64,
    /// The TLS records that carried it, where they were captured (only
    /// for decrypted connections).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_records: Vec<CarrierRecord>,
    /// The type's own fields.
    #[serde(flatten)]
    pub body: BodyFields,
    /// The header block it completed, decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<FieldText>>,
    /// Fields of that block from HPACK entries never seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_header_fields: Option<usize>,
    /// Each field's encoding (`-v`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hpack: Option<Vec<HpackField<'a>>>,
    /// Dynamic table size updates at the block's start (`-v`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size_updates: Option<&'a [SizeUpdate]>,
    /// The dynamic table after the block (`-v`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_table: Option<TableRecord<'a>>,
    /// Flow-control windows around it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<&'a FlowInfo>,
    /// The stream's state after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StreamState>,
    /// Payload bytes never captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_bytes: Option<usize>,
    /// Problems and remarks.
    #[serde(skip_serializing_if = "<[Note]>::is_empty")]
    pub notes: &'a [Note],
}

/// The record of the client connection preface (in the frames listing).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrefaceRecord {
    /// Time of the packet that completed it.
    pub ts: Timestamp,
    /// Connection.
    pub conn: ConnId,
    /// Direction (always client to server).
    pub dir: Dir,
    /// `PREFACE`.
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// 24 bytes.
    pub length: usize,
    /// Offset in the client's byte stream.
    pub offset: u64,
    /// The packet that completed it.
    pub packet: u64,
}

impl PrefaceRecord {
    /// The preface of `conn`, completed by `packet` at `ts`.
    pub fn new(conn: ConnId, ts: Timestamp, offset: u64, packet: u64) -> Self {
        let length = crate::h2::frame::PREFACE.len();
        PrefaceRecord { ts, conn, dir: Dir::ToServer, type_name: "PREFACE", length, offset, packet }
    }
}

/// The record of bytes a direction lost (in the frames listing).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LostRecord {
    /// When the loss was noticed.
    pub ts: Timestamp,
    /// Connection.
    pub conn: ConnId,
    /// Direction.
    pub dir: Dir,
    /// `LOST`.
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// Bytes never captured.
    pub lost_bytes: u64,
}

impl LostRecord {
    /// `lost_bytes` of `dir` never captured.
    pub fn new(conn: ConnId, dir: Dir, ts: Timestamp, lost_bytes: u64) -> Self {
        LostRecord { ts, conn, dir, type_name: "LOST", lost_bytes }
    }
}

/// A TLS record that carried a decrypted frame: which one, and where the
/// capture holds it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CarrierRecord {
    /// Its number in its direction (0 is the first record, handshake included).
    pub record: u64,
    /// Offset of its 5-byte header in the direction's TCP byte stream.
    pub tcp_offset: u64,
    /// Its length, header included.
    pub length: u64,
    /// The packets holding its first and last bytes.
    pub packets: [u64; 2],
    /// The plaintext it carried, as a range of the decrypted stream.
    pub plaintext: [u64; 2],
}

impl CarrierRecord {
    /// The record of `c`.
    pub fn new(c: &Carrier) -> Self {
        CarrierRecord {
            record: c.seq,
            tcp_offset: c.span.offset,
            length: c.span.len,
            packets: [c.first_packet, c.span.packet],
            plaintext: [c.plain.start, c.plain.end],
        }
    }

    /// One line for text outputs: `TLS record #12 (packets 40-41, TCP bytes 1200..1290, plaintext 300..370)`.
    pub fn describe(&self) -> String {
        let packets = match self.packets {
            [a, b] if a == b => format!("packet {a}"),
            [a, b] => format!("packets {a}-{b}"),
        };
        format!(
            "TLS record #{} ({packets}, TCP bytes {}..{}, plaintext {}..{})",
            self.record,
            self.tcp_offset,
            self.tcp_offset + self.length,
            self.plaintext[0],
            self.plaintext[1]
        )
    }
}

impl<'a> FrameRecord<'a> {
    /// The record of `f`; `verbose` adds each field's HPACK encoding and the dynamic table.
    pub fn new(f: &'a Frame, verbose: bool) -> Self {
        let block = f.block.as_deref();
        let verbose_block = block.filter(|_| verbose);
        FrameRecord {
            ts: f.ts,
            conn: f.conn,
            dir: f.dir,
            stream_id: f.header.stream_id,
            type_name: f.header.kind.name(),
            type_id: f.header.kind.0,
            flags: f.header.kind.flag_names(f.header.flags),
            flags_raw: f.header.flags,
            length: f.header.length,
            offset: f.offset,
            packet: f.packet,
            tls_records: f.carriers.iter().map(|c| CarrierRecord::new(c)).collect(),
            body: body_fields(f),
            headers: block.map(|b| b.decoded.fields.iter().map(field_text).collect()),
            unknown_header_fields: block.map(|b| b.decoded.unknown),
            hpack: verbose_block.map(|b| {
                b.decoded
                    .fields
                    .iter()
                    .map(|fl| {
                        let (name, value) = field_text(fl);
                        let slot = fl.slot.filter(|_| fl.is_unknown()).map(|s| s.to_string());
                        HpackField { name, value, repr: &fl.repr, bytes: [fl.range.start, fl.range.end], slot }
                    })
                    .collect()
            }),
            table_size_updates: verbose_block.map(|b| b.decoded.size_updates.as_slice()),
            dynamic_table: verbose_block.and_then(|b| {
                let entries = b.table_after.as_ref()?;
                let entries = entries
                    .iter()
                    .enumerate()
                    .map(|(i, (name, value, size))| TableEntry { index: 62 + i, name, value, size: *size })
                    .collect();
                Some(TableRecord { size: b.table_size, entries })
            }),
            window: f.flow.as_deref(),
            state: f.state,
            missing_bytes: f.missing.as_ref().map(|r| r.len()),
            notes: &f.notes,
        }
    }
}

fn body_fields(f: &Frame) -> BodyFields {
    let p = &f.payload;
    match &f.body {
        Body::Data { pad_len, data } => BodyFields::Data { data_length: data.len(), pad_length: *pad_len },
        Body::Headers { pad_len, priority, .. } => BodyFields::Headers { pad_length: *pad_len, priority: *priority },
        Body::PushPromise { promised_stream_id, .. } => {
            BodyFields::PushPromise { promised_stream_id: *promised_stream_id }
        }
        Body::Priority(pr) => BodyFields::Priority { priority: *pr },
        Body::RstStream { error_code } => {
            BodyFields::RstStream { error_code: *error_code, error_name: error_name(*error_code) }
        }
        Body::Settings { ack, params } => BodyFields::Settings {
            ack: *ack,
            settings: params
                .iter()
                .map(|(id, v)| SettingField { id: *id, name: setting_name(*id), value: *v })
                .collect(),
        },
        Body::Ping { ack, opaque } => BodyFields::Ping { ack: *ack, opaque: hex(opaque) },
        Body::GoAway { last_stream_id, error_code, debug } => BodyFields::GoAway {
            last_stream_id: *last_stream_id,
            error_code: *error_code,
            error_name: error_name(*error_code),
            debug: p.get(debug.clone()).map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default(),
        },
        Body::WindowUpdate { increment } => BodyFields::WindowUpdate { increment: *increment },
        Body::Continuation { .. } => BodyFields::Nothing {},
        Body::Unknown => BodyFields::Unknown { payload_hex: hex(p) },
        Body::Malformed(why) => BodyFields::Malformed { malformed: why.to_string() },
    }
}
