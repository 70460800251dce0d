//! `grpcscope stats`: tables a person can read at 80 columns, or JSON rows.

use super::{write_json_line, Format};
use crate::analysis::hops::HopReport;
use crate::analysis::stats::{Group, Stats};
use crate::present::stats_record::{GroupFields, GroupRow, HopRow, RowKey, SummaryRow, TimelineRow};
use crate::present::text::{human_bytes, left_truncate};
use crate::time::{human_duration, Clock, TimeFormat, Timestamp};
use std::io::{self, Write};

/// Which breakdown to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum By {
    /// Per method (`/pkg.Service/Method`).
    #[default]
    Method,
    /// Per server endpoint.
    Server,
    /// Per client host → server endpoint: the service graph.
    Edge,
    /// Per connection.
    Conn,
}

/// Prints `stats` for the breakdown `by`.
///
/// `columns` is the terminal's width when the text goes to one: long names
/// are then cut to fit it. In a pipe or a file (`None`) nothing is cut.
pub fn print<W: Write>(
    out: &mut W,
    s: &Stats,
    by: By,
    format: Format,
    columns: Option<usize>,
    clock: &Clock,
) -> io::Result<()> {
    let hops = s.hops.report();
    match format {
        Format::Json => json_rows(out, s, by, &hops),
        Format::Text => {
            // Relative times count from the capture's first packet; the
            // figures are no list, so deltas read as relative times too.
            let mut clock = clock.clone();
            clock.origin = clock.origin.or(s.capture.first_packet);
            if matches!(clock.format, TimeFormat::Delta | TimeFormat::DeltaShown) {
                clock.format = TimeFormat::Relative;
            }
            text(out, s, (by, &hops, columns), &clock)
        }
    }
}

/// The name column's width: the longest name (at least `min`), cut to what
/// a terminal of `columns` leaves beside `fixed` columns of figures.
fn name_width<'a>(names: impl Iterator<Item = &'a str>, min: usize, fixed: usize, columns: Option<usize>) -> usize {
    let longest = names.map(|n| n.chars().count()).max().unwrap_or(0).max(min);
    columns.map_or(longest, |c| longest.min(c.saturating_sub(fixed).max(min)))
}

fn json_rows<W: Write>(out: &mut W, s: &Stats, by: By, hops: &[HopReport]) -> io::Result<()> {
    write_json_line(out, &SummaryRow::new(s))?;
    let mut group = |section, key, g| write_json_line(out, &GroupRow { section, key, group: GroupFields::from(g) });
    match by {
        By::Method => s.by_method.iter().try_for_each(|(m, g)| group("method", RowKey::Method { method: m }, g))?,
        By::Server => s.by_server.iter().try_for_each(|(k, g)| group("server", RowKey::Server { server: k }, g))?,
        By::Edge => {
            s.by_edge.iter().try_for_each(|((c, sv), g)| group("edge", RowKey::Edge { client: c, server: sv }, g))?
        }
        By::Conn => s
            .by_conn
            .iter()
            .try_for_each(|(id, (c, sv, g))| group("conn", RowKey::Conn { conn: *id, client: c, server: sv }, g))?,
    }
    for (sec, x) in &s.timeline {
        if x.application + x.transport + x.unknown > 0 {
            let row = TimelineRow {
                section: "timeline",
                second: *sec,
                calls: x.calls,
                application_errors: x.application,
                transport_errors: x.transport,
                unknown: x.unknown,
            };
            write_json_line(out, &row)?;
        }
    }
    for hop in hops {
        write_json_line(out, &HopRow { hop, section: "hop" })?;
    }
    for (address, name) in &s.names {
        write_json_line(out, &NameRow { section: "name", address, name })?;
    }
    Ok(())
}

/// A named host of the connections.
#[derive(serde::Serialize)]
struct NameRow<'a> {
    section: &'static str,
    address: &'a std::net::IpAddr,
    name: &'a crate::names::Name,
}

fn dur(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |n| human_duration(n as i64))
}

/// TLS connections, and the handshakes that failed (by fatal alert).
fn tls_line<W: Write>(out: &mut W, t: &crate::analysis::stats::TlsStats) -> io::Result<()> {
    write!(
        out,
        "{} TLS connection(s): {} decrypted, {} encrypted without keys",
        t.connections, t.decrypted, t.undecrypted
    )?;
    if !t.fatal_alerts.is_empty() {
        let alerts: Vec<String> = t.fatal_alerts.iter().map(|(a, n)| format!("{a} x{n}")).collect();
        write!(out, "; fatal TLS alerts: {}", alerts.join(", "))?;
    }
    writeln!(out)
}

/// One leg of a hop report: its hop, attempt (when told), connection,
/// stream, addresses, status and how long it lasted.
fn leg_line(hop: usize, l: &crate::analysis::hops::Leg, attempt: bool) -> String {
    let at = l.end.map_or("-".into(), |e| format!("+{}", human_duration(e.nanos_since(l.start))));
    let attempt = if attempt { format!(" attempt {}", l.attempt) } else { String::new() };
    format!(
        "  hop {hop}{attempt} conn {} stream {}: {} -> {}  {} {at}",
        l.conn,
        l.stream_id,
        l.client_text(),
        l.server_text(),
        l.status.unwrap_or("?")
    )
}

fn text<W: Write>(
    out: &mut W,
    s: &Stats,
    (by, hops, columns): (By, &[HopReport], Option<usize>),
    clock: &Clock,
) -> io::Result<()> {
    let t = &s.total;
    writeln!(
        out,
        "{} calls: {} ok, {} application errors, {} transport errors, {} unknown, {} incomplete",
        t.calls, t.ok, t.application, t.transport, t.unknown, t.incomplete
    )?;
    let conns: u64 = s.connections.values().sum();
    let open = match s.open_connections {
        0 => String::new(),
        n => format!(", {n} open"),
    };
    writeln!(
        out,
        "{} packets ({} TCP), {conns} connections ({} established){open}",
        s.capture.packets, s.capture.tcp_packets, s.established
    )?;
    if s.tls.connections > 0 {
        tls_line(out, &s.tls)?;
    }
    if let Some((a, b)) = s.span {
        let (from, to) = (clock.peek(a), clock.peek(b));
        writeln!(out, "calls from {from} to {to} ({})", human_duration(b.nanos_since(a)))?;
    }
    writeln!(out)?;
    let (title, rows): (&str, Vec<(String, &Group)>) = match by {
        By::Method => {
            ("METHOD", s.by_method.iter().map(|(k, g)| (crate::present::text::clean(k).into_owned(), g)).collect())
        }
        By::Server => ("SERVER", s.by_server.iter().map(|(k, g)| (k.to_string(), g)).collect()),
        By::Edge => {
            ("CLIENT HOST -> SERVER", s.by_edge.iter().map(|((c, sv), g)| (format!("{c} -> {sv}"), g)).collect())
        }
        By::Conn => ("CONN  SERVER", s.by_conn.iter().map(|(id, (_, sv, g))| (format!("{id:>4}  {sv}"), g)).collect()),
    };
    // The figures beside the name take 56 columns (and a space).
    let w = name_width(rows.iter().map(|(n, _)| n.as_str()).chain([title]), 24, 57, columns);
    writeln!(
        out,
        "{:<w$} {:>5} {:>5} {:>5} {:>5} {:>7} {:>7} {:>7} {:>7}",
        title, "CALLS", "OK", "APP", "TRANS", "P50", "P90", "P99", "MAX"
    )?;
    for (name, g) in &rows {
        let l = &g.latency;
        writeln!(
            out,
            "{:<w$} {:>5} {:>5} {:>5} {:>5} {:>7} {:>7} {:>7} {:>7}",
            left_truncate(name, w),
            g.calls,
            g.ok,
            g.application,
            g.transport,
            dur(l.percentile(50.0)),
            dur(l.percentile(90.0)),
            dur(l.percentile(99.0)),
            dur(l.max().map(|v| v as f64))
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{:<w$} {:>8} {:>8} {:>10} {:>10}  MIN", title, "REQ MSGS", "RSP MSGS", "REQ BYTES", "RSP BYTES")?;
    for (name, g) in &rows {
        writeln!(
            out,
            "{:<w$} {:>8} {:>8} {:>10} {:>10}  {}",
            left_truncate(name, w),
            g.request_messages,
            g.response_messages,
            human_bytes(g.request_bytes),
            human_bytes(g.response_bytes),
            dur(g.latency.min().map(|v| v as f64))
        )?;
    }
    let failing: Vec<&(String, &Group)> = rows.iter().filter(|(_, g)| !g.errors.is_empty()).collect();
    if !failing.is_empty() {
        writeln!(out, "\nERRORS BY STATUS")?;
        for (name, g) in failing {
            writeln!(out, "{}", left_truncate(name, columns.unwrap_or(usize::MAX)))?;
            for (status, n) in &g.errors {
                writeln!(out, "  {status:<24} {n:>6}")?;
            }
        }
    }
    timeline(out, s, clock)?;
    if !hops.is_empty() {
        writeln!(out, "\nFAILURES ACROSS HOPS (legs paired by request id, or by method and request)")?;
        for h in hops {
            let method = h.legs.first().and_then(|l| l.method.clone()).unwrap_or_default();
            writeln!(out, "{}  {}", h.paired_by, crate::present::text::clean(&method))?;
            for l in &h.retried {
                let hop = h.legs.iter().position(|x| x.server == l.server).map_or(0, |i| i + 1);
                writeln!(out, "{}  (retried)", leg_line(hop, l, true))?;
            }
            for (i, l) in h.legs.iter().enumerate() {
                let mark = if i == h.failed_first && h.refused_upstream.is_none() { "  <- failed first" } else { "" };
                writeln!(out, "{}{mark}", leg_line(i + 1, l, l.attempt > 1))?;
            }
            let packets: Vec<String> = h.packets.iter().map(u64::to_string).collect();
            let shown = match packets.len() {
                0 => String::new(),
                1 => format!("; packet {}", packets.join("")),
                _ => format!("; packets {}", packets.join(", ")),
            };
            writeln!(out, "  cause: {}{shown}", h.cause.label())?;
            writeln!(out, "  {}", h.summary)?;
        }
    }
    if !s.names.is_empty() {
        writeln!(out, "\nNAMES (hosts of the connections, from --names, --k8s and DNS answers in the capture)")?;
        for (ip, name) in &s.names {
            writeln!(out, "{:<24} {}", ip.to_string(), crate::present::text::clean(&name.described()))?;
        }
    }
    if !s.problems.is_empty() {
        writeln!(out, "\nPROBLEMS NOTED (every code: docs/notes.md)")?;
        for (code, n) in &s.problems {
            writeln!(out, "{code:<28} {n:>6}  {}", code.meaning())?;
        }
    }
    Ok(())
}

fn timeline<W: Write>(out: &mut W, s: &Stats, clock: &Clock) -> io::Result<()> {
    let errors: Vec<(&i64, &crate::analysis::stats::Second)> =
        s.timeline.iter().filter(|(_, x)| x.application + x.transport + x.unknown > 0).collect();
    if errors.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nERRORS PER SECOND        APP TRANS  UNKN  (a = application, t = transport)")?;
    let peak = errors.iter().map(|(_, x)| x.application + x.transport).max().unwrap_or(1).max(1);
    for (sec, x) in errors {
        let width = 30u64;
        let a = (x.application * width).div_ceil(peak) as usize;
        let t = (x.transport * width).div_ceil(peak) as usize;
        writeln!(
            out,
            "{:<22} {:>5} {:>5} {:>5}  {}{}",
            clock.peek(Timestamp::from_parts(*sec, 0)),
            x.application,
            x.transport,
            x.unknown,
            "a".repeat(a),
            "t".repeat(t)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::name_width;

    #[test]
    fn names_set_the_column_and_only_a_terminal_cuts_it() {
        let names = ["/a.B/C", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"];
        assert_eq!(name_width(names.into_iter(), 24, 57, None), 57, "a pipe: the longest name");
        assert_eq!(name_width(names.into_iter(), 24, 57, Some(100)), 43, "a terminal: what its width leaves");
        assert_eq!(name_width(names.into_iter(), 24, 57, Some(60)), 24, "never under the minimum");
        assert_eq!(name_width(["/a.B/C"].into_iter(), 24, 57, None), 24);
    }
}
