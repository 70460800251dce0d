//! `grpcscope frames`: one line (or JSON object) per HTTP/2 frame.

use super::parquet::frames as parquet;
use super::{write_json_line, Format};
use crate::analysis::{flow_of, Flow, Sink, CONTINUE};
use crate::h2::{Frame, H2Event, Note};
use crate::present::data_layout::{DataLayout, DataLayouts};
use crate::present::frame_record::{LostRecord, PrefaceRecord};
use crate::present::line::FrameLine;
use crate::present::text::clean;
use crate::present::{arrow, describe_field, FrameRecord};
use crate::tcp::ConnId;
use crate::time::{Clock, TimeFormat};
use std::io::{self, Write};

/// The column heads of the text listing, times `tw` wide.
fn frames_header(tw: usize) -> String {
    format!(
        "{:>6} {:<tw$} {:>4} {:<4} {:>6} {:<13} {:<24} {:>6}  SUMMARY",
        "PKT", "TIME", "CONN", "DIR", "STREAM", "TYPE", "FLAGS", "LENGTH"
    )
}

/// Which frames to print.
#[derive(Debug, Clone, Default)]
pub struct FrameSelection {
    /// Only this connection.
    pub conn: Option<ConnId>,
    /// Only this stream.
    pub stream: Option<u32>,
}

/// Prints frames as they are decoded.
pub struct FramesPrinter<W: Write> {
    out: W,
    format: Format,
    verbose: bool,
    select: FrameSelection,
    header_done: bool,
    /// Frames printed.
    pub printed: u64,
    /// Header fields shown as unknown (dynamic entries from before the capture).
    pub unknown_fields: u64,
    /// The first write error.
    pub error: Option<io::Error>,
    /// Only frames matching this are printed.
    pub filter: Option<crate::filter::Filter>,
    /// Flush after every record (live captures, so output appears at once).
    pub flush_each: bool,
    /// Where gRPC messages lie in the DATA frames.
    layouts: DataLayouts,
    /// How the TIME column shows times (`-t`).
    pub clock: Clock,
    /// Rows of a Parquet table instead of lines (`--format parquet`), with
    /// the capture's name.
    pub table: Option<(Box<crate::output::parquet::Table>, String)>,
}

impl<W: Write> FramesPrinter<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, format: Format, verbose: bool, select: FrameSelection) -> Self {
        FramesPrinter {
            out,
            format,
            verbose,
            select,
            header_done: false,
            printed: 0,
            unknown_fields: 0,
            error: None,
            filter: None,
            flush_each: false,
            layouts: DataLayouts::default(),
            clock: Clock::new(TimeFormat::Utc, None),
            table: None,
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

    fn wanted(&self, conn: ConnId, stream: Option<u32>) -> bool {
        self.select.conn.is_none_or(|c| c == conn) && self.select.stream.is_none_or(|s| Some(s) == stream)
    }

    fn write(&mut self, f: impl FnOnce(&mut W, Format, bool) -> io::Result<()>) {
        if self.error.is_none() {
            let r = f(&mut self.out, self.format, self.verbose).and_then(|()| {
                if self.flush_each {
                    self.out.flush()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = r {
                self.error = Some(e);
            }
        }
    }

    fn text_header(&mut self) {
        if self.header_done || self.format != Format::Text {
            return;
        }
        self.header_done = true;
        let tw = self.clock.format.width();
        self.write(|o, _, _| writeln!(o, "{}", frames_header(tw)));
    }

    /// The TIME column of a record shown at `ts`, in text mode after the
    /// line that says the date changed (a capture across midnight); empty
    /// for JSON.
    fn stamp(&mut self, ts: crate::time::Timestamp) -> String {
        // JSON carries epoch seconds: no text to make per frame.
        if self.format != Format::Text {
            self.clock.saw(ts);
            return String::new();
        }
        if let Some(line) = self.clock.date_line(ts) {
            self.write(|o, _, _| writeln!(o, "{line}"));
        }
        let time = self.clock.show(ts);
        format!("{time:<w$}", w = self.clock.format.width())
    }

    /// Writes the Parquet table's end, when there is one; its rows.
    pub fn finish_table(&mut self) -> io::Result<u64> {
        match &mut self.table {
            Some((t, _)) => t.finish(),
            None => Ok(0),
        }
    }

    /// A row of the Parquet table, when rows go there instead of lines.
    fn table_row(&mut self, add: impl FnOnce(&mut crate::output::parquet::Table, &str) -> io::Result<()>) -> bool {
        let Some((table, capture)) = &mut self.table else { return false };
        if self.error.is_none() {
            if let Err(e) = add(table, capture) {
                self.error = Some(e);
            }
        }
        true
    }

    /// A closing line in text mode.
    pub fn footer(&mut self) {
        if self.format != Format::Text || self.printed == 0 {
            return;
        }
        let (n, unknown) = (self.printed, self.unknown_fields);
        self.write(|o, _, _| {
            if unknown > 0 {
                writeln!(o, "{n} frame(s); {unknown} header field(s) unknown (their dynamic-table entries were inserted before the capture)")
            } else {
                writeln!(o, "{n} frame(s)")
            }
        });
    }
}

impl<W: Write> Sink for FramesPrinter<W> {
    fn h2_event(&mut self, ev: &H2Event) -> Flow {
        match ev {
            H2Event::Frame(f) => {
                // Every frame moves the layouts, printed or not: a DATA
                // frame's messages depend on the frames before it.
                let layout = self.layouts.frame(f);
                if !self.wanted(f.conn, Some(f.header.stream_id))
                    || self.filter.as_ref().is_some_and(|x| !x.matches(&**f))
                {
                    self.clock.saw(f.ts);
                    return flow_of(self.error.as_ref());
                }
                self.printed += 1;
                self.unknown_fields += f.block.as_ref().map_or(0, |b| b.decoded.unknown as u64);
                if self.table_row(|t, c| parquet::add_frame(t, c, &FrameRecord::new(f, false))) {
                    return flow_of(self.error.as_ref());
                }
                self.text_header();
                let time = self.stamp(f.ts);
                self.write(|o, fmt, verbose| match fmt {
                    Format::Json => write_json_line(o, &FrameRecord::new(f, verbose)),
                    Format::Text => frame_text(o, f, layout.as_ref(), &time, verbose),
                });
            }
            H2Event::Preface { conn, ts, offset, packet } => {
                if !self.wanted(*conn, self.select.stream.map(|_| 0))
                    || self.select.stream.is_some()
                    || self.filter.is_some()
                {
                    self.clock.saw(*ts);
                    return flow_of(self.error.as_ref());
                }
                let (c, t, off, p) = (*conn, *ts, *offset, *packet);
                if self.table_row(|tb, cap| parquet::add_preface(tb, cap, &PrefaceRecord::new(c, t, off, p))) {
                    return flow_of(self.error.as_ref());
                }
                self.text_header();
                let time = self.stamp(t);
                self.write(|o, fmt, _| match fmt {
                    Format::Json => write_json_line(o, &PrefaceRecord::new(c, t, off, p)),
                    Format::Text => line_text(o, &FrameLine::preface(c, t, p), &time),
                });
            }
            H2Event::Lost { conn, dir, ts, bytes, framing_lost, .. } => {
                if *framing_lost {
                    self.layouts.lost(*conn, *dir);
                }
                if !self.wanted(*conn, None) && self.select.conn.is_some()
                    || self.select.stream.is_some()
                    || self.filter.is_some()
                {
                    self.clock.saw(*ts);
                    return flow_of(self.error.as_ref());
                }
                let (c, d, t, n) = (*conn, *dir, *ts, *bytes);
                if self.table_row(|tb, cap| parquet::add_lost(tb, cap, &LostRecord::new(c, d, t, n))) {
                    return flow_of(self.error.as_ref());
                }
                self.text_header();
                let time = self.stamp(t);
                self.write(|o, fmt, _| match fmt {
                    Format::Json => write_json_line(o, &LostRecord::new(c, d, t, n)),
                    Format::Text => line_text(o, &FrameLine::lost(c, d, t, n), &time),
                });
            }
        }
        flow_of(self.error.as_ref())
    }

    fn capture_began(&mut self, ts: crate::time::Timestamp) -> Flow {
        self.clock.origin = Some(ts);
        CONTINUE
    }
}

/// One line of the listing (the columns of [`frames_header`]), its time
/// as the clock shows it.
fn line_text<W: Write>(o: &mut W, l: &FrameLine, time: &str) -> io::Result<()> {
    writeln!(
        o,
        "{:>6} {time} {:>4} {:<4} {:>6} {:<13} {:<24} {:>6}  {}",
        l.packet_text(),
        l.conn,
        l.arrow(),
        l.stream(),
        l.kind,
        l.flags,
        l.length_text(),
        l.summary
    )
}

fn frame_text<W: Write>(
    o: &mut W,
    f: &Frame,
    layout: Option<&DataLayout>,
    time: &str,
    verbose: bool,
) -> io::Result<()> {
    line_text(o, &FrameLine::frame(f, layout), time)?;
    if verbose {
        if let Some(b) = &f.block {
            for field in &b.decoded.fields {
                writeln!(
                    o,
                    "      {:<40} {}",
                    crate::present::text::truncate(&clean(&format!("{}: {}", field.name_str(), field.value_str())), 40),
                    describe_field(field)
                )?;
            }
            for u in &b.decoded.size_updates {
                writeln!(o, "      dynamic table size update to {} ({} evicted)", u.max_size, u.evicted)?;
            }
            if let Some(t) = &b.table_after {
                writeln!(o, "      table ({}): {} entries, {} bytes", arrow(f.dir), t.len(), b.table_size)?;
                for (i, (n, v, size)) in t.iter().enumerate() {
                    writeln!(
                        o,
                        "        [{:>3}] {} ({size})",
                        62 + i,
                        crate::present::text::truncate(&clean(&format!("{n}: {v}")), 60)
                    )?;
                }
            }
        }
        for c in &f.carriers {
            writeln!(o, "      in {}", crate::present::CarrierRecord::new(c).describe())?;
        }
        if let Some(flow) = &f.flow {
            let show = |w: Option<(i64, i64)>| w.map_or_else(|| "unknown".to_string(), |(a, b)| format!("{a} -> {b}"));
            writeln!(
                o,
                "      {} window: stream {}, connection {}",
                arrow(flow.window_of),
                show(flow.stream),
                show(flow.connection)
            )?;
        }
        if let Some(s) = f.state {
            writeln!(o, "      stream {} is {}", f.header.stream_id, s.describe())?;
        }
    }
    for n in &f.notes {
        writeln!(o, "      ! {}: {}", level_word(n), clean(&n.text))?;
    }
    Ok(())
}

fn level_word(n: &Note) -> &'static str {
    match n.level {
        crate::h2::Level::Info => "note",
        crate::h2::Level::Warning => "warning",
        crate::h2::Level::Error => "error",
    }
}
