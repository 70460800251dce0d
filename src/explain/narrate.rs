//! `grpcscope explain`: a narrated walkthrough of one connection (or one
//! call), step by step, in plain English with the RFC section of each step.
//! A [`Sink`] that writes as it goes: steps wait only until no open call
//! can still add an earlier one (its messages are narrated when it ends),
//! so a connection of a million PINGs is not a million steps in memory.

use super::frame as explain_frame;
use crate::analysis::{flow_of, ConnReport, Flow, Sink, CONTINUE};
use crate::grpc::status::status_name;
use crate::grpc::{Call, GrpcEvent, Message, Origin};
use crate::h2::H2Event;
use crate::tcp::{ConnId, Dir, StreamEvent};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::net::SocketAddr;

/// Steps held for time order at most; past it the oldest are written even
/// though an open call may still add an earlier one (marked when it does).
const MAX_PENDING_STEPS: usize = 10_000;

/// Packets whose TCP direction is remembered until the first frame.
const TCP_DIRS_KEPT: usize = 4_096;

/// Steps wait this long behind the latest event: the TCP layer may still
/// deliver earlier segments it held for the other direction (up to
/// `--reorder-hold-time`, 1 s by default).
const REORDER_SLACK_NANOS: i64 = 2_000_000_000;

/// One step of the walkthrough.
struct Step {
    dir: Option<Dir>,
    title: String,
    text: String,
}

/// What to narrate.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    /// The connection.
    pub conn: ConnId,
    /// Only this stream (a call), with the connection's setup before it.
    pub stream: Option<u32>,
}

/// Why a walkthrough could not be written.
#[derive(Debug)]
pub enum Unwritten {
    /// The output failed.
    Io(io::Error),
    /// The chosen connection is not in the capture.
    NoSuchConnection(u64),
}

/// Narrates the chosen connection to `out` as the capture is read.
pub struct Narrator<W: Write> {
    choice: Choice,
    out: W,
    /// Steps not written yet, in time order (ties in the order they were made).
    pending: BTreeMap<(Timestamp, u64), Step>,
    made: u64,
    /// Calls of the chosen connection still open: (start, stream).
    open_calls: BTreeSet<(Timestamp, u32)>,
    /// The latest time seen on the chosen connection.
    latest: Option<Timestamp>,
    /// Client and server, once the connection was seen.
    ends: Option<(SocketAddr, SocketAddr)>,
    /// Until HTTP/2 has said who is the client: the TCP layer's direction
    /// of the first packets (frames carry HTTP/2's, which may be swapped).
    tcp_dirs: Option<Vec<(u64, Dir)>>,
    syn_ts: Option<Timestamp>,
    /// The chosen call ended then (connection-level frames after it are not its).
    chosen_end: Option<Timestamp>,
    /// Steps written, and the time of the first.
    written: usize,
    first_ts: Option<Timestamp>,
    /// How each step's time is shown (`-t`).
    pub clock: crate::time::Clock,
    /// Where gRPC messages lie in the connection's DATA frames.
    layouts: crate::present::data_layout::DataLayouts,
    /// How messages are decoded (`--proto-path` and the other schema
    /// flags); without one, messages are told by their prefix only.
    pub decoder: Option<crate::present::Decoder>,
    /// The last step written: a later one from before it is marked.
    written_up_to: Option<Timestamp>,
    /// Every connection's report: the reconnect analysis needs the channel's others.
    reports: Vec<ConnReport>,
    error: Option<io::Error>,
}

impl<W: Write> Narrator<W> {
    /// A narrator of `choice` writing to `out`.
    pub fn new(choice: Choice, out: W) -> Self {
        Narrator {
            clock: crate::time::Clock::new(crate::time::TimeFormat::Utc, None),
            layouts: Default::default(),
            decoder: None,
            choice,
            out,
            pending: BTreeMap::new(),
            made: 0,
            open_calls: BTreeSet::new(),
            latest: None,
            ends: None,
            tcp_dirs: Some(Vec::new()),
            syn_ts: None,
            chosen_end: None,
            written: 0,
            first_ts: None,
            written_up_to: None,
            reports: Vec::new(),
            error: None,
        }
    }

    fn push(&mut self, ts: Timestamp, dir: Option<Dir>, title: String, text: String) {
        self.made += 1;
        self.pending.insert((ts, self.made), Step { dir, title, text });
    }

    /// Whether a frame on `stream` belongs in the walkthrough: with a call
    /// chosen, its own frames and the connection-level ones before it ends.
    fn wanted_stream(&self, stream: u32, ts: Timestamp) -> bool {
        match self.choice.stream {
            None => true,
            Some(s) if stream == s => true,
            Some(_) => stream == 0 && self.chosen_end.is_none_or(|e| e >= ts),
        }
    }

    /// Writes the steps no open call can precede any more, then the oldest
    /// beyond the hold's bound.
    fn flush_ready(&mut self) -> Flow {
        let Some(latest) = self.latest else { return CONTINUE };
        let settled = latest.add_nanos(-REORDER_SLACK_NANOS);
        let bound = self.open_calls.first().map_or(settled, |(start, _)| (*start).min(settled));
        loop {
            let over = self.pending.len() > MAX_PENDING_STEPS;
            let Some(entry) = self.pending.first_entry() else { break };
            let (ts, _) = *entry.key();
            if ts >= bound && !over {
                break;
            }
            let step = entry.remove();
            self.write_step(ts, &step);
            if self.error.is_some() {
                break;
            }
        }
        flow_of(self.error.as_ref())
    }

    fn write_step(&mut self, ts: Timestamp, s: &Step) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write_step_inner(ts, s) {
            self.error = Some(e);
        }
    }

    fn write_step_inner(&mut self, ts: Timestamp, s: &Step) -> io::Result<()> {
        if self.written == 0 {
            let (client, server) = self.ends.map_or(("?".into(), "?".into()), |(c, s)| (c.to_string(), s.to_string()));
            let what = match self.choice.stream {
                Some(s) => format!("call on stream {s} of connection {}", self.choice.conn),
                None => format!("connection {}", self.choice.conn),
            };
            writeln!(self.out, "Walkthrough of {what}: client {client} -> server {server}")?;
            writeln!(self.out, "(C->S: client to server; S->C: server to client. Times are capture times.)\n")?;
            self.first_ts = Some(ts);
        }
        self.written += 1;
        let dir = match s.dir {
            Some(Dir::ToServer) => "C->S",
            Some(Dir::ToClient) => "S->C",
            None => "    ",
        };
        let start = self.first_ts.unwrap_or(ts);
        let at = crate::time::human_duration(ts.nanos_since(start));
        let late = if self.written_up_to.is_some_and(|w| ts < w) {
            "  (out of time order: held past the walkthrough's bound)"
        } else {
            ""
        };
        self.written_up_to = Some(self.written_up_to.map_or(ts, |w| w.max(ts)));
        let shown = self.clock.show(ts);
        writeln!(self.out, "{:>3}. {shown} (+{at})  {dir}  {}{late}", self.written, s.title)?;
        for line in s.text.lines() {
            for wrapped in wrap(line, WIDTH) {
                writeln!(self.out, "       {wrapped}")?;
            }
        }
        writeln!(self.out)
    }

    /// Writes what is left: the connection's end and its reconnect, which
    /// only the connection reports say. Returns the output and its error.
    pub fn finish(mut self) -> (W, Result<(), Unwritten>) {
        if let Some(e) = self.error.take() {
            return (self.out, Err(Unwritten::Io(e)));
        }
        let reports = std::mem::take(&mut self.reports);
        let Some(report) = reports.iter().find(|r| r.tcp.id == self.choice.conn) else {
            return (self.out, Err(Unwritten::NoSuchConnection(self.choice.conn)));
        };
        let (_, reconnects) = crate::analysis::channels::analyze(&reports);
        let next = reconnects
            .iter()
            .find(|(_, r)| r.reconnect_of == self.choice.conn)
            .and_then(|(id, _)| reports.iter().find(|r| r.tcp.id == *id));
        if self.ends.is_none() {
            self.ends = Some((report.tcp.client, report.tcp.server));
        }
        self.end_steps(report, next);
        for ((ts, _), step) in std::mem::take(&mut self.pending) {
            self.write_step(ts, &step);
        }
        let r = match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
        .map_err(Unwritten::Io);
        (self.out, r)
    }

    /// The TCP handshake, step by step, as its packets arrive.
    fn control_step(&mut self, dir: Dir, ts: Timestamp, flags: crate::net::TcpFlags) {
        let (from, to) = super::who(dir);
        if flags.syn && !flags.ack {
            self.syn_ts = Some(ts);
            let t = "The client asks to open a TCP connection: SYN carries its initial sequence number \
                     (RFC 9293 §3.5, the three-way handshake).";
            self.push(ts, Some(dir), "TCP SYN".into(), t.into());
        } else if flags.syn {
            let t = "The server accepts: SYN-ACK acknowledges the client's SYN and carries the server's \
                     own initial sequence number (RFC 9293 §3.5).";
            self.push(ts, Some(dir), "TCP SYN-ACK".into(), t.into());
        } else if flags.rst {
            let t = format!("{from} resets the TCP connection: everything in flight is lost (RFC 9293 §3.10.7).");
            self.push(ts, Some(dir), "TCP RST".into(), t);
        } else if flags.fin {
            let t = format!(
                "{from} has no more bytes to send: FIN half-closes its direction; {to} may still send (RFC 9293 §3.6)."
            );
            self.push(ts, Some(dir), "TCP FIN".into(), t);
        } else if flags.ack {
            let rtt = self.syn_ts.map_or("?".into(), |s| crate::time::human_duration(ts.nanos_since(s)));
            let t = format!(
                "The client acknowledges the SYN-ACK: the connection is established. SYN to this ACK \
                 took {rtt}, one network round trip seen from the capture point (RFC 9293 §3.5)."
            );
            self.push(ts, Some(dir), "TCP ACK: established".into(), t);
        }
    }

    fn call_steps(&mut self, call: &Call) {
        if self.choice.stream.is_some_and(|s| s != call.stream_id) {
            return;
        }
        for (request, msgs) in [(true, &call.requests), (false, &call.responses)] {
            for (i, m) in msgs.iter().enumerate() {
                let (title, mut text) = message_step(call, m, i, request);
                if let Some(d) = &self.decoder {
                    text.push_str(&decoded_sentence(&d.message(call, m, request)));
                }
                let dir = if request { Dir::ToServer } else { Dir::ToClient };
                self.push(m.ts, Some(dir), title, text);
            }
        }
        if let Some(end) = call.end {
            self.push(end, None, format!("Call on stream {} ends", call.stream_id), call_end(call));
        }
    }

    /// The first frame says whether HTTP/2 told client and server the
    /// other way round from the TCP layer's guess: the header then swaps them.
    fn confirm_roles(&mut self, packet: u64, dir: Dir) {
        let Some(dirs) = self.tcp_dirs.take() else { return };
        let swapped = dirs.iter().find(|(p, _)| *p == packet).is_some_and(|(_, d)| *d != dir);
        if let (true, Some((c, s))) = (swapped, self.ends) {
            self.ends = Some((s, c));
        }
    }

    /// Notes the time of an event of the chosen connection.
    fn seen(&mut self, ts: Timestamp) {
        self.latest = Some(self.latest.map_or(ts, |l| l.max(ts)));
    }

    fn end_steps(&mut self, r: &ConnReport, next: Option<&ConnReport>) {
        let why = crate::present::text::clean(&crate::analysis::channels::why_ended(r)).into_owned();
        let text = format!(
            "The connection ends: {why}. A FIN closes one direction gracefully; a RST aborts both \
             (RFC 9293 §3.6). Calls still open on it fail with UNAVAILABLE on the client."
        );
        self.push(r.tcp.end_ts, None, "Connection ends".into(), text);
        if let Some(next) = next {
            let gap = crate::time::human_duration(next.tcp.first_ts.nanos_since(r.tcp.end_ts));
            let text = format!(
                "The client's channel reconnects: connection {} from {} opens {gap} later, with a new \
                 handshake, preface and SETTINGS, and a fresh HPACK table. gRPC channels do this on \
                 their own (with exponential backoff after failures), and calls started after it go there \
                 (`grpcscope explain --conn {}`).",
                next.tcp.id, next.tcp.client, next.tcp.id
            );
            self.push(next.tcp.first_ts, None, "Reconnect".into(), text);
        }
    }
}

/// Columns of text after the step's indentation.
const WIDTH: usize = 92;

/// `line` cut at spaces into pieces of at most `width` characters (a
/// longer word stays whole); continuation lines keep the line's own
/// indentation plus two spaces.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let indent: String = line.chars().take_while(|c| *c == ' ').collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in line.split_whitespace() {
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut cur));
        }
        if cur.is_empty() {
            cur.push_str(&indent);
            if !out.is_empty() {
                cur.push_str("  ");
            }
        } else {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// The 5-byte gRPC prefix of a message, and what it says.
fn message_step(call: &Call, m: &Message, i: usize, request: bool) -> (String, String) {
    let [a, b, c, d] = m.length.to_be_bytes();
    let prefix = format!("{:02x} {a:02x} {b:02x} {c:02x} {d:02x}", u8::from(m.compressed));
    let who = if request { "request" } else { "response" };
    let mut text = format!(
        "gRPC Length-Prefixed-Message (gRPC over HTTP/2, \"Requests\"/\"Responses\"): the 5-byte prefix \
         {prefix} says compressed={} and {} bytes follow, a protobuf message, carried in DATA frames whose \
         boundaries it need not match.",
        u8::from(m.compressed),
        m.length
    );
    if m.compressed {
        let enc = call.encoding(request).unwrap_or_else(|| "(no grpc-encoding header!)".into());
        text.push_str(&format!(" It is compressed with the call's grpc-encoding, {enc}."));
    }
    if let Some(e) = &m.error {
        text.push_str(&format!(" Problem: {e}."));
    }
    (format!("gRPC {who} message #{} on stream {}", i + 1, call.stream_id), text)
}

/// What a message decodes to: JSON with its type when a schema has it,
/// protoc --decode_raw's form without one, or why it does not decode.
fn decoded_sentence(d: &crate::present::Decoded) -> String {
    const SHOWN: usize = 400;
    let cut = |s: String| crate::present::text::truncate(&crate::present::text::clean(&s), SHOWN);
    match (&d.json, &d.fields, &d.error) {
        (Some(j), _, _) => {
            let ty = d.type_name.as_deref().map_or_else(String::new, |t| format!(" as {t}"));
            format!(" Decoded{ty}: {}", cut(j.to_string()))
        }
        (None, Some(f), _) => format!(
            " Without a schema for it (give --proto-path), its fields by number: {}",
            cut(crate::present::raw_text::one_line(f, SHOWN))
        ),
        (None, None, Some(e)) => format!(" It does not decode: {}.", cut(e.clone())),
        _ => String::new(),
    }
}

/// How a call ended, and who decided.
fn call_end(call: &Call) -> String {
    let line = crate::present::line::CallLine::new(call);
    let status = line.grpc_status;
    let name = status.and_then(status_name).unwrap_or("no grpc-status");
    let mut s = format!(
        "{} ended after {}.",
        call.method().map(|m| crate::present::text::clean(&m).into_owned()).unwrap_or_else(|| {
            match call.method_key() {
                Some(k) => format!("The call whose :path is HPACK entry {k} (inserted before the capture)"),
                None => "The call".into(),
            }
        }),
        line.duration_nanos.map_or("an unknown time (its start was not captured)".into(), crate::time::human_duration)
    );
    let transport = line.transport.as_ref();
    match line.verdict {
        Origin::None => s.push_str(" The trailers say grpc-status 0, OK: the server's handler returned normally."),
        Origin::Application => s.push_str(&format!(
            " The trailers say grpc-status {} {name}: {}. The application chose this status: the transport worked.",
            status.unwrap_or(0),
            status_meaning(status.unwrap_or(0))
        )),
        Origin::Transport => s.push_str(&format!(
            " The transport failed it: {}. No application status was chosen; the client reports {}.",
            transport.map_or("unknown", |t| t.detail.as_str()),
            transport.map_or("UNAVAILABLE", |t| t.implied_status_name)
        )),
        Origin::Unknown => s.push_str(&format!(
            " Its status is unknown, not an error: {}.",
            line.unknown_because.as_deref().unwrap_or("the capture does not hold it")
        )),
    }
    if line.trailers_only {
        s.push_str(
            " It was Trailers-Only: one HEADERS frame with END_STREAM carried :status and grpc-status together.",
        );
    }
    s
}

/// What a gRPC status code means (grpc/doc/statuscodes.md).
pub fn status_meaning(code: u32) -> &'static str {
    match code {
        0 => "success",
        1 => "the call was cancelled, typically by the caller",
        2 => "an unknown error, e.g. an exception the server did not map to a status",
        3 => "the client sent an invalid argument",
        4 => "the deadline expired before the call completed",
        5 => "a requested entity was not found",
        6 => "the entity the client tried to create already exists",
        7 => "the caller lacks permission",
        8 => "a resource is exhausted: a quota, or a message too large",
        9 => "the system is not in a state the operation requires",
        10 => "the operation was aborted, e.g. by a concurrency conflict",
        11 => "the operation went past the valid range",
        12 => "the method is not implemented or supported",
        13 => "an internal error: an invariant the server expected is broken",
        14 => "the service is unavailable: usually transient, safe to retry",
        15 => "unrecoverable data loss or corruption",
        16 => "the request lacks valid authentication credentials",
        _ => "a code outside the 17 that gRPC defines",
    }
}

impl<W: Write> Sink for Narrator<W> {
    fn capture_began(&mut self, ts: Timestamp) -> Flow {
        self.clock.origin = Some(ts);
        CONTINUE
    }

    fn stream_event(&mut self, ev: &StreamEvent) -> Flow {
        if ev.conn() != self.choice.conn {
            return CONTINUE;
        }
        match ev {
            StreamEvent::Open { ts, client, server, syn_seen, .. } => {
                self.ends = Some((*client, *server));
                self.seen(*ts);
                if !syn_seen {
                    let t = "The capture began after this connection was opened: its handshake (and maybe its \
                             HTTP/2 preface and SETTINGS) were never seen, so HPACK entries made before the \
                             capture are unknown.";
                    self.push(*ts, None, "Joined mid-connection".into(), t.into());
                }
            }
            StreamEvent::Control { dir, ts, flags, .. } => {
                self.seen(*ts);
                self.control_step(*dir, *ts, *flags);
            }
            StreamEvent::Data { dir, packet, .. } => {
                if let Some(d) = self.tcp_dirs.as_mut().filter(|d| d.len() < TCP_DIRS_KEPT) {
                    d.push((*packet, *dir));
                }
            }
            _ => {}
        }
        self.flush_ready()
    }

    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        match ev {
            H2Event::Preface { conn, ts, .. } if *conn == self.choice.conn => {
                self.seen(*ts);
                let t = "The client's 24-byte connection preface, \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\": it \
                         proves the client speaks HTTP/2 (prior knowledge, as gRPC over plain TCP does) and is \
                         followed at once by its SETTINGS (RFC 9113 §3.4).";
                self.push(*ts, Some(Dir::ToServer), "HTTP/2 client preface".into(), t.into());
            }
            H2Event::Frame(f) if f.conn == self.choice.conn => {
                self.seen(f.ts);
                self.confirm_roles(f.packet, f.dir);
                // Every frame of the connection moves the layouts, told or not.
                let layout = self.layouts.frame(f);
                if self.wanted_stream(f.header.stream_id, f.ts) {
                    let title = format!("{} on stream {}", f.header.kind.name(), f.header.stream_id);
                    self.push(f.ts, Some(f.dir), title, explain_frame(f, layout.as_ref()));
                }
            }
            H2Event::Lost { conn, dir, ts, bytes, .. } if *conn == self.choice.conn => {
                self.seen(*ts);
                let t = format!(
                    "{bytes} bytes of this direction were never captured. Frames there are lost, and so is \
                     HPACK state: header fields that refer to table entries made in the gap are unknown."
                );
                self.push(*ts, Some(*dir), "Bytes lost".into(), t);
            }
            _ => return CONTINUE,
        }
        self.flush_ready()
    }

    fn grpc_event(&mut self, ev: GrpcEvent) -> Flow {
        match ev {
            GrpcEvent::Started { conn, stream_id, start } if conn == self.choice.conn => {
                self.open_calls.insert((start, stream_id));
            }
            GrpcEvent::Schema { server, files } => {
                if let Some(d) = &mut self.decoder {
                    d.learn(server, &files);
                }
                return CONTINUE;
            }
            GrpcEvent::Finished(call) if call.conn == self.choice.conn => {
                self.open_calls.remove(&(call.start, call.stream_id));
                if self.choice.stream == Some(call.stream_id) {
                    self.chosen_end = call.end;
                }
                self.call_steps(&call);
            }
            _ => return CONTINUE,
        }
        self.flush_ready()
    }

    fn connection(&mut self, c: ConnReport) -> Flow {
        self.reports.push(c);
        CONTINUE
    }

    fn tls_step(&mut self, conn: ConnId, step: &crate::tls::TlsStep) -> Flow {
        if conn != self.choice.conn || self.choice.stream.is_some() {
            return CONTINUE;
        }
        self.seen(step.ts);
        let (title, text) = tls_step_text(step);
        let title = if step.decrypted { format!("{title} (decrypted)") } else { title };
        self.push(step.ts, Some(step.dir), title, text);
        self.flush_ready()
    }
}

/// A TLS step in plain words, with its RFC section.
fn tls_step_text(step: &crate::tls::TlsStep) -> (String, String) {
    use crate::tls::handshake::{kind, message_name};
    use crate::tls::StepKind;
    let side = if step.dir == Dir::ToServer { "client" } else { "server" };
    match &step.kind {
        StepKind::Handshake(t, detail) => {
            let detail = crate::present::text::clean(detail).into_owned();
            let text = match *t {
                kind::CLIENT_HELLO => format!(
                    "The client opens the TLS handshake: the versions, cipher suites and key shares it offers. \
                     {detail}. SNI names the server it wants; ALPN the protocols it speaks (gRPC needs h2). \
                     The client random is what a key log line is found by (RFC 8446 §4.1.2)."
                ),
                kind::SERVER_HELLO if detail == "HelloRetryRequest" => "A HelloRetryRequest: the server accepts \
                     none of the client's key shares and names the group it wants; a second ClientHello follows \
                     (RFC 8446 §4.1.4)."
                    .into(),
                kind::SERVER_HELLO => format!(
                    "The server chooses: {detail}, and its key share. In TLS 1.3 everything after this is \
                     encrypted, the rest of the handshake included; TLS 1.2 stays in the clear until \
                     ChangeCipherSpec (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3)."
                ),
                kind::ENCRYPTED_EXTENSIONS => format!(
                    "The server's extensions that need no clear text: {detail}. With ALPN h2 both sides speak \
                     HTTP/2 on the decrypted bytes (RFC 8446 §4.3.1)."
                ),
                kind::CERTIFICATE => format!(
                    "The {side}'s certificate chain: {detail}. The peer checks it against the CAs it trusts \
                     and the name it asked for (RFC 8446 §4.4.2)."
                ),
                kind::CERTIFICATE_REQUEST => "The server asks the client for a certificate: mutual TLS, as \
                     a service mesh does between pods (RFC 8446 §4.3.2)."
                    .into(),
                kind::CERTIFICATE_VERIFY => format!(
                    "The {side} signs the handshake so far with its certificate's key: proof it holds that \
                     key (RFC 8446 §4.4.3)."
                ),
                kind::FINISHED => format!(
                    "A MAC over the whole handshake: the {side}'s side of it is complete, and its next records \
                     use the application traffic keys (RFC 8446 §4.4.4, RFC 5246 §7.4.9)."
                ),
                kind::NEW_SESSION_TICKET => "A ticket the client may present later to resume without a full \
                     handshake (RFC 8446 §4.6.1)."
                    .into(),
                kind::KEY_UPDATE => format!(
                    "The {side} moves to the next generation of its traffic keys (derived from the last, \
                     nothing new in the key log is needed); long-lived gRPC connections do this \
                     (RFC 8446 §4.6.3)."
                ),
                kind::SERVER_KEY_EXCHANGE => "TLS 1.2: the server's ephemeral (EC)DHE public key, signed with \
                     its certificate's key (RFC 5246 §7.4.3)."
                    .into(),
                kind::SERVER_HELLO_DONE => "TLS 1.2: the server's part of the hello is over (RFC 5246 §7.4.5).".into(),
                kind::CLIENT_KEY_EXCHANGE => "TLS 1.2: the client's ephemeral public key; both sides now \
                     derive the master secret (RFC 5246 §7.4.7)."
                    .into(),
                _ => "A handshake message grpcscope does not narrate.".into(),
            };
            let name = if *t == kind::SERVER_HELLO && detail == "HelloRetryRequest" {
                "HelloRetryRequest"
            } else {
                message_name(*t)
            };
            (format!("TLS {name}"), text)
        }
        StepKind::ChangeCipherSpec => (
            "TLS ChangeCipherSpec".into(),
            format!("TLS 1.2: from the next record on, the {side} encrypts (RFC 5246 §7.1).",),
        ),
        StepKind::Alert(level, name) => {
            let name = crate::present::text::clean(name).into_owned();
            let meaning = crate::tls::conn::alert_meaning(&name).map(|m| format!(": {m}")).unwrap_or_default();
            (
                format!("TLS alert {level} {name}"),
                format!(
                    "The {side} sends a {level} alert, {name}{meaning}. A fatal alert ends the connection \
                     (RFC 8446 §6)."
                ),
            )
        }
        StepKind::Keys(label) => (
            format!("TLS keys from {label}"),
            format!(
                "The key log's {label} secret for this client random gives the {side}'s record keys \
                 (HKDF-Expand-Label, RFC 8446 §7.3; TLS 1.2's PRF, RFC 5246 §6.3): its records from here \
                 on are shown decrypted."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_keeps_words_and_indentation() {
        assert_eq!(wrap("one two three four", 9), vec!["one two", "  three", "  four"]);
        assert_eq!(wrap("  a bb cc", 6), vec!["  a bb", "    cc"]);
        assert_eq!(wrap("", 5), vec![""]);
        assert_eq!(wrap("averyveryverylongword x", 5), vec!["averyveryverylongword", "  x"]);
    }
}
