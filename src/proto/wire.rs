//! The protobuf wire format, read without a schema.

/// Wire types (protobuf encoding guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// 0: varint.
    Varint,
    /// 1: 8 bytes.
    Fixed64,
    /// 2: length-delimited.
    Len,
    /// 3: start of a (deprecated) group.
    StartGroup,
    /// 4: end of a group.
    EndGroup,
    /// 5: 4 bytes.
    Fixed32,
}

impl WireType {
    fn from_tag(t: u64) -> Option<WireType> {
        Some(match t & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            _ => return None,
        })
    }

    /// The name used in schemaless output.
    pub fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "len",
            WireType::StartGroup => "group",
            WireType::EndGroup => "end_group",
            WireType::Fixed32 => "fixed32",
        }
    }
}

/// A field's raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A varint.
    Varint(u64),
    /// 8 little-endian bytes.
    Fixed64(u64),
    /// Length-delimited bytes.
    Len(&'a [u8]),
    /// 4 little-endian bytes.
    Fixed32(u32),
    /// A group marker (start or end).
    Group,
}

/// Reads a varint at `*at`.
pub fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    read_varint(b, at, false)
}

/// Reads a varint at `*at` as a protobuf decoder does: one whose tenth
/// byte holds more than the 64th bit overflows and is refused.
pub fn strict_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    read_varint(b, at, true)
}

fn read_varint(b: &[u8], at: &mut usize, strict: bool) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let byte = *b.get(*at)?;
        *at += 1;
        if strict && i == 9 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f).checked_shl(7 * i)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The field at `*at`: (number, wire type, value). `None` when malformed.
pub fn field<'a>(b: &'a [u8], at: &mut usize) -> Option<(u32, WireType, Value<'a>)> {
    let tag = varint(b, at)?;
    let number = u32::try_from(tag >> 3).ok()?;
    let wt = WireType::from_tag(tag)?;
    Some((number, wt, value(b, at, wt, false)?))
}

/// The field at `*at` as a protobuf decoder (prost) reads it: its key fits
/// 32 bits, its number is not 0, no varint overflows 64 bits.
pub fn strict_field<'a>(b: &'a [u8], at: &mut usize) -> Option<(u32, WireType, Value<'a>)> {
    let tag = u32::try_from(strict_varint(b, at)?).ok()?;
    let number = Some(tag >> 3).filter(|n| *n != 0)?;
    let wt = WireType::from_tag(u64::from(tag))?;
    Some((number, wt, value(b, at, wt, true)?))
}

/// A value of wire type `wt` at `*at` (a field's after its key, or an
/// element of a packed field); `strict` as in [`strict_varint`].
pub fn value<'a>(b: &'a [u8], at: &mut usize, wt: WireType, strict: bool) -> Option<Value<'a>> {
    Some(match wt {
        WireType::Varint => Value::Varint(read_varint(b, at, strict)?),
        WireType::Fixed64 => {
            let v = u64::from_le_bytes(b.get(*at..*at + 8)?.try_into().ok()?);
            *at += 8;
            Value::Fixed64(v)
        }
        WireType::Fixed32 => {
            let v = u32::from_le_bytes(b.get(*at..*at + 4)?.try_into().ok()?);
            *at += 4;
            Value::Fixed32(v)
        }
        WireType::Len => {
            let len = usize::try_from(read_varint(b, at, strict)?).ok()?;
            let v = b.get(*at..at.checked_add(len)?)?;
            *at += len;
            Value::Len(v)
        }
        WireType::StartGroup | WireType::EndGroup => Value::Group,
    })
}

/// The field at `*at` with the byte range it occupies (tag included).
pub fn field_with_range<'a>(b: &'a [u8], at: &mut usize) -> Option<(u32, WireType, Value<'a>, std::ops::Range<usize>)> {
    let start = *at;
    let (n, wt, v) = field(b, at)?;
    Some((n, wt, v, start..*at))
}

/// Encodes a varint (the emit that [`varint`] mirrors).
pub fn emit_varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// The length-delimited fields of a message, in order (others skipped);
/// stops at the first malformed byte.
pub fn length_delimited_fields(b: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        match field(b, &mut at) {
            Some((n, _, Value::Len(v))) => out.push((n, v)),
            Some(_) => {}
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        // field 1 varint 150; field 2 "hi"; field 3 fixed32 1; field 4 fixed64 2
        let b = [0x08, 0x96, 0x01, 0x12, 2, b'h', b'i', 0x1d, 1, 0, 0, 0, 0x21, 2, 0, 0, 0, 0, 0, 0, 0];
        let mut at = 0;
        assert_eq!(field(&b, &mut at), Some((1, WireType::Varint, Value::Varint(150))));
        assert_eq!(field(&b, &mut at), Some((2, WireType::Len, Value::Len(b"hi"))));
        assert_eq!(field(&b, &mut at), Some((3, WireType::Fixed32, Value::Fixed32(1))));
        assert_eq!(field(&b, &mut at), Some((4, WireType::Fixed64, Value::Fixed64(2))));
        assert_eq!(at, b.len());
        assert_eq!(length_delimited_fields(&b), vec![(2, &b"hi"[..])]);
    }

    #[test]
    fn malformed_input_is_refused() {
        let mut at = 0;
        assert_eq!(field(&[0x12, 10, 1], &mut at), None, "length past the end");
        let mut at = 0;
        assert_eq!(varint(&[0xff; 11], &mut at), None, "varint longer than 10 bytes");
        let mut at = 0;
        assert_eq!(field(&[0x0e], &mut at), None, "wire type 6");
    }
}
