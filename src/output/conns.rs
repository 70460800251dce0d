//! `grpcscope conns`: one record per TCP connection, grouped by channel
//! (client host → server endpoint), with reconnects and the HTTP/2 and gRPC
//! view of each connection.

use super::{write_json_line, Format};
use crate::analysis::channels::{self, Channel, Reconnect};
use crate::analysis::pipeline::ConnReport;
use crate::analysis::{flow_of, Flow, Sink, CONTINUE};
use crate::filter::Filter;
use crate::h2::frame::setting_name;
use crate::present::line::ConnLine;
use crate::present::text::{clean, human_bytes, or_dash};
use crate::present::{ladder, ConnRecord};
use crate::tcp::ConnId;
use crate::time::human_duration;
use crate::time::{Clock, TimeFormat};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Prints connections once the capture is read (grouping needs them all),
/// or as each ends for a live capture.
pub struct ConnsPrinter<W: Write> {
    out: W,
    format: Format,
    verbose: bool,
    live: bool,
    reports: Kept,
    /// Only connections matching this are printed.
    pub filter: Option<Filter>,
    /// The first write error.
    pub error: Option<io::Error>,
    /// How the START column shows times (`-t`).
    pub clock: Clock,
    /// Rows of a Parquet table instead of lines (`--format parquet`), with
    /// the capture's name.
    pub table: Option<(Box<crate::output::parquet::Table>, String)>,
}

impl<W: Write> ConnsPrinter<W> {
    /// A printer; `live` prints each connection as it ends.
    pub fn new(out: W, format: Format, verbose: bool, live: bool) -> Self {
        let clock = Clock::new(TimeFormat::Utc, None);
        let reports = Kept::default();
        ConnsPrinter { out, format, verbose, live, reports, filter: None, error: None, clock, table: None }
    }

    /// Writes the Parquet table's end, when there is one; its rows.
    pub fn finish_table(&mut self) -> io::Result<u64> {
        match &mut self.table {
            Some((t, _)) => t.finish(),
            None => Ok(0),
        }
    }

    /// A record as a JSON line, or as a row when rows go to a table.
    fn record_out(
        out: &mut W,
        table: &mut Option<(Box<crate::output::parquet::Table>, String)>,
        rec: &ConnRecord,
    ) -> io::Result<()> {
        match table {
            Some((t, capture)) => crate::output::parquet::conns::add(t, capture, rec),
            None => write_json_line(out, rec),
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

    fn wanted(&self, r: &ConnReport) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(r))
    }

    /// Prints everything (end of capture), then a footer in text mode.
    pub fn finish(&mut self, counters: &crate::analysis::CaptureCounters) {
        if self.live {
            return;
        }
        let kept = std::mem::take(&mut self.reports);
        let mut reports: Vec<&ConnReport> = kept.iter().collect();
        reports.sort_unstable_by_key(|r| r.tcp.id);
        let (chans, reconnects) = channels::analyze(reports.iter().copied());
        let r = match self.format {
            // Rows of a table come here too: the CLI asks for JSON with one.
            Format::Json => {
                let wanted: Vec<&ConnReport> = reports.iter().copied().filter(|r| self.wanted(r)).collect();
                wanted.into_iter().try_for_each(|r| {
                    Self::record_out(&mut self.out, &mut self.table, &ConnRecord::new(r, reconnects.get(&r.tcp.id)))
                })
            }
            Format::Text => {
                let by_id: BTreeMap<ConnId, &ConnReport> = reports.iter().map(|r| (r.tcp.id, *r)).collect();
                self.text(&chans, &by_id, &reconnects, counters, reports.len())
            }
        };
        if let Err(e) = r.and_then(|()| self.out.flush()) {
            self.error.get_or_insert(e);
        }
    }

    fn text(
        &mut self,
        chans: &[Channel],
        by_id: &BTreeMap<ConnId, &ConnReport>,
        reconnects: &BTreeMap<ConnId, Reconnect>,
        counters: &crate::analysis::CaptureCounters,
        total: usize,
    ) -> io::Result<()> {
        for ch in chans {
            let members: Vec<&ConnReport> =
                ch.conns.iter().filter_map(|id| by_id.get(id).copied()).filter(|r| self.wanted(r)).collect();
            if members.is_empty() {
                continue;
            }
            let tls = match ch.tls_failures {
                0 => String::new(),
                n => format!(", {n} failed TLS handshake(s)"),
            };
            let server_name = members
                .iter()
                .find_map(|r| r.names.server.as_ref())
                .map(|n| format!(" ({})", n.label()))
                .unwrap_or_default();
            let client_name = members
                .iter()
                .find_map(|r| r.names.client.as_ref())
                .map(|n| format!(" ({})", n.label()))
                .unwrap_or_default();
            let header = format!(
                "channel {}{client_name} -> {}{server_name}: {} connection(s), {} established, {} reconnect(s), {} failed attempt(s){tls}",
                ch.client,
                ch.server,
                ch.conns.len(),
                ch.established,
                ch.reconnects,
                ch.failed_attempts
            );
            writeln!(self.out, "{}", clean(&header))?;
            let tw = self.clock.format.width();
            writeln!(
                self.out,
                "  {:>4}  {:<21} {:<tw$} {:>8} {:>9} {:<6} {:>5} {:>7}  {:>19}",
                "ID", "CLIENT", "START", "DURATION", "HANDSHAKE", "PROTO", "CALLS", "ERR a/t", "BYTES c/s"
            )?;
            for r in members {
                if let Some(line) = self.clock.date_line(r.tcp.first_ts) {
                    writeln!(self.out, "{line}")?;
                }
                self.text_row(r, reconnects.get(&r.tcp.id))?;
            }
            writeln!(self.out)?;
        }
        let ignored: Vec<String> = counters.ignored.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let mut line = format!("{total} connection(s); {} packets, {} TCP", counters.packets, counters.tcp_packets);
        if !ignored.is_empty() {
            line.push_str(&format!("; ignored: {}", ignored.join(", ")));
        }
        if counters.snaplen_cut > 0 {
            line.push_str(&format!("; {} packet(s) cut by the snaplen", counters.snaplen_cut));
        }
        writeln!(self.out, "{}", clean(&line))
    }

    fn text_row(&mut self, r: &ConnReport, reconnect: Option<&Reconnect>) -> io::Result<()> {
        let line = ConnLine::new(r);
        let c = &r.tcp;
        let [cs, sc] = &c.dirs;
        let tw = self.clock.format.width();
        writeln!(
            self.out,
            "  {:>4}  {:<21} {:<tw$} {:>8} {:>9} {:<6} {:>5} {:>7}  {:>19}",
            line.id,
            line.client,
            self.clock.show(line.start),
            human_duration(line.duration_nanos),
            or_dash(line.handshake_nanos.map(human_duration)),
            line.protocol,
            line.calls,
            line.errors(),
            format!("{}/{}", human_bytes(line.bytes[0]), human_bytes(line.bytes[1])),
        )?;
        let mut end = format!("        end: {}", line.end);
        let gaps = cs.gap_bytes + sc.gap_bytes;
        if gaps > 0 {
            end.push_str(&format!("; {} never captured", human_bytes(gaps)));
        }
        let retx = cs.retransmitted + sc.retransmitted;
        if retx > 0 {
            end.push_str(&format!("; {retx} retransmitted segment(s)"));
        }
        writeln!(self.out, "{}", clean(&end))?;
        if let Some(names) = r.names_described() {
            writeln!(self.out, "        names: {}", clean(&names))?;
        }
        if let Some(tls) = &r.tls {
            writeln!(self.out, "        tls: {}", clean(&tls.describe()))?;
            for line in tls.certificate_lines().into_iter().chain(tls.alert_lines()) {
                writeln!(self.out, "        tls: {}", clean(&line))?;
            }
        }
        let conflicts = cs.retransmit_conflicts + sc.retransmit_conflicts;
        if conflicts > 0 {
            writeln!(
                self.out,
                "        retransmit_conflict: {conflicts} retransmission(s) with different bytes than the copy \
                 taken; the first copy is decoded, as the Linux receiver keeps it"
            )?;
        }
        let stray = cs.rst_outside_window + sc.rst_outside_window;
        if stray > 0 {
            writeln!(
                self.out,
                "        rst_outside_window: {stray} RST(s) with a sequence number outside the receive window \
                 ignored, as a TCP stack ignores them (forged or stale)"
            )?;
        }
        let held = cs.held_for_peer + sc.held_for_peer;
        if held > 0 {
            let expired = cs.hold_expired + sc.hold_expired;
            writeln!(
                self.out,
                "        {held} segment(s) captured before the bytes they acknowledge were put after them \
                 (cross-direction order){}",
                if expired > 0 { format!("; {expired} released unmatched (never captured)") } else { String::new() }
            )?;
        }
        let bad = cs.bad_checksums + sc.bad_checksums;
        if bad > 0 {
            writeln!(
                self.out,
                "        bad_checksum: {bad} segment(s) with a checksum that matches neither their bytes nor \
                 checksum offload: damaged before the capture point, decoded anyway"
            )?;
        }
        let overflows = cs.buffer_overflows + sc.buffer_overflows;
        if overflows > 0 {
            writeln!(
                self.out,
                "        reassembly_buffer_full: the out-of-order buffer filled {overflows} time(s) and a hole was \
                 given up on early (--max-reassembly-buffer)"
            )?;
        }
        if let Some(h) = r.h2.as_ref().filter(|h| h.problems > 0) {
            // Every limit hit shows here, by the code `stats` counts it under.
            let codes: Vec<String> = h.problem_codes.iter().map(|(code, n)| format!("{code} {n}")).collect();
            writeln!(
                self.out,
                "        {} HTTP/2 problem(s) noted: {} (see `grpcscope frames --conn {}`)",
                h.problems,
                codes.join(", "),
                c.id
            )?;
            // What each code means, in a line (all of them: docs/notes.md).
            for code in h.problem_codes.keys() {
                writeln!(self.out, "          {code}: {}", code.meaning())?;
            }
        }
        if let Some(rc) = reconnect {
            let what = if c.established { "reconnect" } else { "attempt to reconnect" };
            writeln!(self.out, "        {what} {:.1} ms after conn {} ended", rc.gap_ms, rc.reconnect_of)?;
        }
        if self.verbose {
            self.verbose_rows(r)?;
        }
        Ok(())
    }

    fn verbose_rows(&mut self, r: &ConnReport) -> io::Result<()> {
        for (ts, step) in ladder(r) {
            writeln!(self.out, "          {}  {}", self.clock.peek(ts), clean(&step))?;
        }
        if let Some(h) = &r.h2 {
            for (who, list) in [("client", &h.client_settings), ("server", &h.server_settings)] {
                if let Some(s) = list.first() {
                    let params: Vec<String> =
                        s.params.iter().map(|(id, v)| format!("{}={v}", setting_name(*id))).collect();
                    writeln!(
                        self.out,
                        "        {who} SETTINGS: {}",
                        if params.is_empty() { "(defaults)".into() } else { params.join(" ") }
                    )?;
                }
            }
            for p in &h.pings {
                writeln!(
                    self.out,
                    "        PING from {} at {}: {}",
                    p.from,
                    self.clock.peek(p.ts),
                    p.rtt_nanos.map_or("no ACK seen".into(), |n| format!("round trip {}", human_duration(n)))
                )?;
            }
            if h.unknown_header_fields > 0 {
                writeln!(
                    self.out,
                    "        {} header field(s) unknown (HPACK entries from before the capture)",
                    h.unknown_header_fields
                )?;
            }
        }
        Ok(())
    }
}

/// Connection records kept until the capture ends, in chunks of a fixed
/// size: a capture of a million connections (a SYN flood, a port scan)
/// never reallocates and copies the whole list, which would briefly need
/// half as much memory again.
#[derive(Default)]
struct Kept {
    chunks: Vec<Vec<ConnReport>>,
}

impl Kept {
    const CHUNK: usize = 4_096;

    fn push(&mut self, r: ConnReport) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < Self::CHUNK => last.push(r),
            _ => {
                let mut chunk = Vec::with_capacity(Self::CHUNK);
                chunk.push(r);
                self.chunks.push(chunk);
            }
        }
    }

    fn last(&self) -> Option<&ConnReport> {
        self.chunks.last()?.last()
    }

    fn iter(&self) -> impl Iterator<Item = &ConnReport> {
        self.chunks.iter().flatten()
    }

    /// Forgets the oldest records, a chunk at a time, past about `n` (live
    /// reconnects look back at recent connections only).
    fn keep_recent(&mut self, n: usize) {
        let excess = (self.chunks.len() * Self::CHUNK).saturating_sub(n) / Self::CHUNK;
        self.chunks.drain(..excess.min(self.chunks.len().saturating_sub(1)));
    }
}

impl<W: Write> Sink for ConnsPrinter<W> {
    fn capture_began(&mut self, ts: crate::time::Timestamp) -> Flow {
        self.clock.origin = Some(ts);
        CONTINUE
    }

    fn connection(&mut self, c: ConnReport) -> Flow {
        if !self.live {
            self.reports.push(c);
            return flow_of(self.error.as_ref());
        }
        // Live: print as each ends; reconnects look back at earlier ones.
        self.reports.push(c);
        let (_, reconnects) = channels::analyze(self.reports.iter());
        let Some(last) = self.reports.last() else { return CONTINUE };
        if !self.wanted(last) || self.error.is_some() {
            return flow_of(self.error.as_ref());
        }
        let rc = reconnects.get(&last.tcp.id).cloned();
        let r = match self.format {
            // Rows of a table come here too: the CLI asks for JSON with one.
            Format::Json => Self::record_out(&mut self.out, &mut self.table, &ConnRecord::new(last, rc.as_ref())),
            Format::Text => {
                let last = last.clone();
                self.text_row(&last, rc.as_ref())
            }
        };
        if let Err(e) = r.and_then(|()| self.out.flush()) {
            self.error = Some(e);
        }
        self.reports.keep_recent(10_000);
        flow_of(self.error.as_ref())
    }
}
