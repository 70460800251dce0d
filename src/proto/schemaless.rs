//! Decoding a protobuf message without its schema: every field with its
//! number and wire type, and the readings the wire type allows. Never
//! presented as a schema decode (it goes in `fields`, not `json`).

use super::budget::{schemaless_cost, RenderBudget, MAX_NESTING};
use super::wire::{self, Value, WireType};
use base64::Engine;
use serde_json::{json, Value as Json};

/// Decodes `b` as a message of unknown type, within the default budget.
/// `Err` when it is not a well-formed protobuf message (with how far it got).
pub fn decode(b: &[u8]) -> Result<Json, String> {
    decode_within(b, &mut RenderBudget::new(super::budget::DEFAULT_RENDER_BYTES)).map(|(j, _)| j)
}

/// Decodes `b` spending from `budget`; the second value says where the
/// output was cut when the budget ran out.
pub fn decode_within(b: &[u8], budget: &mut RenderBudget) -> Result<(Json, Option<String>), String> {
    let mut walk = Walk { budget, cut: false };
    let (fields, stopped_at) = walk.fields(b, 0)?;
    let marker = stopped_at.map(|at| walk.budget.truncated(at, b.len()));
    Ok((Json::Array(fields), marker))
}

/// One decode: the budget, and whether it ran out (every level then stops).
struct Walk<'b> {
    budget: &'b mut RenderBudget,
    cut: bool,
}

impl Walk<'_> {
    /// The fields of `b`, and the byte where they stop when the budget ran out.
    fn fields(&mut self, b: &[u8], depth: usize) -> Result<(Vec<Json>, Option<usize>), String> {
        let mut out = Vec::new();
        let mut at = 0;
        let mut groups: Vec<(u32, Vec<Json>)> = Vec::new();
        while at < b.len() {
            let start = at;
            let (number, wt, value) = wire::field(b, &mut at)
                .ok_or_else(|| format!("not a protobuf message: malformed field at byte {start}"))?;
            if number == 0 {
                return Err(format!("not a protobuf message: field number 0 at byte {start}"));
            }
            let item = match (wt, value) {
                (WireType::StartGroup, _) if depth + groups.len() >= MAX_NESTING => {
                    at = skip_group(b, at, number).ok_or_else(|| format!("group {number} never closed"))?;
                    json!({"field": number, "wire_type": "group", "length": at - start,
                        "not_decoded": format!("groups nested deeper than {MAX_NESTING} levels")})
                }
                (WireType::StartGroup, _) => {
                    groups.push((number, std::mem::take(&mut out)));
                    continue;
                }
                (WireType::EndGroup, _) => {
                    let (open, outer) =
                        groups.pop().ok_or_else(|| format!("end of group {number} without its start"))?;
                    if open != number {
                        return Err(format!("group {open} closed as {number}"));
                    }
                    let inner = std::mem::replace(&mut out, outer);
                    json!({"field": number, "wire_type": "group", "fields": inner})
                }
                (_, Value::Len(v)) => self.len_field(number, v, depth)?,
                (_, Value::Varint(v)) => json!({
                    "field": number, "wire_type": "varint",
                    "unsigned": v.to_string(), "signed": (v as i64).to_string(), "zigzag": zigzag(v).to_string(),
                }),
                (_, Value::Fixed64(v)) => json!({
                    "field": number, "wire_type": "fixed64",
                    "unsigned": v.to_string(), "signed": (v as i64).to_string(), "double": finite(f64::from_bits(v)),
                }),
                (_, Value::Fixed32(v)) => json!({
                    "field": number, "wire_type": "fixed32",
                    "unsigned": v, "signed": v as i32, "float": finite(f64::from(f32::from_bits(v))),
                }),
                (_, Value::Group) => continue,
            };
            if self.cut || !self.budget.spend(schemaless_cost(0)) {
                self.cut = true;
                // Groups left open by the cut are shown as far as they got.
                while let Some((number, outer)) = groups.pop() {
                    let inner = std::mem::replace(&mut out, outer);
                    out.push(json!({"field": number, "wire_type": "group", "fields": inner}));
                }
                if matches!(item.get("message"), Some(Json::Array(a)) if !a.is_empty()) {
                    out.push(item);
                }
                return Ok((out, Some(start)));
            }
            out.push(item);
        }
        if let Some((open, _)) = groups.last() {
            return Err(format!("group {open} never closed"));
        }
        Ok((out, None))
    }

    /// A length-delimited field: a nested message when it parses completely
    /// and plausibly, else text when it is UTF-8, else bytes.
    fn len_field(&mut self, number: u32, v: &[u8], depth: usize) -> Result<Json, String> {
        let text = std::str::from_utf8(v).ok();
        let printable = text
            .is_some_and(|t| !t.is_empty() && t.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')));
        if !printable && !v.is_empty() && depth + 1 < MAX_NESTING {
            let before = self.budget.left();
            match self.fields(v, depth + 1) {
                Ok((inner, _)) if !inner.is_empty() => {
                    return Ok(json!({"field": number, "wire_type": "len", "length": v.len(), "message": inner}));
                }
                // Not a message after all: what the attempt spent is not spent.
                _ if !self.cut => self.budget.restore(before),
                _ => {}
            }
        }
        if !self.budget.spend(schemaless_cost(v.len())) {
            self.cut = true;
            return Ok(json!({"field": number, "wire_type": "len", "length": v.len()}));
        }
        if let Some(t) = text {
            return Ok(json!({"field": number, "wire_type": "len", "length": v.len(), "string": t}));
        }
        let mut j = json!({"field": number, "wire_type": "len", "length": v.len(), "bytes": base64::engine::general_purpose::STANDARD.encode(v)});
        // The reading costs a number per byte at worst: only when paid for.
        let readings = v.iter().filter(|x| **x & 0x80 == 0).count();
        if let Some(packed) = packed_varints(v).filter(|_| self.budget.spend(readings.saturating_mul(64))) {
            // Repeated numbers are packed this way; show the reading, as a reading.
            if let Some(o) = j.as_object_mut() {
                o.insert("as_packed_varints".into(), json!(packed));
            }
        }
        Ok(j)
    }
}

/// Where the group `number` whose start marker ends at `at` ends (just past
/// its end marker), counting nested groups without descending into them.
fn skip_group(b: &[u8], mut at: usize, number: u32) -> Option<usize> {
    let mut open: Vec<u32> = vec![number];
    while let Some(&top) = open.last() {
        let (n, wt, _) = wire::field(b, &mut at)?;
        match wt {
            WireType::StartGroup => open.push(n),
            WireType::EndGroup if n == top => {
                open.pop();
            }
            WireType::EndGroup => return None,
            _ => {}
        }
    }
    Some(at)
}

fn packed_varints(v: &[u8]) -> Option<Vec<String>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < v.len() {
        out.push((wire::varint(v, &mut at)? as i64).to_string());
    }
    (!out.is_empty()).then_some(out)
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// NaN and infinities are not JSON numbers: shown as strings.
fn finite(f: f64) -> Json {
    if f.is_finite() {
        json!(f)
    } else {
        json!(f.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_type_and_its_readings() {
        // 1: varint 3 (zigzag -2); 2: "sku-1"; 3: nested {1: 7}; 4: fixed32 103.625f; 5: fixed64 2.9; 6: raw bytes
        let mut b = vec![0x08, 0x03, 0x12, 5];
        b.extend_from_slice(b"sku-1");
        b.extend_from_slice(&[0x1a, 2, 0x08, 7, 0x25]);
        b.extend_from_slice(&103.625f32.to_le_bytes());
        b.push(0x29);
        b.extend_from_slice(&2.9f64.to_le_bytes());
        b.extend_from_slice(&[0x32, 3, 0xff, 0xfe, 0x00]);
        let j = decode(&b).unwrap();
        assert_eq!(j[0]["zigzag"], "-2");
        assert_eq!(j[1]["string"], "sku-1");
        assert_eq!(j[2]["message"][0]["unsigned"], "7");
        assert_eq!(j[3]["float"], 103.625);
        assert_eq!(j[4]["double"], 2.9);
        assert_eq!(j[5]["bytes"], "//4A");
    }

    #[test]
    fn packed_numbers_and_negative_varints() {
        let j = decode(&[
            0x82, 0x01, 3, 0x96, 0x01, 0x05, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ])
        .unwrap();
        assert_eq!(j[0]["field"], 16);
        assert_eq!(j[0]["as_packed_varints"], json!(["150", "5"]));
        assert_eq!(j[1]["signed"], "-1");
    }

    #[test]
    fn garbage_is_not_a_message() {
        assert!(decode(&[0x12, 50, 1]).is_err());
        assert!(decode(&[0x00, 1]).unwrap_err().contains("field number 0"));
        // Text that happens to parse is still shown as text.
        let j = decode(&[0x0a, 3, b'a', b'b', b'c']).unwrap();
        assert_eq!(j[0]["string"], "abc");
    }

    #[test]
    fn groups_nest() {
        let j = decode(&[0x0b, 0x10, 0x01, 0x0c]).unwrap();
        assert_eq!(j[0]["wire_type"], "group");
        assert_eq!(j[0]["fields"][0]["field"], 2);
        assert!(decode(&[0x0b, 0x10, 0x01]).is_err());
    }
}
