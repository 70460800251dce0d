//! Building HTTP/2 bytes in tests.

/// Encodes a frame.
pub fn frame(kind: u8, fl: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    b.push(kind);
    b.push(fl);
    b.extend_from_slice(&sid.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// An HPACK block of literal fields without indexing (new names, raw strings).
pub fn literal_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        b.push(0x00);
        b.push(n.len() as u8);
        b.extend_from_slice(n.as_bytes());
        b.push(v.len() as u8);
        b.extend_from_slice(v.as_bytes());
    }
    b
}
