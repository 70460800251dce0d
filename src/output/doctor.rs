//! `grpcscope doctor`: findings as paragraphs for a person, or JSON rows.

use super::{write_json_line, Format};
use crate::analysis::doctor::{Evidence, Facts, Finding, Severity};
use crate::present::text::clean;
use serde::Serialize;
use std::io::{self, Write};

/// Text paragraphs are wrapped at this width.
const WIDTH: usize = 100;
/// Indent of the paragraphs under a finding's title.
const INDENT: &str = "        ";

/// The first JSON row: what was examined and how many findings of each severity.
#[derive(Serialize)]
pub struct DoctorSummary<'a> {
    /// Always `summary`.
    pub section: &'static str,
    /// The capture's name.
    pub capture: &'a str,
    /// Calls examined.
    pub calls: usize,
    /// Connections examined.
    pub connections: usize,
    /// Packets read.
    pub packets: u64,
    /// Findings by severity: error, warning, info.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Infos.
    pub infos: usize,
}

#[derive(Serialize)]
struct FindingRow<'a> {
    section: &'static str,
    #[serde(flatten)]
    finding: &'a Finding,
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn count(findings: &[Finding], s: Severity) -> usize {
    findings.iter().filter(|f| f.severity == s).count()
}

/// Prints the findings.
pub fn print<W: Write>(
    out: &mut W,
    capture: &str,
    facts: &Facts,
    findings: &[Finding],
    format: Format,
) -> io::Result<()> {
    let summary = DoctorSummary {
        section: "summary",
        capture,
        calls: facts.calls.len(),
        connections: facts.conns.len(),
        packets: facts.capture.packets,
        errors: count(findings, Severity::Error),
        warnings: count(findings, Severity::Warning),
        infos: count(findings, Severity::Info),
    };
    match format {
        Format::Json => {
            write_json_line(out, &summary)?;
            findings.iter().try_for_each(|finding| write_json_line(out, &FindingRow { section: "finding", finding }))
        }
        Format::Text => text(out, &summary, findings),
    }
}

fn text<W: Write>(out: &mut W, s: &DoctorSummary<'_>, findings: &[Finding]) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} on {} ({} packets): {}",
        clean(s.capture),
        plural(s.calls, "call"),
        plural(s.connections, "connection"),
        s.packets,
        match findings.len() {
            0 => "no findings".to_string(),
            n => format!(
                "{n} finding{} ({} error, {} warning, {} info)",
                if n == 1 { "" } else { "s" },
                s.errors,
                s.warnings,
                s.infos
            ),
        }
    )?;
    for f in findings {
        writeln!(out)?;
        let rule = f.rule.name();
        let title = crate::present::text::truncate(&f.title, 400);
        wrapped(out, format!("{:<8}{rule}:", f.severity.label()), &title)?;
        paragraph(out, "seen:", &evidence_text(&f.evidence))?;
        if !f.evidence.names.is_empty() {
            let names: Vec<String> =
                f.evidence.names.iter().map(|h| format!("{} = {}", h.address, h.name.described())).collect();
            paragraph(out, "host:", &names.join("; "))?;
        }
        paragraph(out, "why:", &f.explanation)?;
        paragraph(out, "fix:", &f.advice)?;
        if f.inference {
            paragraph(out, "note:", "an inference from what the capture shows, not a decoded fact")?;
        }
    }
    Ok(())
}

/// The ids of a finding's evidence, as the other commands take them.
pub fn evidence_text(e: &Evidence) -> String {
    let list = |v: &[String]| v.join(", ");
    let mut parts = Vec::new();
    if !e.calls.is_empty() {
        let calls: Vec<String> =
            e.calls.iter().map(|c| format!("{} (conn {} stream {})", c.call, c.conn, c.stream)).collect();
        parts.push(format!("call{} {}", if calls.len() == 1 { "" } else { "s" }, list(&calls)));
    }
    if !e.conns.is_empty() {
        let conns: Vec<String> = e.conns.iter().map(ToString::to_string).collect();
        parts.push(format!("conn{} {}", if conns.len() == 1 { "" } else { "s" }, list(&conns)));
    }
    if !e.packets.is_empty() {
        let packets: Vec<String> = e.packets.iter().map(ToString::to_string).collect();
        parts.push(format!("packet{} {}", if packets.len() == 1 { "" } else { "s" }, list(&packets)));
    }
    let shown = e.calls.len().max(e.conns.len()) as u64;
    let mut text = parts.join("; ");
    if e.count > shown && !e.calls.is_empty() {
        text.push_str(&format!(" ({} in all)", e.count));
    }
    text
}

/// A labelled paragraph, wrapped at [`WIDTH`] under [`INDENT`].
fn paragraph<W: Write>(out: &mut W, label: &str, text: &str) -> io::Result<()> {
    wrapped(out, format!("  {label:<5}"), text)
}

/// `text` after `first` (its first line's start), wrapped at [`WIDTH`]
/// under [`INDENT`]; control characters from the capture escaped.
fn wrapped<W: Write>(out: &mut W, first: String, text: &str) -> io::Result<()> {
    let text = clean(text);
    let mut line = first;
    let mut empty = false;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            writeln!(out, "{line}")?;
            line = INDENT.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    writeln!(out, "{line}")
}
