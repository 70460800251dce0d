//! Protobuf wire bytes straight to proto3 JSON text, guided by the message
//! descriptor: no `DynamicMessage` is built and nothing is walked twice.
//!
//! It renders exactly what prost-reflect's canonical mapping renders
//! (`SerializeOptions::new()`: fields in number order by their JSON names,
//! fields at their default value left out unless they track presence,
//! 64-bit integers as strings, bytes as base64, enums by name) with map
//! keys sorted, as the rest of the JSON output sorts them. Where it could
//! differ it declines and the caller decodes the slow way: proto2 files,
//! well-known types (their JSON has its own rules), groups, extensions, a
//! singular field or two members of one oneof sent more than once (the
//! decoder merges or replaces them), bytes that do not parse, nesting past
//! the limit. `tests/transcode.rs` holds it to that on every message of the fixtures
//! and the shared corpus, and on mutations of them.

use super::wire::{self, Value as Raw, WireType};
use base64::prelude::{Engine, BASE64_STANDARD};
use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor, Syntax};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `bytes` as `desc` in JSON text, with the count of fields outside the
/// schema; `None` when only the decoder can render it faithfully.
pub fn to_json(desc: &MessageDescriptor, bytes: &[u8]) -> Option<(String, usize)> {
    let mut out = String::with_capacity(bytes.len() * 2 + 2);
    let mut unknown = 0;
    message(desc, bytes, 0, &mut out, &mut unknown)?;
    Some((out, unknown))
}

/// The fields of a message in wire order, read as the decoder reads them:
/// (number, value). `None` when one does not parse, or is a group (the
/// decoder's business).
fn fields(b: &[u8]) -> Option<Vec<(u32, Raw<'_>)>> {
    let (mut out, mut at) = (Vec::new(), 0);
    while at < b.len() {
        let (number, _, raw) = wire::strict_field(b, &mut at)?;
        if raw == Raw::Group {
            return None;
        }
        out.push((number, raw));
    }
    Some(out)
}

/// Writes message `b` of type `desc`, counting the fields outside it.
fn message(desc: &MessageDescriptor, b: &[u8], depth: usize, out: &mut String, unknown: &mut usize) -> Option<()> {
    if depth > super::budget::MAX_NESTING || desc.parent_file().syntax() != Syntax::Proto3 {
        return None;
    }
    if let Some(name) = desc.full_name().strip_prefix("google.protobuf.") {
        return well_known(name, b, out, unknown);
    }
    let mut by_number: BTreeMap<u32, (FieldDescriptor, Vec<Raw<'_>>)> = BTreeMap::new();
    for (number, raw) in fields(b)? {
        match desc.get_field(number) {
            Some(f) => by_number.entry(number).or_insert_with(|| (f, Vec::new())).1.push(raw),
            None if desc.get_extension(number).is_some() => return None,
            None => *unknown += 1,
        }
    }
    // Two members of one oneof: the decoder keeps the last one only.
    let mut oneofs = Vec::new();
    for (f, _) in by_number.values() {
        if let Some(o) = f.containing_oneof() {
            if oneofs.contains(&o) {
                return None;
            }
            oneofs.push(o);
        }
    }
    out.push('{');
    let mut first = true;
    for (f, raws) in by_number.values() {
        let start = out.len();
        if !first {
            out.push(',');
        }
        write_str(out, f.json_name());
        out.push(':');
        let written = if f.is_map() {
            map(f, raws, depth, out)?
        } else if f.cardinality() == Cardinality::Repeated {
            list(f, raws, depth, out, unknown)?
        } else {
            single(f, raws, depth, out, unknown)?
        };
        if written {
            first = false;
        } else {
            out.truncate(start);
        }
    }
    out.push('}');
    Some(())
}

/// The well-known types whose JSON is a string (RFC 3339 times, `1.5s`
/// durations), as prost-reflect writes them; the others are declined.
fn well_known(name: &str, b: &[u8], out: &mut String, unknown: &mut usize) -> Option<()> {
    use prost::Message;
    // Both have seconds (1) and nanos (2); the decoder counts any other field.
    *unknown += fields(b)?.iter().filter(|(n, _)| *n > 2).count();
    // prost-reflect's ranges: outside them its mapping refuses the value.
    const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;
    const DURATION_SECONDS: u64 = 315_576_000_000;
    let text = match name {
        "Timestamp" => {
            let t = prost_types::Timestamp::decode(b).ok()?;
            (TIMESTAMP_SECONDS.contains(&t.seconds) && (0..1_000_000_000).contains(&t.nanos)).then(|| t.to_string())?
        }
        "Duration" => {
            let d = prost_types::Duration::decode(b).ok()?;
            let same_sign = d.seconds == 0 || d.nanos == 0 || (d.seconds < 0) == (d.nanos < 0);
            (d.seconds.unsigned_abs() <= DURATION_SECONDS && d.nanos.unsigned_abs() < 1_000_000_000 && same_sign)
                .then(|| d.to_string())?
        }
        _ => return None,
    };
    write_str(out, &text);
    Some(())
}

/// A singular field: written unless it holds its default and has no
/// presence (returns whether it was written).
fn single(f: &FieldDescriptor, raws: &[Raw<'_>], depth: usize, out: &mut String, unknown: &mut usize) -> Option<bool> {
    let [raw] = raws else { return None };
    let kind = f.kind();
    if let Kind::Message(m) = &kind {
        let Raw::Len(b) = raw else { return None };
        message(m, b, depth + 1, out, unknown)?;
        return Some(true);
    }
    let start = out.len();
    let is_default = scalar(&kind, *raw, out)?;
    if is_default && !f.supports_presence() {
        out.truncate(start);
        return Some(false);
    }
    Some(true)
}

/// A repeated field, packed or not: written when it has elements.
fn list(f: &FieldDescriptor, raws: &[Raw<'_>], depth: usize, out: &mut String, unknown: &mut usize) -> Option<bool> {
    let kind = f.kind();
    out.push('[');
    let mut n = 0;
    for raw in raws {
        match (&kind, raw) {
            (Kind::Message(m), Raw::Len(b)) => {
                comma(out, &mut n);
                message(m, b, depth + 1, out, unknown)?;
            }
            (Kind::String | Kind::Bytes, raw) => {
                comma(out, &mut n);
                scalar(&kind, *raw, out)?;
            }
            (_, Raw::Len(packed)) => {
                let (wt, mut at) = (wire_of(&kind)?, 0);
                while at < packed.len() {
                    let raw = wire::value(packed, &mut at, wt, true)?;
                    comma(out, &mut n);
                    scalar(&kind, raw, out)?;
                }
            }
            (_, raw) => {
                comma(out, &mut n);
                scalar(&kind, *raw, out)?;
            }
        }
    }
    out.push(']');
    Some(n > 0)
}

/// A map field: its entries by key, the last one of a key winning, the keys
/// sorted as JSON text.
fn map(f: &FieldDescriptor, raws: &[Raw<'_>], depth: usize, out: &mut String) -> Option<bool> {
    let Kind::Message(entry) = f.kind() else { return None };
    let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    for raw in raws {
        let Raw::Len(b) = raw else { return None };
        let (mut key, mut value) = (None, None);
        for (number, raw) in fields(b)? {
            match number {
                1 => key = Some(raw),
                2 => value = Some(raw),
                _ => return None,
            }
        }
        let mut k = String::new();
        match key {
            Some(raw) => drop(scalar(&key_field.kind(), raw, &mut k)?),
            None => default_scalar(&key_field.kind(), &mut k)?,
        }
        // Sorted as the keys' text, as a JSON object's keys are sorted.
        let k = if k.starts_with('"') { serde_json::from_str::<String>(&k).ok()? } else { k };
        // The decoder's count of unknown fields does not look inside maps.
        let (mut v, mut ignored) = (String::new(), 0);
        match (value_field.kind(), value) {
            (Kind::Message(m), Some(Raw::Len(b))) => message(&m, b, depth + 1, &mut v, &mut ignored)?,
            (Kind::Message(m), None) => message(&m, &[], depth + 1, &mut v, &mut ignored)?,
            (kind, Some(raw)) => drop(scalar(&kind, raw, &mut v)?),
            (kind, None) => default_scalar(&kind, &mut v)?,
        }
        entries.insert(k, v);
    }
    out.push('{');
    let mut n = 0;
    for (k, v) in &entries {
        comma(out, &mut n);
        write_str(out, k);
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    Some(n > 0)
}

fn comma(out: &mut String, n: &mut usize) {
    if *n > 0 {
        out.push(',');
    }
    *n += 1;
}

/// The wire type of a packable scalar.
fn wire_of(kind: &Kind) -> Option<WireType> {
    Some(match kind {
        Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Sint32 | Kind::Sint64 | Kind::Bool => {
            WireType::Varint
        }
        Kind::Enum(_) => WireType::Varint,
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => WireType::Fixed64,
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => WireType::Fixed32,
        _ => return None,
    })
}

/// The JSON of a scalar's default value.
fn default_scalar(kind: &Kind, out: &mut String) -> Option<()> {
    let raw = match kind {
        Kind::String | Kind::Bytes => Raw::Len(&[]),
        k => match wire_of(k)? {
            WireType::Fixed64 => Raw::Fixed64(0),
            WireType::Fixed32 => Raw::Fixed32(0),
            _ => Raw::Varint(0),
        },
    };
    scalar(kind, raw, out).map(drop)
}

/// Writes a scalar; returns whether it is the type's default value.
fn scalar(kind: &Kind, raw: Raw<'_>, out: &mut String) -> Option<bool> {
    match (kind, raw) {
        (Kind::String, Raw::Len(b)) => {
            write_str(out, std::str::from_utf8(b).ok()?);
            Some(b.is_empty())
        }
        (Kind::Bytes, Raw::Len(b)) => {
            out.push('"');
            BASE64_STANDARD.encode_string(b, out);
            out.push('"');
            Some(b.is_empty())
        }
        (Kind::Enum(e), Raw::Varint(v)) => {
            let n = v as i32;
            if e.full_name().starts_with("google.protobuf.") {
                return None;
            }
            match e.get_value(n) {
                Some(ev) => write_str(out, ev.name()),
                None => write!(out, "{n}").ok()?,
            }
            Some(n == 0)
        }
        (Kind::Bool, Raw::Varint(v)) => {
            out.push_str(if v != 0 { "true" } else { "false" });
            Some(v == 0)
        }
        (Kind::Int32, Raw::Varint(v)) => number(out, v as i32, false),
        (Kind::Sint32, Raw::Varint(v)) => number(out, zigzag(v) as i32, false),
        (Kind::Uint32, Raw::Varint(v)) => number(out, v as u32, false),
        (Kind::Int64, Raw::Varint(v)) => number(out, v as i64, true),
        (Kind::Sint64, Raw::Varint(v)) => number(out, zigzag(v), true),
        (Kind::Uint64, Raw::Varint(v)) => number(out, v, true),
        (Kind::Fixed32, Raw::Fixed32(v)) => number(out, v, false),
        (Kind::Sfixed32, Raw::Fixed32(v)) => number(out, v as i32, false),
        (Kind::Fixed64, Raw::Fixed64(v)) => number(out, v, true),
        (Kind::Sfixed64, Raw::Fixed64(v)) => number(out, v as i64, true),
        (Kind::Float, Raw::Fixed32(v)) => {
            float(out, f64::from(f32::from_bits(v)), || serde_json::to_string(&f32::from_bits(v)).ok())
        }
        (Kind::Double, Raw::Fixed64(v)) => {
            let x = f64::from_bits(v);
            float(out, x, || serde_json::to_string(&x).ok())
        }
        // A wire type the field's type does not take: the decoder refuses it.
        _ => None,
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// An integer, quoted when 64-bit; whether it is zero.
fn number<T: std::fmt::Display + Default + PartialEq>(out: &mut String, v: T, quoted: bool) -> Option<bool> {
    if quoted {
        write!(out, "\"{v}\"").ok()?;
    } else {
        write!(out, "{v}").ok()?;
    }
    Some(v == T::default())
}

/// A float as serde_json writes it, its non-finite values as the mapping's
/// strings; whether it is zero (negative zero too, as the decoder sees it).
fn float(out: &mut String, x: f64, text: impl Fn() -> Option<String>) -> Option<bool> {
    if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x == f64::INFINITY {
        out.push_str("\"Infinity\"");
    } else if x == f64::NEG_INFINITY {
        out.push_str("\"-Infinity\"");
    } else {
        out.push_str(&text()?);
    }
    Some(x == 0.0)
}

/// A JSON string as serde_json escapes it.
fn write_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}
