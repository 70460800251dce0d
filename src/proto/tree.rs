//! A protobuf message as a tree of fields with the bytes each occupies, so
//! the UI can highlight a field's bytes. With a schema, fields get their
//! names and typed values; without one, the wire-format readings.

use super::wire::{self, Value, WireType};
use prost_reflect::{Kind, MessageDescriptor};
use std::ops::Range;

/// One field (or one value of a packed field).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldNode {
    /// What to show.
    pub label: String,
    /// Its bytes in the message.
    pub range: Range<usize>,
    /// Sub-fields of a nested message.
    pub children: Vec<FieldNode>,
}

const MAX_DEPTH: usize = 32;

/// Fields one message's tree holds at most. A tree node costs a hundred
/// bytes or more, so 60 MiB of two-byte fields would be gigabytes of nodes
/// for one selected row; past the limit a closing node says which bytes
/// were not shown (the bytes pane still has them all).
pub const MAX_FIELDS: usize = 10_000;

/// Fields all the messages of one call's tree hold at most together.
pub const MAX_CALL_FIELDS: usize = 50_000;

/// Values of one packed field listed at most; the label counts the rest.
pub const MAX_PACKED_VALUES: usize = 64;

/// The fields of `bytes` (a message of type `desc`, when known), spending
/// a budget shared with other messages (a tree of many messages): at most
/// `left` fields, fewer when it runs out. A caller gives one message at
/// most [`MAX_FIELDS`].
pub fn fields_within(
    bytes: &[u8],
    desc: Option<&MessageDescriptor>,
    left: &mut usize,
) -> Result<Vec<FieldNode>, String> {
    walk(bytes, 0, desc, 0, left)
}

/// The node that stands for the fields the budget left out.
fn not_shown(b: &[u8], base: usize, at: usize) -> FieldNode {
    FieldNode {
        label: format!(
            "… bytes {}..{} not shown: a message tree stops at {MAX_FIELDS} fields, and all a call's messages at {MAX_CALL_FIELDS} (the bytes pane has them all)",
            base + at,
            base + b.len()
        ),
        range: base + at..base + b.len(),
        children: Vec::new(),
    }
}

fn walk(
    b: &[u8],
    base: usize,
    desc: Option<&MessageDescriptor>,
    depth: usize,
    left: &mut usize,
) -> Result<Vec<FieldNode>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        if *left == 0 {
            out.push(not_shown(b, base, at));
            break;
        }
        *left -= 1;
        let start = at;
        let (n, wt, v, r) =
            wire::field_with_range(b, &mut at).ok_or_else(|| format!("malformed field at byte {}", base + start))?;
        let range = base + r.start..base + r.end;
        let field = desc.and_then(|d| d.get_field(n));
        let name = match (&field, desc) {
            (Some(f), _) => format!("{} ({n})", f.name()),
            (None, Some(_)) => format!("field {n} (not in the schema)"),
            (None, None) => format!("field {n} ({})", wt.name()),
        };
        let kind = field.as_ref().map(|f| f.kind());
        let (text, children) = match (v, &kind) {
            (Value::Len(inner), Some(Kind::Message(m))) if depth < MAX_DEPTH => {
                let payload_start = range.end - inner.len();
                (m.full_name().to_string(), walk(inner, payload_start, Some(m), depth + 1, left).unwrap_or_default())
            }
            (Value::Len(inner), Some(Kind::String)) => (format!("{:?}", String::from_utf8_lossy(inner)), Vec::new()),
            (Value::Len(inner), Some(Kind::Bytes)) => (bytes_text(inner), Vec::new()),
            (Value::Len(inner), Some(k)) => (packed(inner, k), Vec::new()),
            (Value::Len(inner), None) => schemaless_len(inner, range.end - inner.len(), depth, left),
            (Value::Varint(x), Some(k)) => (varint_text(x, k), Vec::new()),
            (Value::Varint(x), None) => (format!("{x} (signed {}, zigzag {})", x as i64, zigzag(x)), Vec::new()),
            (Value::Fixed64(x), Some(Kind::Double)) => (f64::from_bits(x).to_string(), Vec::new()),
            (Value::Fixed64(x), Some(Kind::Sfixed64)) => ((x as i64).to_string(), Vec::new()),
            (Value::Fixed64(x), _) => (format!("{x} (double {})", f64::from_bits(x)), Vec::new()),
            (Value::Fixed32(x), Some(Kind::Float)) => (f32::from_bits(x).to_string(), Vec::new()),
            (Value::Fixed32(x), Some(Kind::Sfixed32)) => ((x as i32).to_string(), Vec::new()),
            (Value::Fixed32(x), _) => (format!("{x} (float {})", f32::from_bits(x)), Vec::new()),
            (Value::Group, _) => {
                (if wt == WireType::StartGroup { "group start" } else { "group end" }.to_string(), Vec::new())
            }
        };
        out.push(FieldNode { label: format!("{name}: {text}"), range, children });
    }
    Ok(out)
}

fn schemaless_len(inner: &[u8], base: usize, depth: usize, left: &mut usize) -> (String, Vec<FieldNode>) {
    let text = std::str::from_utf8(inner).ok();
    let printable =
        text.is_some_and(|t| !t.is_empty() && t.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')));
    if !printable && !inner.is_empty() && depth < MAX_DEPTH {
        // A failed guess gives back the budget it spent.
        let before = *left;
        match walk(inner, base, None, depth + 1, left) {
            Ok(children) if !children.is_empty() => {
                return ("message? (parses as one; no schema to say)".into(), children);
            }
            _ => *left = before,
        }
    }
    match text {
        Some(t) => (format!("{t:?}"), Vec::new()),
        None => (bytes_text(inner), Vec::new()),
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn bytes_text(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
    format!("{} bytes: {}{}", b.len(), hex.join(" "), if b.len() > 16 { " …" } else { "" })
}

fn varint_text(x: u64, k: &Kind) -> String {
    match k {
        Kind::Bool => (x != 0).to_string(),
        Kind::Int32 => (x as i32).to_string(),
        Kind::Int64 => (x as i64).to_string(),
        Kind::Sint32 | Kind::Sint64 => zigzag(x).to_string(),
        Kind::Enum(e) => match e.get_value(x as i32) {
            Some(v) => format!("{} ({x})", v.name()),
            None => format!("{x} (not a value of {})", e.full_name()),
        },
        _ => x.to_string(),
    }
}

/// A packed repeated scalar field.
fn packed(b: &[u8], k: &Kind) -> String {
    let mut vals = Vec::new();
    let mut at = 0;
    while at < b.len() {
        if vals.len() == MAX_PACKED_VALUES {
            return format!("[{}, … and more in bytes {at}..{}]", vals.join(", "), b.len());
        }
        let v = match k {
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => {
                let x = b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes);
                at += 8;
                x.map(|x| if matches!(k, Kind::Double) { f64::from_bits(x).to_string() } else { x.to_string() })
            }
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => {
                let x = b.get(at..at + 4).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes);
                at += 4;
                x.map(|x| if matches!(k, Kind::Float) { f32::from_bits(x).to_string() } else { x.to_string() })
            }
            _ => wire::varint(b, &mut at).map(|x| varint_text(x, k)),
        };
        match v {
            Some(v) => vals.push(v),
            None => return bytes_text(b),
        }
    }
    format!("[{}]", vals.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Schema, SchemaSources};

    /// One message's fields within the per-message budget.
    fn fields(bytes: &[u8], desc: Option<&MessageDescriptor>) -> Result<Vec<FieldNode>, String> {
        let mut left = MAX_FIELDS;
        fields_within(bytes, desc, &mut left)
    }

    #[test]
    fn fields_carry_their_bytes_and_schema_names() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protos");
        let s = Schema::load(&SchemaSources { proto_paths: vec![root], ..Default::default() }).unwrap();
        let desc = s.message("grpcscope.fixtures.v1.Part").unwrap();
        // sku "a" (field 1), kind GEAR (3 = 2), delta -3 (10, sint32 zigzag 5), updated {seconds 7} (8)
        let msg = [0x0a, 1, b'a', 0x18, 2, 0x50, 5, 0x42, 2, 0x08, 7];
        let t = fields(&msg, Some(&desc)).unwrap();
        assert_eq!(t[0].label, "sku (1): \"a\"");
        assert_eq!(t[0].range, 0..3);
        assert_eq!(t[1].label, "kind (3): GEAR (2)");
        assert_eq!(t[2].label, "delta (10): -3");
        assert_eq!(t[3].children[0].label, "seconds (1): 7");
        assert_eq!(t[3].children[0].range, 9..11, "nested ranges are relative to the whole message");
        let bare = fields(&msg, None).unwrap();
        assert!(bare[0].label.starts_with("field 1 (len): \"a\""));
        assert!(fields(&[0x0a, 5], None).is_err());
    }

    #[test]
    fn a_message_of_many_fields_stops_at_the_budget_and_says_which_bytes() {
        // 20,000 two-byte fields (field 1, varint 0), one level deep in field 2.
        let inner: Vec<u8> = [0x08, 0].repeat(20_000);
        let mut msg = vec![0x12, 0xc0, 0xb8, 0x02]; // field 2, length 40,000
        msg.extend_from_slice(&inner);
        let t = fields(&msg, None).unwrap();
        let kids = &t[0].children;
        assert_eq!(kids.len(), MAX_FIELDS, "the outer field took one of the budget");
        let last = &kids[MAX_FIELDS - 1];
        assert_eq!(last.range, 4 + 2 * (MAX_FIELDS - 1)..40_004, "9,999 fields shown, two bytes each");
        assert!(last.label.contains("not shown: a message tree stops at 10000 fields"), "{}", last.label);
        let mut left = 3;
        assert_eq!(fields_within(&inner, None, &mut left).unwrap().len(), 4, "three fields and the marker");
        assert_eq!(left, 0);
    }

    #[test]
    fn a_long_packed_field_lists_its_first_values_and_says_where_the_rest_are() {
        let vals: Vec<u8> = (0..100u8).collect();
        let text = packed(&vals, &Kind::Int32);
        assert!(text.starts_with("[0, 1, 2,"), "{text}");
        assert!(text.ends_with(", 63, … and more in bytes 64..100]"), "{text}");
    }
}
