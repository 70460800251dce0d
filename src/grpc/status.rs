//! gRPC status codes, the HTTP-to-gRPC mapping, and the header encodings
//! gRPC uses (`grpc-message` percent-encoding, `grpc-timeout`, `-bin` metadata).

use base64::Engine;

/// The canonical name of a gRPC status code.
pub fn status_name(code: u32) -> Option<&'static str> {
    STATUS_NAMES.get(usize::try_from(code).ok()?).copied()
}

/// The names of the codes 0 to 16, in order.
pub const STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code a gRPC client reports for an HTTP status without `grpc-status`
/// (gRPC's "HTTP to gRPC Status Code Mapping" document).
pub fn from_http_status(http: u16) -> u32 {
    match http {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => 12,                   // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => 2,                      // UNKNOWN
    }
}

/// The code a client reports when a stream is reset with an HTTP/2 error
/// code (gRPC's "HTTP/2 to gRPC" mapping in PROTOCOL-HTTP2.md).
pub fn from_rst_code(code: u32) -> u32 {
    match code {
        0x7 => 14, // REFUSED_STREAM: UNAVAILABLE (safe to retry)
        0x8 => 1,  // CANCEL: CANCELLED
        0xb => 8,  // ENHANCE_YOUR_CALM: RESOURCE_EXHAUSTED
        0xc => 7,  // INADEQUATE_SECURITY: PERMISSION_DENIED
        _ => 13,   // everything else: INTERNAL
    }
}

/// A `grpc-status` value as gRPC accepts it: decimal digits only, at most
/// 2^31 - 1 (grpc-go parses it as a 32-bit signed integer); `None` otherwise.
pub fn parse_status(v: &[u8]) -> Option<u32> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32)
}

/// Decodes `grpc-message`: percent-encoded UTF-8 (invalid escapes kept as they are).
pub fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `grpc-timeout` (`1S`, `200m`, `5000000u`, ...) to nanoseconds.
pub fn parse_timeout(v: &[u8]) -> Option<u64> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let per: u64 = match unit.first()? {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    };
    n.checked_mul(per)
}

/// How a `-bin` metadata value was encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinEncoding {
    /// Base64 text, as the gRPC spec says.
    Base64,
    /// Raw bytes after a NUL byte: gRPC C-core's "true binary" metadata,
    /// used when both peers announce SETTINGS 0xfe03 = 1.
    TrueBinary,
}

/// Decodes a `-bin` metadata value.
pub fn decode_bin(v: &[u8]) -> Option<(Vec<u8>, BinEncoding)> {
    if let Some(raw) = v.strip_prefix(&[0]) {
        return Some((raw.to_vec(), BinEncoding::TrueBinary));
    }
    let text: Vec<u8> = v.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let padded = base64::engine::general_purpose::STANDARD.decode(&text);
    let unpadded = || {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text.strip_suffix(b"=").unwrap_or(&text).strip_suffix(b"=").unwrap_or(&text))
    };
    padded.or_else(|_| unpadded()).ok().map(|b| (b, BinEncoding::Base64))
}

/// A `-bin` value as base64 text, whatever its wire encoding was.
pub fn bin_as_base64(v: &[u8]) -> String {
    match decode_bin(v) {
        Some((bytes, BinEncoding::TrueBinary)) => base64::engine::general_purpose::STANDARD.encode(bytes),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_mappings() {
        assert_eq!(status_name(14), Some("UNAVAILABLE"));
        assert_eq!(status_name(17), None);
        assert_eq!(status_name(from_http_status(503)), Some("UNAVAILABLE"));
        assert_eq!(status_name(from_http_status(404)), Some("UNIMPLEMENTED"));
        assert_eq!(status_name(from_http_status(500)), Some("UNKNOWN"));
        assert_eq!(status_name(from_rst_code(0x8)), Some("CANCELLED"));
        assert_eq!(status_name(from_rst_code(0x7)), Some("UNAVAILABLE"));
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        assert_eq!(percent_decode(b"got 100%25 wrong"), "got 100% wrong");
        assert_eq!(percent_decode(b"acc%C3%A8s refus%C3%A9%0Azone"), "accès refusé\nzone");
        assert_eq!(percent_decode(b"bad %zz escape%"), "bad %zz escape%");
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(b"100000u"), Some(100_000_000));
        assert_eq!(parse_timeout(b"10S"), Some(10_000_000_000));
        assert_eq!(parse_timeout(b"1H"), Some(3_600_000_000_000));
        assert_eq!(parse_timeout(b"123456789S"), None, "at most 8 digits");
        assert_eq!(parse_timeout(b"5x"), None);
        assert_eq!(parse_timeout(b""), None);
    }

    #[test]
    fn binary_metadata_in_both_encodings() {
        assert_eq!(decode_bin(b"AAD/gA=="), Some((vec![0, 0, 0xff, 0x80], BinEncoding::Base64)));
        assert_eq!(decode_bin(b"AAD/gA"), Some((vec![0, 0, 0xff, 0x80], BinEncoding::Base64)));
        assert_eq!(decode_bin(&[0, 0, 0, 0xff, 0x80]), Some((vec![0, 0, 0xff, 0x80], BinEncoding::TrueBinary)));
        assert_eq!(bin_as_base64(&[0, 0, 0, 0xff, 0x80]), "AAD/gA==");
        assert_eq!(decode_bin(b"!!"), None);
    }
}
