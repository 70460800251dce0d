//! `--redact`: sensitive header values and message fields replaced by a
//! keyed hash in every output, so that an analysis can be pasted into a
//! ticket. Equal values get equal hashes within one run (a token reused
//! across calls stays recognisable) and different hashes across runs
//! unless `--redact-salt` is given.
//!
//! Headers are redacted in the pipeline, after HPACK decoding and before
//! any consumer sees a frame: the decoded values, the dynamic-table
//! snapshots and the raw bytes of the header block (zeroed) all change, so
//! calls, frames, the TUI and filters see only the hash. Message fields
//! are redacted where messages are rendered ([`Redactor::json`]), since the
//! gRPC layer needs the real bytes to frame and decompress them.

use crate::h2::frame::FrameType;
use crate::h2::{Frame, H2Event, HeaderBlock};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use prost::Message as _;
use prost_reflect::{DynamicMessage, ReflectMessage};
use regex::Regex;
use serde_json::Value;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;
use std::sync::Arc;

/// Headers whose values are always redacted.
pub const ALWAYS: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"];

/// The default pattern for further metadata keys (`--redact-headers`).
pub const DEFAULT_PATTERN: &str = "(?i)(auth|token|secret|passw|api-?key|session|credential|cookie|jwt)";

/// Headers never redacted: gRPC's own, which every analysis needs.
const NEVER: &[&str] = &["grpc-status", "grpc-message", "grpc-encoding", "grpc-accept-encoding", "grpc-timeout"];

/// What to redact, and the key of the hash.
pub struct Redactor {
    pattern: Regex,
    fields: Vec<String>,
    key: ahash::RandomState,
    /// Show in clear the values of headers whose name is unknown (an HPACK
    /// entry from before the capture): `--redact-keep-unnamed`.
    pub keep_unnamed: bool,
    /// google.rpc.Status and its details, to redact fields inside
    /// `grpc-status-details-bin` (loaded when there are fields to redact).
    status_types: Option<prost_reflect::DescriptorPool>,
}

impl std::fmt::Debug for Redactor {
    // The hash key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("pattern", &self.pattern.as_str()).field("fields", &self.fields).finish()
    }
}

impl Redactor {
    /// `pattern` matches further header names (default [`DEFAULT_PATTERN`]);
    /// `fields` are message field names (JSON names or proto names) to
    /// redact at any depth; `salt` makes hashes repeatable across runs.
    pub fn new(pattern: Option<&str>, fields: Vec<String>, salt: Option<&str>) -> Result<Redactor, String> {
        let pattern = Regex::new(pattern.unwrap_or(DEFAULT_PATTERN))
            .map_err(|e| format!("--redact-headers is not a valid regular expression: {e}"))?;
        let key = match salt {
            Some(s) => {
                // The salt's bytes, spread over the four seeds of the hash.
                let seed = |i: u64| {
                    let mut h = ahash::RandomState::with_seeds(i, 0x9e37_79b9, 0x7f4a_7c15, 0x85eb_ca6b).build_hasher();
                    h.write(s.as_bytes());
                    h.finish()
                };
                ahash::RandomState::with_seeds(seed(1), seed(2), seed(3), seed(4))
            }
            None => ahash::RandomState::new(),
        };
        let status_types = (!fields.is_empty()).then(|| crate::proto::Schema::builtin().pool().clone());
        Ok(Redactor { pattern, fields, key, keep_unnamed: false, status_types })
    }

    /// Whether message fields are redacted too.
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// Whether the value of header `name` is redacted.
    pub fn header(&self, name: &[u8]) -> bool {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if name.starts_with(':') || NEVER.contains(&name.as_str()) {
            return false;
        }
        ALWAYS.contains(&name.as_str()) || self.pattern.is_match(&name)
    }

    /// Whether the value of a header named `name` is redacted; a name the
    /// capture does not hold (an HPACK entry from before it) might be
    /// `authorization`, so its value is, unless the user opted out.
    pub fn value_of(&self, name: Option<&[u8]>) -> bool {
        match name {
            Some(n) => self.header(n),
            None => !self.keep_unnamed,
        }
    }

    /// What replaces a redacted value: its length and a keyed 64-bit hash.
    pub fn hash(&self, value: &[u8]) -> String {
        let mut h = self.key.build_hasher();
        h.write(value);
        format!("<redacted {} bytes #{:016x}>", value.len(), h.finish())
    }

    /// Redacts an HTTP/2 event in place.
    pub fn event(&self, ev: &mut H2Event) {
        if let H2Event::Frame(f) = ev {
            self.frame(f);
        }
    }

    fn frame(&self, f: &mut Frame) {
        let kind = f.header.kind;
        let header_frame =
            kind == FrameType::HEADERS || kind == FrameType::CONTINUATION || kind == FrameType::PUSH_PROMISE;
        if !header_frame {
            return;
        }
        let Some(block) = f.block.clone() else {
            // A fragment of a block not yet complete: which of its bytes are
            // secret is not known yet, so none are shown.
            if !f.payload.is_empty() {
                f.payload = Bytes::from(vec![0u8; f.payload.len()]);
            }
            return;
        };
        let (redacted, ranges) = self.block(&block);
        if !ranges.is_empty() {
            f.payload = mask_in_frame(f, &block, &ranges);
        }
        // The table snapshot may hold a secret from an earlier block even
        // when this block has none of its own.
        if !ranges.is_empty() || redacted.table_after.is_some() {
            f.block = Some(Arc::new(redacted));
        }
    }

    /// The block with sensitive values hashed and their bytes zeroed, and
    /// the byte ranges (within the block) that were zeroed.
    fn block(&self, block: &HeaderBlock) -> (HeaderBlock, Vec<Range<usize>>) {
        let mut out = block.clone();
        let mut ranges = Vec::new();
        for f in &mut out.decoded.fields {
            let sensitive = self.value_of(f.name.as_deref());
            if let (true, Some(v)) = (sensitive, &f.value) {
                f.value = Some(Bytes::from(self.hash(v)));
                ranges.push(f.range.clone());
            } else if let (true, Some(v)) = (self.is_status_details(f.name.as_deref()), &f.value) {
                f.value = Some(Bytes::from(self.status_details(v)));
                ranges.push(f.range.clone());
            }
        }
        if let Some(table) = &mut out.table_after {
            for (name, value, _) in table.iter_mut() {
                let unnamed = name.starts_with("?dyn#") || name == "<unknown>";
                if self.value_of((!unnamed).then_some(name.as_bytes())) {
                    *value = self.hash(value.as_bytes());
                } else if self.is_status_details(Some(name.as_bytes())) {
                    *value = self.status_details(value.as_bytes());
                }
            }
        }
        if !ranges.is_empty() {
            let mut bytes = BytesMut::from(&block.bytes[..]);
            for r in &ranges {
                if let Some(b) = bytes.get_mut(r.clone()) {
                    b.fill(0);
                }
            }
            out.bytes = bytes.freeze();
        }
        (out, ranges)
    }

    /// Whether a header is `grpc-status-details-bin` and fields are redacted:
    /// its Status may carry them (an ErrorInfo's metadata, a field violation).
    fn is_status_details(&self, name: Option<&[u8]>) -> bool {
        self.has_fields() && name.is_some_and(|n| n.eq_ignore_ascii_case(b"grpc-status-details-bin"))
    }

    /// A `grpc-status-details-bin` value with `--redact-field` fields
    /// redacted inside it (details unpacked from their Any), re-encoded as
    /// base64; a value that does not decode as a Status is hashed whole.
    fn status_details(&self, v: &[u8]) -> String {
        let redacted = (|| {
            let pool = self.status_types.as_ref()?;
            let (bytes, _) = crate::grpc::status::decode_bin(v)?;
            let mut msg =
                DynamicMessage::decode(pool.get_message_by_name("google.rpc.Status")?, bytes.as_slice()).ok()?;
            self.message(pool, &mut msg, 0);
            Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(msg.encode_to_vec()))
        })();
        redacted.unwrap_or_else(|| self.hash(v))
    }

    /// Redacts the named fields of `msg` at any depth (at most
    /// [`crate::proto::budget::MAX_NESTING`]), Any values included.
    fn message(&self, pool: &prost_reflect::DescriptorPool, msg: &mut DynamicMessage, depth: usize) {
        if depth > crate::proto::budget::MAX_NESTING {
            *msg = DynamicMessage::new(msg.descriptor());
            return;
        }
        if msg.descriptor().full_name() == "google.protobuf.Any" {
            self.any(pool, msg, depth);
            return;
        }
        let set: Vec<_> = msg.descriptor().fields().filter(|f| msg.has_field(f)).collect();
        for f in &set {
            if self.fields.iter().any(|n| n == f.name() || n == f.json_name()) {
                let hashed = self.hash(format!("{:?}", msg.get_field(f)).as_bytes());
                match f.kind() {
                    prost_reflect::Kind::String if !f.is_list() && !f.is_map() => {
                        msg.set_field(f, prost_reflect::Value::String(hashed))
                    }
                    prost_reflect::Kind::Bytes if !f.is_list() && !f.is_map() => {
                        msg.set_field(f, prost_reflect::Value::Bytes(Bytes::from(hashed)))
                    }
                    // No hash fits a number or a message: the field goes.
                    _ => msg.clear_field(f),
                }
                continue;
            }
            match msg.get_field_mut(f) {
                prost_reflect::Value::Message(m) => self.message(pool, m, depth + 1),
                prost_reflect::Value::List(l) => {
                    l.iter_mut().filter_map(|x| x.as_message_mut()).for_each(|m| self.message(pool, m, depth + 1))
                }
                prost_reflect::Value::Map(m) => {
                    m.values_mut().filter_map(|x| x.as_message_mut()).for_each(|m| self.message(pool, m, depth + 1))
                }
                _ => {}
            }
        }
    }

    /// An Any: its message redacted and packed again; an Any of a type not
    /// known is left out entirely (its fields cannot be found).
    fn any(&self, pool: &prost_reflect::DescriptorPool, any: &mut DynamicMessage, depth: usize) {
        let url = any.get_field_by_name("type_url").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let value = any.get_field_by_name("value").and_then(|v| v.as_bytes().cloned()).unwrap_or_default();
        let inner = url
            .rsplit('/')
            .next()
            .and_then(|name| pool.get_message_by_name(name))
            .and_then(|desc| DynamicMessage::decode(desc, value).ok());
        match inner {
            Some(mut m) => {
                self.message(pool, &mut m, depth + 1);
                any.set_field_by_name("value", prost_reflect::Value::Bytes(Bytes::from(m.encode_to_vec())));
            }
            None => {
                let hashed = self.hash(b"");
                any.set_field_by_name("value", prost_reflect::Value::Bytes(Bytes::from(hashed)));
            }
        }
    }

    /// Redacts message fields named in `--redact-field`, at any depth.
    pub fn json(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    if self.fields.iter().any(|f| f == k) {
                        *x = Value::String(self.hash(x.to_string().as_bytes()));
                    } else {
                        self.json(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.json(x)),
            _ => {}
        }
    }
}

/// The frame's payload with the bytes of the block's `ranges` zeroed where
/// they fall inside this frame (a block may span HEADERS and CONTINUATIONs).
fn mask_in_frame(f: &Frame, block: &HeaderBlock, ranges: &[Range<usize>]) -> Bytes {
    let payload_start = f.offset + crate::h2::frame::HEADER_LEN as u64;
    let payload_end = payload_start + f.payload.len() as u64;
    let mut out = BytesMut::from(&f.payload[..]);
    let mut block_at = 0usize;
    for (stream_at, len) in &block.fragments {
        for r in ranges {
            // The part of the range inside this fragment, as stream offsets.
            let lo = r.start.max(block_at);
            let hi = r.end.min(block_at + len);
            if lo >= hi {
                continue;
            }
            let s_lo = stream_at + (lo - block_at) as u64;
            let s_hi = stream_at + (hi - block_at) as u64;
            let (a, b) = (s_lo.max(payload_start), s_hi.min(payload_end));
            if a < b {
                if let Some(bytes) = out.get_mut((a - payload_start) as usize..(b - payload_start) as usize) {
                    bytes.fill(0);
                }
            }
        }
        block_at += len;
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_list_and_the_pattern_pick_the_headers() {
        let r = Redactor::new(None, vec![], Some("s")).unwrap();
        for name in ["authorization", "Cookie", "x-api-key", "x-auth-token", "x-session-id", "my-secret-bin"] {
            assert!(r.header(name.as_bytes()), "{name}");
        }
        for name in [":authority", ":path", "grpc-status", "grpc-message", "content-type", "x-request-id", "user-agent"]
        {
            assert!(!r.header(name.as_bytes()), "{name}");
        }
        let narrow = Redactor::new(Some("^x-tenant$"), vec![], None).unwrap();
        assert!(narrow.header(b"x-tenant") && narrow.header(b"authorization") && !narrow.header(b"x-session-id"));
    }

    #[test]
    fn equal_values_hash_alike_and_a_salt_makes_it_repeatable() {
        let a = Redactor::new(None, vec![], Some("ticket-123")).unwrap();
        let b = Redactor::new(None, vec![], Some("ticket-123")).unwrap();
        let c = Redactor::new(None, vec![], Some("other")).unwrap();
        assert_eq!(a.hash(b"Bearer abc"), b.hash(b"Bearer abc"));
        assert_ne!(a.hash(b"Bearer abc"), a.hash(b"Bearer abd"));
        assert_ne!(a.hash(b"Bearer abc"), c.hash(b"Bearer abc"));
        assert!(a.hash(b"Bearer abc").starts_with("<redacted 10 bytes #"));
    }

    #[test]
    fn message_fields_are_redacted_at_any_depth() {
        let r = Redactor::new(None, vec!["password".into(), "ssn".into()], Some("s")).unwrap();
        let mut v =
            serde_json::json!({"user": {"name": "ann", "password": "hunter2"}, "list": [{"ssn": 123}], "ok": true});
        r.json(&mut v);
        assert_eq!(v["user"]["name"], "ann");
        assert!(v["user"]["password"].as_str().unwrap().starts_with("<redacted"));
        assert!(v["list"][0]["ssn"].as_str().unwrap().starts_with("<redacted"));
        assert_eq!(v["ok"], true);
    }
}
