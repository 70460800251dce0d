//! A schemaless message on one line, the way `protoc --decode_raw` reads:
//! `1:"slow-1" 2:600 3{1:5}`. The decode itself is `proto::schemaless`'s
//! (a JSON list of fields, for JSON output); this writes that list short
//! for the text listings, stopping at a width.

use base64::Engine;
use serde_json::Value;

/// Nested messages written before `{…}` stands for the rest.
const MAX_DEPTH: usize = 8;

/// The fields of a schemaless decode, in at most about `max` characters
/// (an ellipsis marks where it stopped).
pub fn one_line(fields: &Value, max: usize) -> String {
    let mut out = String::new();
    write_fields(&mut out, fields, 0, max);
    if out.chars().count() > max {
        let cut: String = out.chars().take(max.saturating_sub(1)).collect();
        return format!("{cut}…");
    }
    out
}

fn write_fields(out: &mut String, fields: &Value, depth: usize, max: usize) {
    let Some(list) = fields.as_array() else { return };
    for (i, f) in list.iter().enumerate() {
        if out.len() > max {
            return;
        }
        if i > 0 {
            out.push(' ');
        }
        write_field(out, f, depth, max);
    }
}

fn write_field(out: &mut String, f: &Value, depth: usize, max: usize) {
    let number = f.get("field").and_then(Value::as_u64).unwrap_or(0);
    let text = |k: &str| f.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    let nested = f.get("message").or_else(|| f.get("fields"));
    match f.get("wire_type").and_then(Value::as_str) {
        Some("varint") => out.push_str(&format!("{number}:{}", text("unsigned").unwrap_or_default())),
        Some(wt @ ("fixed64" | "fixed32")) => {
            let n = f.get("unsigned").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok())).unwrap_or(0);
            let digits = if wt == "fixed64" { 16 } else { 8 };
            out.push_str(&format!("{number}:0x{n:0digits$x}"));
        }
        _ if nested.is_some() => {
            out.push_str(&format!("{number}{{"));
            match nested {
                Some(inner) if depth < MAX_DEPTH => write_fields(out, inner, depth + 1, max),
                _ => out.push('…'),
            }
            out.push('}');
        }
        _ => {
            let bytes = match (f.get("string").and_then(Value::as_str), f.get("bytes").and_then(Value::as_str)) {
                (Some(s), _) => s.as_bytes().to_vec(),
                (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default(),
                // Length known, content not rendered (the budget ran out).
                _ => return out.push_str(&format!("{number}:<{} bytes>", text("length").unwrap_or_default())),
            };
            out.push_str(&format!("{number}:\"{}\"", escape(&bytes)));
        }
    }
}

/// C-style escapes, as protoc writes strings: printable ASCII as is.
fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(char::from(c)),
            _ => s.push_str(&format!("\\{c:03o}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schemaless;

    fn raw(bytes: &[u8]) -> String {
        one_line(&schemaless::decode(bytes).unwrap(), 200)
    }

    #[test]
    fn reads_like_protoc_decode_raw() {
        // 1: "slow-1", 2: 600
        assert_eq!(raw(&[0x0a, 6, b's', b'l', b'o', b'w', b'-', b'1', 0x10, 0xd8, 0x04]), r#"1:"slow-1" 2:600"#);
        // 3 { 1: 5 }, 4: fixed32 1, 5: fixed64 2
        let mut m = vec![0x1a, 2, 0x08, 5, 0x25, 1, 0, 0, 0, 0x29, 2, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(raw(&m), "3{1:5} 4:0x00000001 5:0x0000000000000002");
        // Bytes that are neither text nor a message are escaped.
        m = vec![0x0a, 3, 0xff, b'"', 0x00];
        assert_eq!(raw(&m), r#"1:"\377\"\000""#);
    }

    #[test]
    fn long_messages_stop_at_the_width() {
        let mut m = Vec::new();
        for _ in 0..100 {
            m.extend([0x08, 0x7f]);
        }
        let line = one_line(&schemaless::decode(&m).unwrap(), 20);
        assert_eq!(line, "1:127 1:127 1:127 1…");
    }
}
