//! OTLP/HTTP with binary protobuf: the request bytes, and what the
//! collector's answer means (OTLP specification, "OTLP/HTTP"). The
//! response is parsed with httparse.

use super::ExportError;

/// The request that posts `body` (an encoded ExportTraceServiceRequest)
/// to `path` on `host`.
pub fn request(host: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: grpcscope/{}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// What a whole response (read to the connection's end) says: the spans
/// the collector rejected (a partial success), or why the export failed
/// and whether to try again (429, 502, 503, 504, with `Retry-After`).
pub fn outcome(response: &[u8]) -> Result<i64, ExportError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let body_at = match r.parse(response) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(ExportError::retry("the collector's answer was cut short")),
        Err(e) => return Err(ExportError::fail(format!("the collector's answer is not HTTP: {e}"))),
    };
    let code = r.code.unwrap_or(0);
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let body = response.get(body_at..).unwrap_or_default();
    match code {
        200..=299 => Ok(super::rejected(body)),
        429 | 502 | 503 | 504 => {
            let after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            Err(ExportError { retryable: true, retry_after_secs: after, reason: format!("HTTP {code}") })
        }
        _ => Err(ExportError::fail(format!(
            "HTTP {code}: {}",
            crate::present::text::clean(
                String::from_utf8_lossy(body.get(..200.min(body.len())).unwrap_or_default()).trim()
            )
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_say_whether_to_retry() {
        assert_eq!(outcome(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Ok(0));
        let e = outcome(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n\r\n").unwrap_err();
        assert!(e.retryable && e.retry_after_secs == Some(7), "{e:?}");
        let e = outcome(b"HTTP/1.1 400 Bad Request\r\n\r\nbad spans").unwrap_err();
        assert!(!e.retryable && e.reason == "HTTP 400: bad spans", "{e:?}");
        // A partial success: field 1 (rejected_spans) = 3.
        assert_eq!(outcome(b"HTTP/1.1 200 OK\r\n\r\n\x0a\x02\x08\x03"), Ok(3));
        let req = request("127.0.0.1:4318", "/v1/traces", b"xy");
        assert!(req.starts_with(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:4318\r\n"));
        assert!(req.ends_with(b"Content-Length: 2\r\nConnection: close\r\n\r\nxy"));
    }
}
