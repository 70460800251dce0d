//! `grpcscope calls`: one record per gRPC call, in the order calls started.
//! The JSON form is the contract in docs/calls-jsonl.md.

use super::replay::{grpcurl_command, GhzData, GhzProblem, ReplaySchema};
use super::{write_json_line, Format};
use crate::analysis::{flow_of, Flow, Sink, CONTINUE};
use crate::exchange::Head;
use crate::grpc::status::{bin_as_base64, decode_bin};
use crate::grpc::{Call, GrpcEvent, HeaderPair, Message, Origin};
use crate::present::line::CallLine;
use crate::present::text::{clean, left_truncate, truncate};
use crate::present::{CallRecord, Decoded, Decoder, MethodResolver};
use crate::tcp::ConnId;
use crate::time::{human_duration, Clock, TimeFormat, Timestamp};

/// Characters of the first request shown in the listing.
const SUMMARY_CHARS: usize = 60;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

/// Calls held back at most while an earlier one is still open.
const MAX_HELD: usize = 100_000;

/// JSON records rendered at once, split across the rendering threads.
const RENDER_BATCH: usize = 512;

type Key = (Timestamp, ConnId, u32);

/// A predicate choosing which calls to print.
pub type CallFilter = Box<dyn Fn(&Call) -> bool + Send>;

/// Prints calls.
pub struct CallsPrinter<W: Write> {
    out: W,
    format: Format,
    verbose: bool,
    color: bool,
    ordered: bool,
    /// How messages are decoded.
    pub decoder: Decoder,
    open: BTreeSet<Key>,
    /// Calls whose `:path` is an unknown HPACK entry: held (with every call
    /// started after them) until the capture ends, so that each gets the
    /// evidence of all the calls sharing its entry.
    awaiting: BTreeSet<Key>,
    ready: BTreeMap<Key, Box<Call>>,
    resolver: MethodResolver,
    header_done: bool,
    /// Calls printed.
    pub printed: u64,
    /// Calls released for printing, filtered out or not: the number of
    /// the last one, as `explain --call N` counts (file reads only).
    numbered: u64,
    /// The first write error.
    pub error: Option<io::Error>,
    /// Which calls to print (all when `None`).
    pub filter: Option<CallFilter>,
    /// Flush after every record (live captures, so output appears at once).
    pub flush_each: bool,
    /// The terminal's width when printing to one: long methods are then
    /// cut (from the left) to keep the columns; in a pipe nothing is cut.
    pub columns: Option<usize>,
    /// How the START column shows times (`-t`).
    pub clock: Clock,
    /// Threads rendering JSON records (a capture file's): decoding message
    /// bodies is most of the work of `calls --format json`.
    pub render_threads: usize,
    /// Calls released for printing as JSON, not rendered yet. Boxed as the
    /// pipeline hands them over: unboxing would copy each large call again.
    #[allow(clippy::vec_box)]
    pending: Vec<Box<Call>>,
    /// Calls written as grpcurl commands, gathered for a ghz data file or
    /// written as Parquet rows instead of as lines.
    pub export: Option<Export>,
    /// Each call printed also goes as a span to an OTLP collector (`--otlp`).
    pub spans: Option<crate::output::otlp::Exporter>,
}

/// `calls --format grpcurl`, `--format ghz` or `--format parquet`.
pub enum Export {
    /// One grpcurl command per call.
    Grpcurl(ReplaySchema),
    /// The requests gathered; written at the end.
    Ghz {
        /// The schema flags of the suggested command.
        schema: ReplaySchema,
        /// The requests.
        data: GhzData,
        /// Where the data file goes (for the suggested command).
        data_path: String,
        /// What the end produced: the ghz command, or why there is no file.
        outcome: Option<Result<String, GhzProblem>>,
    },
    /// A row per call.
    Parquet {
        /// The table.
        table: Box<crate::output::parquet::Table>,
        /// The capture's name in the rows.
        capture: String,
    },
}

impl<W: Write> CallsPrinter<W> {
    /// A printer. `ordered` prints in start order (capture files); live
    /// captures print each call as it ends.
    pub fn new(out: W, format: Format, verbose: bool, color: bool, ordered: bool, mut decoder: Decoder) -> Self {
        // JSON lines carry messages as text: nothing walks their trees.
        decoder.json_text = format == Format::Json;
        CallsPrinter {
            resolver: MethodResolver::new(&decoder),
            awaiting: BTreeSet::new(),
            out,
            format,
            verbose,
            color,
            ordered,
            decoder,
            open: BTreeSet::new(),
            ready: BTreeMap::new(),
            header_done: false,
            printed: 0,
            numbered: 0,
            error: None,
            filter: None,
            flush_each: false,
            columns: None,
            clock: Clock::new(TimeFormat::Utc, None),
            render_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pending: Vec::new(),
            export: None,
            spans: None,
        }
    }

    /// The writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The writer, still in the printer.
    pub fn out_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Prints everything still held (end of capture); nothing once a write
    /// has failed (a closed pipe wants no more).
    pub fn flush(&mut self) {
        if self.error.is_some() {
            return;
        }
        self.awaiting.clear();
        let rest = std::mem::take(&mut self.ready);
        for call in rest.into_values() {
            self.print(call);
        }
        self.render_pending();
        match &mut self.export {
            Some(Export::Ghz { schema, data, data_path, outcome }) => {
                let rendered = data.render(schema, data_path);
                if let Ok((file, _)) = &rendered {
                    if let Err(e) = self.out.write_all(file.as_bytes()) {
                        self.error.get_or_insert(e);
                    }
                }
                *outcome = Some(rendered.map(|(_, command)| command));
            }
            Some(Export::Parquet { table, .. }) => {
                if let Err(e) = table.finish() {
                    self.error.get_or_insert(e);
                }
            }
            _ => {}
        }
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
    }

    fn release(&mut self) {
        let bound = match (self.open.first(), self.awaiting.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        };
        loop {
            let held = self.ready.len();
            let Some(entry) = self.ready.first_entry() else { break };
            // A call prints once every call that started before it has ended;
            // past MAX_HELD held calls, memory wins over order.
            if bound.is_some_and(|b| *entry.key() >= b) && held <= MAX_HELD {
                break;
            }
            let call = entry.remove();
            self.awaiting.remove(&(call.start, call.conn, call.stream_id));
            self.print(call);
        }
    }

    fn print(&mut self, mut call: Box<Call>) {
        if call.inferred.is_none() {
            call.inferred = self.resolver.resolve(&call);
        }
        self.numbered += 1;
        if self.error.is_some() || self.filter.as_ref().is_some_and(|f| !f(&call)) {
            self.clock.saw(call.start);
            return;
        }
        self.printed += 1;
        if let Some(spans) = &mut self.spans {
            spans.call(&call);
        }
        if self.export.is_some() {
            return self.export_call(&call);
        }
        if self.format == Format::Json && self.ordered && !self.flush_each {
            self.pending.push(call);
            if self.pending.len() >= RENDER_BATCH {
                self.render_pending();
            }
            return;
        }
        let call = &*call;
        let r = match self.format {
            Format::Json => write_json_line(&mut self.out, &CallRecord::new(call, &self.decoder)),
            Format::Text if self.verbose => self.verbose_text(call),
            Format::Text => self.text_line(call),
        };
        let r = r.and_then(|()| if self.flush_each { self.out.flush() } else { Ok(()) });
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// A call as a grpcurl command, its requests kept for ghz, or a Parquet row.
    fn export_call(&mut self, call: &Call) {
        let number = self.numbered;
        let record = CallRecord::new(call, &self.decoder);
        let decoder = &self.decoder;
        let service_file = || record.method.as_deref().and_then(|m| decoder.schema_for(call.server).service_file(m));
        let r = match &mut self.export {
            Some(Export::Grpcurl(schema)) => {
                let text = grpcurl_command(&record, number, schema, service_file().as_deref());
                self.out.write_all(text.as_bytes())
            }
            Some(Export::Ghz { data, .. }) => {
                data.add(&record, number, service_file());
                Ok(())
            }
            Some(Export::Parquet { table, capture }) => {
                crate::output::parquet::calls::add(table, capture, number, &record)
            }
            None => Ok(()),
        };
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    /// Renders the pending calls as JSON lines on the rendering threads,
    /// each a contiguous share, and writes them in order: the output is
    /// byte for byte what one thread writes.
    fn render_pending(&mut self) {
        let calls = std::mem::take(&mut self.pending);
        if calls.is_empty() || self.error.is_some() {
            return;
        }
        let threads = self.render_threads.clamp(1, calls.len());
        let share = calls.len().div_ceil(threads);
        let mut shares: Vec<Vec<Box<Call>>> = Vec::with_capacity(threads);
        let mut calls = calls.into_iter();
        loop {
            let part: Vec<Box<Call>> = calls.by_ref().take(share).collect();
            if part.is_empty() {
                break;
            }
            shares.push(part);
        }
        let decoder = &self.decoder;
        let rendered: Vec<io::Result<Vec<u8>>> = if shares.len() == 1 {
            shares.into_iter().map(|part| json_lines(part, decoder)).collect()
        } else {
            std::thread::scope(|scope| {
                // Each share is moved to its thread: the calls are dropped there too.
                let workers: Vec<_> =
                    shares.into_iter().map(|part| scope.spawn(move || json_lines(part, decoder))).collect();
                workers
                    .into_iter()
                    .map(|w| w.join().unwrap_or_else(|_| Err(io::Error::other("a rendering thread failed"))))
                    .collect()
            })
        };
        for r in rendered {
            if let Err(e) = r.and_then(|buf| self.out.write_all(&buf)) {
                self.error.get_or_insert(e);
                return;
            }
        }
    }

    /// The `#` column: the call's number in start order, which `explain
    /// --call N` takes; `-` live, where calls print as they end.
    fn number_text(&self) -> String {
        if self.ordered {
            self.numbered.to_string()
        } else {
            "-".into()
        }
    }

    fn text_line(&mut self, call: &Call) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            // Live, a call prints when it ends: a long call comes after the
            // short ones that started later, and the header says so.
            let order = if self.ordered { "" } else { "  (live: each call prints when it ends)" };
            let tw = self.clock.format.width();
            writeln!(
                self.out,
                "{:>5} {:<tw$} {:>4} {:>6}  {:<44} {:<34} {:>9} {:>4} {:>4}  FIRST REQUEST{order}",
                "#", "START", "CONN", "STREAM", "METHOD", "STATUS", "DURATION", "REQ", "RESP"
            )?;
        }
        self.date_line(call.start)?;
        let line = CallLine::new(call);
        let painted = paint(&format!("{:<34}", line.status), line.origin, self.color);
        let first = self.decoder.first_request(call, SUMMARY_CHARS);
        let first = crate::present::text::clean(&first);
        let (tw, start) = (self.clock.format.width(), self.clock.show(line.start));
        writeln!(
            self.out,
            "{:>5} {start:<tw$} {:>4} {:>6}  {:<44} {} {:>9} {:>4} {:>4}  {}",
            self.number_text(),
            line.conn,
            line.stream_id,
            // Cut only to fit a terminal: a pipe gets every name whole.
            if self.columns.is_some() { left_truncate(&line.method, 44) } else { line.method.clone() },
            painted,
            line.duration(),
            line.requests,
            line.responses,
            truncate(&first, SUMMARY_CHARS)
        )
    }

    /// A capture across midnight: the new date, before the first call of it.
    fn date_line(&mut self, ts: Timestamp) -> io::Result<()> {
        match self.clock.date_line(ts) {
            Some(line) => writeln!(self.out, "{line}"),
            None => Ok(()),
        }
    }

    fn verbose_text(&mut self, call: &Call) -> io::Result<()> {
        self.date_line(call.start)?;
        let line = CallLine::new(call);
        writeln!(
            self.out,
            "{}conn {} stream {}  {}  {}",
            if self.ordered { format!("#{} ", self.numbered) } else { String::new() },
            line.conn,
            line.stream_id,
            line.method,
            paint(&line.status, line.origin, self.color)
        )?;
        if let Some(e) = method_evidence(call) {
            writeln!(self.out, "  method: {e}")?;
        }
        let start = self.clock.show(call.start);
        let end = call.end.map_or_else(
            || "capture ended first".into(),
            |e| format!("{} ({})", self.clock.peek(e), call.duration_nanos().map(human_duration).unwrap_or_default()),
        );
        writeln!(self.out, "  {} -> {}   {start} -> {}", call.client, call.server, end)?;
        if let Some(t) = call.timeout_nanos() {
            writeln!(self.out, "  deadline {} (grpc-timeout)", human_duration(t as i64))?;
        }
        headers_text(&mut self.out, "request headers", &call.request_headers, call.blocks[0].as_deref())?;
        let mut budget = self.decoder.budget();
        for (i, m) in call.requests.iter().enumerate() {
            let at = self.clock.peek(m.ts);
            message_text(
                &mut self.out,
                ("request", i, &at),
                m,
                &self.decoder.message_within(call, m, true, &mut budget),
            )?;
        }
        if !call.response_headers.is_empty() {
            headers_text(&mut self.out, "response headers", &call.response_headers, call.blocks[1].as_deref())?;
        }
        for (i, m) in call.responses.iter().enumerate() {
            let at = self.clock.peek(m.ts);
            let d = self.decoder.message_within(call, m, false, &mut budget);
            message_text(&mut self.out, ("response", i, &at), m, &d)?;
        }
        if let Some(body) = &call.response_body {
            writeln!(
                self.out,
                "  response body (not gRPC, {} bytes):\n{}",
                call.bytes[1],
                // Its lines stay lines; what is inside them is escaped.
                indent(
                    &String::from_utf8_lossy(body)
                        .trim_end()
                        .lines()
                        .map(|l| clean(l).into_owned())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    4
                )
            )?;
        }
        let label = if call.trailers_only { "trailers (Trailers-Only response)" } else { "trailers" };
        if !call.trailers.is_empty() {
            headers_text(&mut self.out, label, &call.trailers, call.blocks[2].as_deref())?;
        }
        let (o, t) = call.verdict();
        match (o, t) {
            (_, Some(t)) => writeln!(self.out, "  status: {} (transport: {})", t.implied_status_name, t.detail)?,
            (Origin::Application, _) => writeln!(
                self.out,
                "  status: {} (application){}",
                line.status,
                call.grpc_message().map(|m| format!(": {}", clean(&m))).unwrap_or_default()
            )?,
            (Origin::Unknown, _) => writeln!(
                self.out,
                "  status: unknown ({})",
                call.status_unknown_reason().unwrap_or_else(|| "not captured".into())
            )?,
            _ => writeln!(self.out, "  status: {}", line.status)?,
        }
        if let Some(d) = call.status_details() {
            match self.decoder.schema_for(call.server).status_details(&d) {
                Ok(v) => writeln!(self.out, "  status details:\n{}", indent(&pretty(&v), 4))?,
                Err(e) => writeln!(self.out, "  status details: not decodable: {e}")?,
            }
        }
        for n in &call.notes {
            writeln!(self.out, "  ! {}", clean(&n.text))?;
        }
        writeln!(self.out)
    }
}

impl<W: Write> Sink for CallsPrinter<W> {
    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        match ev {
            GrpcEvent::Started { conn, stream_id, start } => {
                if self.ordered {
                    self.open.insert((start, conn, stream_id));
                }
            }
            GrpcEvent::Finished(call) => {
                self.resolver.observe(&self.decoder, &call);
                if !self.ordered {
                    self.print(call);
                    return flow_of(self.error.as_ref());
                }
                let key = (call.start, call.conn, call.stream_id);
                self.open.remove(&key);
                if call.method_key().is_some() {
                    self.awaiting.insert(key);
                }
                self.ready.insert(key, call);
                self.release();
            }
            GrpcEvent::Schema { server, files } => {
                // Calls released before the schema arrived render without it.
                self.render_pending();
                self.decoder.learn(server, &files);
                self.resolver.refresh(&self.decoder);
            }
        }
        flow_of(self.error.as_ref())
    }

    fn capture_began(&mut self, ts: Timestamp) -> Flow {
        self.clock.origin = Some(ts);
        CONTINUE
    }
}

/// `calls` as JSON lines, in order (boxed as they were held).
#[allow(clippy::vec_box)]
fn json_lines(calls: Vec<Box<Call>>, decoder: &Decoder) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(calls.len() * 2048);
    for call in &calls {
        write_json_line(&mut buf, &CallRecord::new(call, decoder))?;
    }
    Ok(buf)
}

/// Why an inferred method is believed, for `calls -v`.
fn method_evidence(call: &Call) -> Option<String> {
    use crate::grpc::MethodSource;
    let key = call.method_key()?;
    let inf = call.inferred.as_ref()?;
    Some(match (inf.source, &inf.method) {
        (MethodSource::Peer, Some(m)) => {
            format!("{m}, inferred: :path is {key}, and the same request was sent to {m} on another connection")
        }
        (_, Some(m)) => format!(
            "{m}, inferred: :path is {key}, and of the schema's methods only {m} fits every call sharing it (types, wire types, streaming)"
        ),
        (_, None) => format!("not captured (:path is {key}); fit every call sharing it: {}", inf.candidates.join(", ")),
    })
}

fn paint(s: &str, origin: Option<Origin>, color: bool) -> String {
    if !color {
        return s.to_string();
    }
    let code = match origin {
        Some(Origin::None) => "32",
        Some(Origin::Application) => "33",
        Some(Origin::Transport) => "31;1",
        Some(Origin::Unknown) | None => "2",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Pretty JSON safe for a terminal: serde_json escapes only the C0
/// controls, so DEL and the C1 controls of a hostile capture's strings are
/// escaped here (still valid JSON: they only occur inside strings).
fn pretty(v: &Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text;
    }
    text.chars().fold(String::with_capacity(text.len() + 16), |mut out, c| {
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
        out
    })
}

fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines().map(|l| format!("{pad}{l}")).collect::<Vec<_>>().join("\n")
}

fn headers_text<W: Write>(o: &mut W, label: &str, list: &[HeaderPair], head: Option<&Head>) -> io::Result<()> {
    writeln!(o, "  {label}:")?;
    for (i, (n, v)) in list.iter().enumerate() {
        // An unknown part is the HPACK entry from before the capture it refers to.
        let slot = head.and_then(|h| h.slots.iter().find(|(at, _)| *at == i)).map(|(_, s)| s.to_string());
        let unknown = || slot.clone().unwrap_or_else(|| "<unknown>".into());
        let name = n.as_ref().map_or_else(|| unknown().into(), |n| String::from_utf8_lossy(n));
        let value = match v {
            None => unknown(),
            Some(v) if name.ends_with("-bin") => match decode_bin(v) {
                Some((bytes, _)) => format!(
                    "{} ({} bytes: {})",
                    truncate(&bin_as_base64(v), 64),
                    bytes.len(),
                    crate::present::hex_preview(&bytes)
                ),
                None => format!("{} (not valid base64)", String::from_utf8_lossy(v)),
            },
            Some(v) if name == "grpc-message" => {
                format!("{} (decoded: {:?})", String::from_utf8_lossy(v), crate::grpc::status::percent_decode(v))
            }
            Some(v) => String::from_utf8_lossy(v).into_owned(),
        };
        writeln!(o, "    {}: {}", clean(&name), clean(&value))?;
    }
    Ok(())
}

/// A message of `calls -v`: `(what, index, time shown)`, then its content.
fn message_text<W: Write>(o: &mut W, (what, i, at): (&str, usize, &str), m: &Message, d: &Decoded) -> io::Result<()> {
    let mut head = format!("  {what} {} ({} bytes", i + 1, m.length);
    if m.compressed {
        head.push_str(&format!(
            ", compressed{}",
            d.decompressed.map(|n| format!(" to {n} bytes decoded")).unwrap_or_default()
        ));
    }
    head.push_str(&format!(", at {at})"));
    if let Some(t) = &d.type_name {
        head.push_str(&format!(" {t}"));
    }
    if let Some(s) = &d.type_source {
        head.push_str(&format!(" (type from {s})"));
    }
    writeln!(o, "{head}:")?;
    if let Some(j) = &d.json {
        writeln!(o, "{}", indent(&pretty(&j.tree()), 4))?;
    } else if let Some(f) = &d.fields {
        writeln!(o, "    (no schema: fields by number and wire type)\n{}", indent(&pretty(f), 4))?;
    }
    if let Some(e) = &d.error {
        writeln!(o, "    ! {e}")?;
    }
    if d.unknown_fields > 0 {
        writeln!(o, "    ! {} field(s) not in the schema", d.unknown_fields)?;
    }
    if let Some(t) = &d.truncated {
        writeln!(o, "    ! truncated: {t}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_escapes_del_and_c1_controls_and_stays_json() {
        let v = serde_json::json!({"sym": "Invent\u{0}\u{1}\u{7f}\u{85}ory"});
        let text = pretty(&v);
        assert!(!text.lines().any(|l| l.chars().any(char::is_control)), "{text:?}");
        assert!(text.contains("\\u007f") && text.contains("\\u0085"), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v, "the same value, escaped");
    }
}
