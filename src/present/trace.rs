//! The distributed-trace context a call's request carried: W3C
//! `traceparent` (the Trace Context recommendation), B3 single (`b3`) or
//! multi (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`) headers, and the
//! `x-request-id` that proxies such as Envoy add. Parquet columns and
//! OpenTelemetry spans read it, so that wire-observed calls join the
//! application's traces.

use crate::grpc::HeaderPair;

/// Which header the context came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceSource {
    /// W3C `traceparent`.
    Traceparent,
    /// B3 single header `b3`.
    B3,
    /// B3 multiple headers `x-b3-traceid` and `x-b3-spanid`.
    B3Multi,
}

impl TraceSource {
    /// The name the outputs use.
    pub fn name(self) -> &'static str {
        match self {
            TraceSource::Traceparent => "traceparent",
            TraceSource::B3 => "b3",
            TraceSource::B3Multi => "b3_multi",
        }
    }
}

/// A trace context from a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace (a 64-bit B3 id is widened to 128 bits with leading zeros).
    pub trace_id: [u8; 16],
    /// The span of the caller that sent the request: the parent of the
    /// call as seen on the wire.
    pub span_id: [u8; 8],
    /// The sampling decision, when the header states one.
    pub sampled: Option<bool>,
    /// Where it came from.
    pub source: TraceSource,
}

impl TraceContext {
    /// The trace id as 32 lowercase hex digits.
    pub fn trace_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The caller's span id as 16 lowercase hex digits.
    pub fn span_hex(&self) -> String {
        hex(&self.span_id)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header<'a>(list: &'a [HeaderPair], name: &str) -> Option<&'a [u8]> {
    list.iter().find(|(n, _)| n.as_deref() == Some(name.as_bytes())).and_then(|(_, v)| v.as_deref())
}

/// Exactly `N` bytes from `2N` hex digits (either case), or `None`.
fn hex_bytes<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// The context of a request's headers: `traceparent` first (the standard),
/// then `b3`, then the B3 multi headers. A malformed header is no context
/// (as a tracer would start a new trace), never a guess.
pub fn trace_context(headers: &[HeaderPair]) -> Option<TraceContext> {
    header(headers, "traceparent")
        .and_then(traceparent)
        .or_else(|| header(headers, "b3").and_then(b3_single))
        .or_else(|| b3_multi(headers))
}

/// `x-request-id`, when the request carried one.
pub fn request_id(headers: &[HeaderPair]) -> Option<String> {
    header(headers, "x-request-id").map(|v| String::from_utf8_lossy(v).into_owned())
}

/// W3C traceparent `version-traceid-parentid-flags`: version 00 is exactly
/// 55 characters; a later version may append fields after a `-`. Version
/// ff and all-zero ids are invalid.
fn traceparent(v: &[u8]) -> Option<TraceContext> {
    let version = hex_bytes::<1>(v.get(..2)?)?[0];
    if version == 0xff || (version == 0 && v.len() != 55) || (v.len() > 55 && v.get(55) != Some(&b'-')) {
        return None;
    }
    if v.get(2) != Some(&b'-') || v.get(35) != Some(&b'-') || v.get(52) != Some(&b'-') {
        return None;
    }
    let trace_id = hex_bytes::<16>(v.get(3..35)?)?;
    let span_id = hex_bytes::<8>(v.get(36..52)?)?;
    let flags = hex_bytes::<1>(v.get(53..55)?)?[0];
    valid(trace_id, span_id, Some(flags & 1 == 1), TraceSource::Traceparent)
}

/// B3 single `traceid-spanid[-sampled[-parentspanid]]`; a header holding
/// only a sampling decision carries no ids.
fn b3_single(v: &[u8]) -> Option<TraceContext> {
    let mut parts = v.split(|&b| b == b'-');
    let trace_id = b3_trace_id(parts.next()?)?;
    let span_id = hex_bytes::<8>(parts.next()?)?;
    let sampled = parts.next().and_then(b3_sampled);
    valid(trace_id, span_id, sampled, TraceSource::B3)
}

fn b3_multi(headers: &[HeaderPair]) -> Option<TraceContext> {
    let trace_id = b3_trace_id(header(headers, "x-b3-traceid")?)?;
    let span_id = hex_bytes::<8>(header(headers, "x-b3-spanid")?)?;
    let sampled = header(headers, "x-b3-sampled").and_then(b3_sampled);
    valid(trace_id, span_id, sampled, TraceSource::B3Multi)
}

/// A B3 trace id: 32 hex digits, or 16 widened with leading zeros.
fn b3_trace_id(v: &[u8]) -> Option<[u8; 16]> {
    if let Some(id) = hex_bytes::<16>(v) {
        return Some(id);
    }
    let short = hex_bytes::<8>(v)?;
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&short);
    Some(id)
}

fn b3_sampled(v: &[u8]) -> Option<bool> {
    match v {
        b"1" | b"d" | b"true" => Some(true),
        b"0" | b"false" => Some(false),
        _ => None,
    }
}

fn valid(trace_id: [u8; 16], span_id: [u8; 8], sampled: Option<bool>, source: TraceSource) -> Option<TraceContext> {
    (trace_id != [0; 16] && span_id != [0; 8]).then_some(TraceContext { trace_id, span_id, sampled, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn h(pairs: &[(&str, &str)]) -> Vec<HeaderPair> {
        pairs
            .iter()
            .map(|(n, v)| (Some(Bytes::copy_from_slice(n.as_bytes())), Some(Bytes::copy_from_slice(v.as_bytes()))))
            .collect()
    }

    #[test]
    fn traceparent_of_the_w3c_recommendation() {
        // The recommendation's own example.
        let c =
            trace_context(&h(&[("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")])).unwrap();
        assert_eq!(c.trace_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(c.span_hex(), "b7ad6b7169203331");
        assert_eq!((c.sampled, c.source), (Some(true), TraceSource::Traceparent));
        for bad in [
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(trace_context(&h(&[("traceparent", bad)])), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(trace_context(&h(&[("traceparent", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-x")]))
            .is_some_and(|c| c.sampled == Some(false)));
    }

    #[test]
    fn b3_single_and_multi_with_short_ids_widened() {
        let c = trace_context(&h(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")]))
            .unwrap();
        assert_eq!(
            (c.trace_hex().as_str(), c.span_hex().as_str(), c.source),
            ("80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", TraceSource::B3)
        );
        let c =
            trace_context(&h(&[("x-b3-traceid", "a3ce929d0e0e4736"), ("x-b3-spanid", "00f067aa0ba902b7")])).unwrap();
        assert_eq!(c.trace_hex(), "0000000000000000a3ce929d0e0e4736");
        assert_eq!((c.sampled, c.source), (None, TraceSource::B3Multi));
        assert_eq!(trace_context(&h(&[("b3", "0")])), None, "a sampling decision alone");
        // traceparent wins over b3.
        let both = h(&[
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1"),
            ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ]);
        assert_eq!(trace_context(&both).map(|c| c.source), Some(TraceSource::Traceparent));
        assert_eq!(request_id(&h(&[("x-request-id", "abc")])).as_deref(), Some("abc"));
    }
}
