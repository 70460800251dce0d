//! Captured calls as load and replay input: one grpcurl command per call
//! (`calls --format grpcurl`), and a ghz data file of one method's
//! requests (`calls --format ghz`). Both are built from the call's record,
//! the same one the JSON Lines carry.
//!
//! The commands are shell text made from a capture's bytes: everything
//! from the capture is quoted, and a value holding a control character is
//! written with `$'…'` escapes, so that neither the shell nor a terminal
//! ever receives one.

use crate::present::CallRecord;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Request headers grpcurl sets itself, or that describe the wire rather
/// than the call: passing them again with -H would duplicate or contradict
/// them. `grpc-timeout` becomes `-max-time`.
const HEADERS_GRPCURL_SETS: &[&str] = &[
    "content-type",
    "te",
    "user-agent",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "accept-encoding",
    "content-length",
];

/// Where grpcurl (and ghz) should find the schema: what was given to
/// grpcscope. With none of it, the commands rely on the server's
/// reflection service, as grpcurl does by default.
#[derive(Debug, Clone, Default)]
pub struct ReplaySchema {
    /// `--proto-path` directories (`-import-path`).
    pub import_paths: Vec<PathBuf>,
    /// `--proto` files (`-proto`); when none were named, the file that
    /// defines each call's service is named instead.
    pub protos: Vec<PathBuf>,
    /// `--descriptor-set` files (`-protoset`).
    pub protosets: Vec<PathBuf>,
}

impl ReplaySchema {
    /// The schema flags of a command for a method defined in `service_file`
    /// (relative to an import path), as `(flag, value)` pairs.
    fn flags(&self, service_file: Option<&str>, ghz: bool) -> Vec<(&'static str, String)> {
        let mut flags = Vec::new();
        if !self.protosets.is_empty() {
            for p in &self.protosets {
                flags.push((if ghz { "--protoset" } else { "-protoset" }, p.display().to_string()));
            }
            return flags;
        }
        if self.import_paths.is_empty() && self.protos.is_empty() {
            return flags;
        }
        if ghz {
            // ghz takes one comma-separated list, and a --proto path it can
            // open (its import paths do not resolve it).
            let joined: Vec<String> = self.import_paths.iter().map(|p| p.display().to_string()).collect();
            if !joined.is_empty() {
                flags.push(("--import-paths", joined.join(",")));
            }
            let file =
                service_file.map(str::to_string).or_else(|| self.protos.first().map(|p| p.display().to_string()));
            if let Some(f) = file {
                let opened = self.import_paths.iter().map(|d| d.join(&f)).find(|p| p.is_file());
                flags.push(("--proto", opened.map_or(f, |p| p.display().to_string())));
            }
            return flags;
        }
        for p in &self.import_paths {
            flags.push(("-import-path", p.display().to_string()));
        }
        if self.protos.is_empty() {
            if let Some(f) = service_file {
                flags.push(("-proto", f.to_string()));
            }
        }
        for p in &self.protos {
            flags.push(("-proto", p.display().to_string()));
        }
        flags
    }
}

/// Why a call cannot be replayed as captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReplayable {
    /// `:path` was not captured and no evidence names the method.
    MethodUnknown,
    /// A request message has no schema decode (its JSON is what grpcurl sends).
    RequestNotDecoded {
        /// Which request (0-based).
        index: usize,
        /// Why it was not decoded.
        why: String,
    },
}

impl std::fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReplayable::MethodUnknown => write!(f, "the method is unknown (its :path was not captured)"),
            NotReplayable::RequestNotDecoded { index, why } => write!(
                f,
                "request {} has no schema decode ({why}): give the schema with --proto-path or --descriptor-set",
                index + 1
            ),
        }
    }
}

/// The method as grpcurl and ghz name it: `pkg.Service/Method`.
fn grpcurl_method(rec: &CallRecord) -> Result<String, NotReplayable> {
    let path = rec.method.as_deref().ok_or(NotReplayable::MethodUnknown)?;
    Ok(path.strip_prefix('/').unwrap_or(path).to_string())
}

/// Each request message's JSON text, in order.
fn request_texts(rec: &CallRecord) -> Result<Vec<String>, NotReplayable> {
    rec.requests
        .iter()
        .enumerate()
        .map(|(index, m)| match &m.json {
            Some(j) => Ok(serde_json::to_string(j).unwrap_or_default()),
            None => Err(NotReplayable::RequestNotDecoded {
                index,
                why: m.error.clone().unwrap_or_else(|| "no schema for its type".into()),
            }),
        })
        .collect()
}

/// A request header value: `-bin` values stay base64 text, which grpcurl
/// decodes itself.
fn header_value(name: &str, list: &[(Option<String>, Option<String>)]) -> Option<String> {
    list.iter().find(|(n, _)| n.as_deref() == Some(name)).and_then(|(_, v)| v.clone())
}

/// The call's request headers as `(name, value)` text, as the JSON has them.
fn request_headers(rec: &CallRecord) -> Vec<(Option<String>, Option<String>)> {
    rec.request_headers.texts().map(|(n, v)| (n.map(Cow::into_owned), v.map(Cow::into_owned))).collect()
}

/// One grpcurl command for the call, or a comment saying why there is
/// none; `number` is the call's number as `calls` lists it.
pub fn grpcurl_command(rec: &CallRecord, number: u64, schema: &ReplaySchema, service_file: Option<&str>) -> String {
    let mut out = format!(
        "# call {number}: conn {} stream {} at {}, {}\n",
        rec.conn.id,
        rec.stream_id,
        rec.start,
        rec.grpc_status_name.unwrap_or(match rec.error_origin {
            crate::grpc::Origin::Transport => "transport failure",
            _ => "status unknown",
        })
    );
    let (method, requests) = match grpcurl_method(rec).and_then(|m| Ok((m, request_texts(rec)?))) {
        Ok(v) => v,
        Err(why) => {
            let _ = writeln!(out, "# not replayable: {why}");
            return out;
        }
    };
    let headers = request_headers(rec);
    let mut args: Vec<String> = vec!["grpcurl".into()];
    let mut flag = |f: &str, v: Option<String>| {
        args.push(f.into());
        if let Some(v) = v {
            args.push(quote(&v));
        }
    };
    if header_value(":scheme", &headers).as_deref() != Some("https") {
        flag("-plaintext", None);
    }
    if let Some(a) = &rec.authority {
        flag("-authority", Some(a.clone()));
    }
    for (f, v) in schema.flags(service_file, false) {
        flag(f, Some(v));
    }
    for (name, value) in &headers {
        let (Some(name), Some(value)) = (name, value) else { continue };
        if name.starts_with(':') || HEADERS_GRPCURL_SETS.contains(&name.as_str()) {
            continue;
        }
        flag("-H", Some(format!("{name}: {value}")));
    }
    if let Some(ms) = rec.timeout_ms {
        flag("-max-time", Some(format!("{}", ms / 1000.0)));
    }
    // grpcurl reads a stream of JSON objects: one per request message.
    flag("-d", Some(requests.join(" ")));
    args.push(quote(&rec.conn.server));
    args.push(quote(&method));
    out.push_str(&args.join(" "));
    out.push('\n');
    out
}

/// Text quoted for a POSIX shell: single quotes, or `$'…'` with escapes
/// when it holds a control character (which must reach neither the shell
/// line editor nor a terminal).
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,[]".contains(&b));
    if plain {
        return s.to_string();
    }
    if !s.chars().any(char::is_control) {
        return format!("'{}'", s.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The requests of the calls `calls --format ghz` is given, by method.
#[derive(Debug, Default)]
pub struct GhzData {
    /// Method → its calls' requests, each call's messages in order.
    by_method: BTreeMap<String, MethodRequests>,
    /// Calls left out, and why (shown on standard error).
    pub skipped: Vec<(u64, NotReplayable)>,
}

#[derive(Debug, Default)]
struct MethodRequests {
    /// Each call's request messages as JSON text.
    calls: Vec<Vec<String>>,
    /// Where its first call went.
    server: String,
    /// Whether that call was TLS (`:scheme https`).
    tls: bool,
    /// The file defining its service, when the schema says.
    service_file: Option<String>,
}

/// Why no ghz data file could be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GhzProblem {
    /// No call was replayable.
    NoCalls,
    /// Calls of several methods: a data file is for one.
    SeveralMethods(Vec<String>),
}

impl std::fmt::Display for GhzProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GhzProblem::NoCalls => write!(f, "no replayable call to take requests from"),
            GhzProblem::SeveralMethods(m) => write!(
                f,
                "a ghz data file holds one method's requests, and the calls are of {} methods ({}): choose one, e.g. --filter 'method == \"/{}\"'",
                m.len(),
                m.join(", "),
                m.first().map_or("", String::as_str)
            ),
        }
    }
}

impl GhzData {
    /// Adds a call's requests (or why it has none usable).
    pub fn add(&mut self, rec: &CallRecord, number: u64, service_file: Option<String>) {
        let method = match grpcurl_method(rec) {
            Ok(m) => m,
            Err(why) => return self.skipped.push((number, why)),
        };
        match request_texts(rec) {
            Ok(texts) => {
                let entry = self.by_method.entry(method).or_insert_with(|| MethodRequests {
                    server: rec.conn.server.clone(),
                    tls: header_value(":scheme", &request_headers(rec)).as_deref() == Some("https"),
                    service_file,
                    calls: Vec::new(),
                });
                entry.calls.push(texts);
            }
            Err(why) => self.skipped.push((number, why)),
        }
    }

    /// The data file (a JSON array) and the ghz command that runs it, or
    /// why there is none. A unary or server-streaming method's file holds
    /// every call's request, which ghz sends in turn; a client-streaming
    /// method's holds the first call's messages, which ghz sends as the
    /// stream of every call.
    pub fn render(&self, schema: &ReplaySchema, data_path: &str) -> Result<(String, String), GhzProblem> {
        if self.by_method.len() > 1 {
            return Err(GhzProblem::SeveralMethods(self.by_method.keys().cloned().collect()));
        }
        let (method, reqs) = self.by_method.iter().next().ok_or(GhzProblem::NoCalls)?;
        let single = reqs.calls.iter().all(|c| c.len() == 1);
        let items: Vec<&str> = if single {
            reqs.calls.iter().flat_map(|c| c.first()).map(String::as_str).collect()
        } else {
            reqs.calls.first().map(|c| c.iter().map(String::as_str).collect()).unwrap_or_default()
        };
        let mut data = String::from("[\n");
        data.push_str(&items.iter().map(|t| format!("  {t}")).collect::<Vec<_>>().join(",\n"));
        data.push_str("\n]\n");
        let mut cmd: Vec<String> = vec!["ghz".into()];
        if !reqs.tls {
            cmd.push("--insecure".into());
        }
        for (f, v) in schema.flags(reqs.service_file.as_deref(), true) {
            cmd.push(f.into());
            cmd.push(quote(&v));
        }
        cmd.push("--call".into());
        cmd.push(quote(&method.replacen('/', ".", 1)));
        cmd.push("--data-file".into());
        cmd.push(quote(data_path));
        cmd.push("-n".into());
        cmd.push(reqs.calls.len().max(1).to_string());
        cmd.push(quote(&reqs.server));
        Ok((data, cmd.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_escapes_the_rest() {
        assert_eq!(quote("127.0.0.1:50051"), "127.0.0.1:50051");
        assert_eq!(quote("[::1]:50051"), "[::1]:50051");
        assert_eq!(quote(r#"{"a": "it's"}"#), r#"'{"a": "it'\''s"}'"#);
        assert_eq!(quote(""), "''");
        // A control character (ESC, and the C1 NEL) never reaches the terminal raw.
        let q = quote("x\u{1b}[31m\u{85}'\\");
        assert_eq!(q, r"$'x\x1b[31m\xc2\x85\'\\'");
        assert!(!q.chars().any(char::is_control));
    }

    #[test]
    fn schema_flags_follow_what_was_given() {
        let none = ReplaySchema::default();
        assert!(none.flags(Some("a.proto"), false).is_empty(), "reflection: no flags");
        let dir = ReplaySchema { import_paths: vec!["protos".into()], ..Default::default() };
        assert_eq!(
            dir.flags(Some("demo/shop.proto"), false),
            vec![("-import-path", "protos".to_string()), ("-proto", "demo/shop.proto".to_string())]
        );
        let set =
            ReplaySchema { protosets: vec!["all.pb".into()], import_paths: vec!["x".into()], ..Default::default() };
        assert_eq!(set.flags(None, true), vec![("--protoset", "all.pb".to_string())]);
    }
}
