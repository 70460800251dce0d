//! The `frames` table: one row per HTTP/2 frame (and per connection
//! preface and lost stretch of bytes), the records `frames --format json`
//! writes.

use super::{json_text, optional, required, Column, Kind, Table};
use crate::present::frame_record::{FrameRecord, LostRecord, PrefaceRecord};
use crate::present::text::serde_name;
use std::io;

/// The columns of the `frames` table, in order.
pub const COLUMNS: &[Column] = &[
    required("capture_file", Kind::Text, "the capture file the frame was read from, as given"),
    required(
        "record",
        Kind::Text,
        "`frame`, `preface` (the client's connection preface) or `lost` (bytes the capture never held)",
    ),
    required("conn_id", Kind::Int64, "the connection's number in its capture"),
    required("dir", Kind::Text, "`client_to_server` or `server_to_client`"),
    required("ts", Kind::Timestamp, "time of the packet that completed it"),
    optional("packet", Kind::Int64, "that packet's number in the capture (1-based, as tshark's frame.number)"),
    optional("offset", Kind::Int64, "offset of its first byte in the direction's byte stream"),
    optional("stream_id", Kind::Int64, "HTTP/2 stream id (0 for the connection)"),
    optional(
        "type",
        Kind::Text,
        "frame type: `DATA`, `HEADERS`, `RST_STREAM`, `SETTINGS`, `PING`, `GOAWAY`, `WINDOW_UPDATE`, ...",
    ),
    optional("type_id", Kind::Int32, "frame type number"),
    optional("flags", Kind::Text, "flag names joined by `|` (`END_STREAM|END_HEADERS`)"),
    optional("flags_raw", Kind::Int32, "the flags byte"),
    optional("length", Kind::Int64, "payload length (for `preface`, its 24 bytes)"),
    optional("error_code", Kind::Int64, "the error code of RST_STREAM and GOAWAY"),
    optional("error_name", Kind::Text, "its name"),
    optional("grpc_status", Kind::Text, "the `grpc-status` of a header block that carried one"),
    optional("lost_bytes", Kind::Int64, "for `lost`: bytes missing"),
    optional("body", Kind::Text, "JSON: the frame type's own fields, as in `frames --format json`"),
    optional("headers", Kind::Text, "JSON: the header block it completed, decoded (`[[name, value], ...]`)"),
    optional("notes", Kind::Text, "JSON: problems and remarks"),
];

/// Appends the row of one frame.
pub fn add_frame(table: &mut Table, capture: &str, rec: &FrameRecord) -> io::Result<()> {
    let body = serde_json::to_value(&rec.body).unwrap_or_default();
    let error_code = body.get("error_code").and_then(serde_json::Value::as_i64);
    let error_name = body.get("error_name").and_then(serde_json::Value::as_str).map(str::to_string);
    let headers = rec.headers.as_ref();
    let grpc_status = headers
        .and_then(|h| h.iter().find(|(n, _)| n.as_deref() == Some("grpc-status")))
        .and_then(|(_, v)| v.as_deref());
    table
        .row()
        .text("capture_file", Some(capture))
        .text("record", Some("frame"))
        .int64("conn_id", Some(rec.conn as i64))
        .text("dir", serde_name(&rec.dir).as_deref())
        .time("ts", Some(rec.ts))
        .int64("packet", Some(rec.packet as i64))
        .int64("offset", Some(rec.offset as i64))
        .int64("stream_id", Some(i64::from(rec.stream_id)))
        .text("type", Some(&rec.type_name))
        .int32("type_id", Some(i32::from(rec.type_id)))
        .text("flags", Some(&rec.flags.join("|")))
        .int32("flags_raw", Some(i32::from(rec.flags_raw)))
        .int64("length", Some(i64::from(rec.length)))
        .int64("error_code", error_code)
        .text("error_name", error_name.as_deref())
        .text("grpc_status", grpc_status)
        .int64("lost_bytes", None)
        .text("body", Some(&body.to_string()))
        .text("headers", headers.map(json_text).as_deref())
        .text("notes", Some(&json_text(rec.notes)));
    table.maybe_flush()
}

/// A record that is not a frame: the preface, or lost bytes.
struct Marker<'a> {
    record: &'static str,
    conn: crate::tcp::ConnId,
    dir: crate::tcp::Dir,
    ts: crate::time::Timestamp,
    type_name: &'a str,
    packet: Option<u64>,
    offset: Option<u64>,
    length: Option<usize>,
    lost_bytes: Option<u64>,
}

fn add_marker(table: &mut Table, capture: &str, m: Marker) -> io::Result<()> {
    let n = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
    table
        .row()
        .text("capture_file", Some(capture))
        .text("record", Some(m.record))
        .int64("conn_id", n(Some(m.conn)))
        .text("dir", serde_name(&m.dir).as_deref())
        .time("ts", Some(m.ts))
        .int64("packet", n(m.packet))
        .int64("offset", n(m.offset))
        .int64("stream_id", None)
        .text("type", Some(m.type_name))
        .int32("type_id", None)
        .text("flags", None)
        .int32("flags_raw", None)
        .int64("length", n(m.length.map(|l| l as u64)))
        .int64("error_code", None)
        .text("error_name", None)
        .text("grpc_status", None)
        .int64("lost_bytes", n(m.lost_bytes))
        .text("body", None)
        .text("headers", None)
        .text("notes", None);
    table.maybe_flush()
}

/// Appends the row of a connection preface.
pub fn add_preface(table: &mut Table, capture: &str, rec: &PrefaceRecord) -> io::Result<()> {
    let (record, type_name) = ("preface", rec.type_name);
    let (packet, offset, length) = (Some(rec.packet), Some(rec.offset), Some(rec.length));
    let m = Marker {
        record,
        conn: rec.conn,
        dir: rec.dir,
        ts: rec.ts,
        type_name,
        packet,
        offset,
        length,
        lost_bytes: None,
    };
    add_marker(table, capture, m)
}

/// Appends the row of bytes the capture lost.
pub fn add_lost(table: &mut Table, capture: &str, rec: &LostRecord) -> io::Result<()> {
    let (record, type_name, lost_bytes) = ("lost", rec.type_name, Some(rec.lost_bytes));
    let m = Marker {
        record,
        conn: rec.conn,
        dir: rec.dir,
        ts: rec.ts,
        type_name,
        packet: None,
        offset: None,
        length: None,
        lost_bytes,
    };
    add_marker(table, capture, m)
}
