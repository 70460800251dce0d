//! Drawing the UI. Pure functions of the app state onto a ratatui frame, so
//! every view can be checked on a TestBackend.

use super::app::{App, InputKind, Pane, View, VIEWS};
use super::columns::{self, CallColumns, Needs};
use super::model::FrameRow;
use super::tree::Tone;
use crate::analysis::doctor::Severity;
use crate::grpc::Origin;
use crate::present::line::{CallLine, ConnLine, FrameLine, FrameTone};
use crate::present::text::{clean, left_truncate, truncate};
use crate::tcp::Dir;
use crate::time::human_duration;
use crate::time::TimeFormat;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Clear, Paragraph, Sparkline};
use ratatui::Frame;

/// Colour of an outcome: green OK, yellow application error, red transport error.
pub fn origin_style(o: Option<Origin>) -> Style {
    match o {
        Some(Origin::None) => Style::new().fg(Color::Green),
        Some(Origin::Application) => Style::new().fg(Color::Yellow),
        Some(Origin::Transport) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        _ => Style::new().fg(Color::DarkGray),
    }
}

fn tone_style(t: Tone) -> Style {
    match t {
        Tone::Plain => Style::new(),
        Tone::Heading => Style::new().add_modifier(Modifier::BOLD),
        Tone::Good => Style::new().fg(Color::Green),
        Tone::AppError => Style::new().fg(Color::Yellow),
        Tone::Bad => Style::new().fg(Color::Red),
        Tone::Dim => Style::new().fg(Color::DarkGray),
    }
}

fn pane_block(title: String, focused: bool) -> Block<'static> {
    let style = if focused { Style::new().fg(Color::Cyan) } else { Style::new().fg(Color::DarkGray) };
    Block::new().borders(Borders::ALL).border_style(style).title(title)
}

const SELECTED: Style = Style::new().bg(Color::Blue).fg(Color::White);

/// Draws everything.
pub fn draw(f: &mut Frame<'_>, app: &mut App) {
    let area = f.area();
    let editing = app.input.is_some();
    let error_lines = app.input_error.as_ref().map_or(0, |e| e.lines().count() as u16);
    let [tabs, main, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1 + if editing { error_lines } else { 0 }),
    ])
    .areas(area);
    draw_tabs(f, app, tabs);
    if app.zoom && app.view != View::Stats {
        draw_zoomed(f, app, main);
        draw_bottom(f, app, bottom);
        if app.help {
            draw_help(f, app, area);
        }
        return;
    }
    match app.view {
        View::Calls | View::Frames => draw_list_view(f, app, main),
        View::Conns => draw_conns_view(f, app, main),
        View::Stats => draw_stats_view(f, app, main),
        View::Findings => draw_findings_view(f, app, main),
    }
    draw_bottom(f, app, bottom);
    if app.help {
        draw_help(f, app, area);
    }
}

fn draw_tabs(f: &mut Frame<'_>, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (i, v) in VIEWS.iter().enumerate() {
        let style = if *v == app.view {
            Style::new().bg(Color::Cyan).fg(Color::Black).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!(" {} {} ", i + 1, v.title()), style));
        spans.push(Span::raw(" "));
    }
    let m = &app.model;
    let right = if m.live {
        let (n, drops) = m.drops.unwrap_or((0, None));
        match drops {
            Some(d) if d.lost() => Span::styled(
                format!("LIVE {} | {n} pkts | {} DROPPED ", m.source, d.dropped + d.if_dropped),
                Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            Some(_) => {
                Span::styled(format!("LIVE {} | {n} pkts | 0 dropped ", m.source), Style::new().fg(Color::Green))
            }
            None => Span::styled(format!("LIVE {} | {n} pkts ", m.source), Style::new().fg(Color::Green)),
        }
    } else if !m.done {
        let pct = m.progress.1.filter(|t| *t > 0).map_or(0, |t| (m.progress.0.saturating_mul(100) / t).min(100));
        let width = 10usize;
        let filled = (pct as usize * width) / 100;
        Span::styled(
            format!("loading {} [{}{}] {pct}% ", m.source, "#".repeat(filled), ".".repeat(width - filled)),
            Style::new().fg(Color::Yellow),
        )
    } else {
        Span::styled(format!("{} ", m.source), Style::new().fg(Color::DarkGray))
    };
    // Calls inside TLS without keys are missing: say so, not fewer calls silently.
    let undecrypted = m.stats.tls.undecrypted;
    let note = (undecrypted > 0).then(|| {
        Span::styled(
            format!("{undecrypted} TLS conn(s) encrypted, no keys: --tls-keylog | "),
            Style::new().fg(Color::Yellow),
        )
    });
    let used: usize = spans.iter().chain(&note).map(|s| s.content.chars().count()).sum();
    let pad = (area.width as usize).saturating_sub(used + right.content.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.extend(note);
    spans.push(right);
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_list_view(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let [list, detail] = Layout::vertical([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(area);
    let [tree, bytes] = if area.width >= 110 {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(detail)
    } else {
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(detail)
    };
    draw_list(f, app, list);
    let tree = draw_tree(f, app, tree, true);
    draw_bytes(f, app, bytes);
    app.areas = super::app::Areas { list, tree, bytes, ..app.areas };
}

/// The header and the `count` rows of the current list from `offset` on:
/// only what is on screen is formatted, however long the list.
fn rows(app: &App, width: usize, offset: usize, count: usize) -> (String, Vec<Line<'static>>) {
    let l = super::app::list_of(&app.lists, app.view);
    let window = || l.visible.iter().skip(offset).take(count);
    match app.view {
        View::Calls => {
            let calls: Vec<(u64, CallLine, &crate::grpc::Call, String)> = window()
                .enumerate()
                .filter_map(|(k, i)| {
                    app.model
                        .calls
                        .get(*i)
                        .map(|c| (app.model.call_number(*i), CallLine::new(c), &**c, row_time(app, offset + k)))
                })
                .collect();
            let needs = Needs {
                number: app.model.call_number(app.model.calls.len().saturating_sub(1)).to_string().len(),
                conn_stream: calls
                    .iter()
                    .map(|(_, l, ..)| format!("{}/{}", l.conn, l.stream_id).len())
                    .max()
                    .unwrap_or(0),
                method: calls.iter().map(|(_, l, ..)| l.method.chars().count()).max().unwrap_or(0),
                status: calls.iter().map(|(_, l, ..)| l.status.chars().count()).max().unwrap_or(0),
                time: app.clock.format.width(),
            };
            let c = columns::fit(width, needs);
            let (n, m, s, tw) = (c.number, c.method, c.status, app.clock.format.width());
            let header = if c.wide {
                let first = if c.first > 0 { "  FIRST REQUEST" } else { "" };
                format!(
                    "{:>n$} {:<tw$} {:>4} {:>5}  {:<m$} {:<s$} {:>8} {:>4} {:>4}{first}",
                    "#", "START", "CONN", "STRM", "METHOD", "STATUS", "DURATION", "REQ", "RESP"
                )
            } else {
                let cs = c.conn_stream;
                format!(
                    "{:>n$} {:<tw$} {:>cs$} {:<m$} {:<s$} {:>8}",
                    "#", "START", "C/S", "METHOD", "STATUS", "DURATION"
                )
            };
            let rows =
                calls.into_iter().map(|(number, l, call, time)| call_row(app, &c, (number, &time), &l, call)).collect();
            (header, rows)
        }
        View::Frames => {
            let tw = app.clock.format.width();
            let header = frames_header(width, tw);
            let rows = window()
                .enumerate()
                .filter_map(|(k, i)| {
                    app.model.frames.get(*i).map(|r| frame_line(r, width, &row_time(app, offset + k), tw))
                })
                .collect();
            (header, rows)
        }
        View::Conns => {
            let header = format!(
                "{:>4} {:>4}  {:<21} {:<21} {:<7} {:>5} {:>7}  {}",
                "ID", "CHAN", "CLIENT", "SERVER", "PROTO", "CALLS", "ERR a/t", "END"
            );
            let rows = window()
                .filter_map(|i| app.model.conn(*i).map(|c| (c, app.model.conn_is_open(*i))))
                .map(|(c, open)| {
                    let l = ConnLine::new(c);
                    let chan = app.model.channel_of.get(&c.tcp.id).map_or("-".to_string(), |n| (n + 1).to_string());
                    // The reconnect first: it is what a narrow column must not lose.
                    let mut end = crate::present::text::clean(&l.end).into_owned();
                    if open && c.tcp.end == crate::tcp::EndReason::OpenAtEnd {
                        end = format!("open now (last packet {})", c.tcp.last_ts.clock());
                    }
                    if let Some(r) = app.model.reconnects.get(&c.tcp.id) {
                        end = format!("reconnect of {}; {end}", r.reconnect_of);
                    }
                    let style = if l.transport_errors > 0 {
                        origin_style(Some(Origin::Transport))
                    } else if !c.tcp.established {
                        Style::new().fg(Color::DarkGray)
                    } else {
                        Style::new()
                    };
                    Line::styled(
                        format!(
                            "{:>4} {:>4}  {:<21} {:<21} {:<7} {:>5} {:>7}  {end}",
                            l.id,
                            chan,
                            l.client,
                            // A name, as Wireshark's name resolution shows one; the address is in the details.
                            l.server_name.as_deref().map_or(l.server.clone(), |n| left_truncate(n, 21)),
                            l.protocol,
                            l.calls,
                            l.errors()
                        ),
                        style,
                    )
                })
                .collect();
            (header, rows)
        }
        View::Stats => (String::new(), Vec::new()),
        View::Findings => {
            let header = format!("{:<8}{:<22}{}", "LEVEL", "RULE", "FINDING");
            let rows = window()
                .filter_map(|i| app.findings.get(*i))
                .map(|x| {
                    let rule = x.rule.name();
                    let style = match x.severity {
                        Severity::Error => origin_style(Some(Origin::Transport)),
                        Severity::Warning => origin_style(Some(Origin::Application)),
                        Severity::Info => Style::new().fg(Color::DarkGray),
                    };
                    let text = format!("{:<8}{:<22}{}", x.severity.label(), rule, clean(&x.title));
                    Line::styled(truncate(&text, width), style)
                })
                .collect();
            (header, rows)
        }
    }
}

/// The time of the row at `pos` of the current list, as the clock shows
/// it: `d` counts from the model's previous row, `dd` from the previous
/// row shown, `r` from the capture's first packet.
fn row_time(app: &App, pos: usize) -> String {
    let l = super::app::list_of(&app.lists, app.view);
    let ts_of = |i: usize| app.row_ts(app.view, i);
    let Some(i) = l.visible.get(pos).copied() else { return String::new() };
    let Some(ts) = ts_of(i) else { return String::new() };
    // The reference row reads as Wireshark's does.
    if app.time_reference.is_some_and(|(v, j, _)| (v, j) == (app.view, i)) && app.clock.format == TimeFormat::Relative {
        return "*REF*".into();
    }
    let mut clock = app.clock.clone();
    match clock.format {
        TimeFormat::Delta => {
            if let Some(prev) = i.checked_sub(1).and_then(ts_of) {
                clock.saw(prev);
            }
        }
        TimeFormat::DeltaShown => {
            if let Some(prev) = pos.checked_sub(1).and_then(|p| l.visible.get(p)).and_then(|i| ts_of(*i)) {
                clock.show(prev);
            }
        }
        _ => {}
    }
    clock.show(ts)
}

/// One row of the Calls list, laid out as `c` says.
fn call_row(
    app: &App,
    c: &CallColumns,
    (number, time): (u64, &str),
    l: &CallLine,
    call: &crate::grpc::Call,
) -> Line<'static> {
    let (n, m, s, tw) = (c.number, c.method, c.status, app.clock.format.width());
    // Methods and statuses can carry a capture's text: escaped first.
    let method = left_truncate(&clean(&l.method), m);
    let status = Span::styled(format!("{:<s$}", truncate(&clean(&l.status), s)), origin_style(l.origin));
    let dur = l.duration();
    if !c.wide {
        let cs = format!("{}/{}", l.conn, l.stream_id);
        return Line::from(vec![
            Span::raw(format!("{number:>n$} {time:<tw$} {cs:>w$} {method:<m$} ", w = c.conn_stream)),
            status,
            Span::raw(format!(" {dur:>8}")),
        ]);
    }
    let mut spans = vec![
        Span::raw(format!("{number:>n$} {time:<tw$} {:>4} {:>5}  {method:<m$} ", l.conn, l.stream_id)),
        status,
        Span::raw(format!(" {dur:>8} {:>4} {:>4}", l.requests, l.responses)),
    ];
    if c.first > 0 {
        let first = app.model.decoder.first_request(call, c.first);
        spans.push(Span::styled(format!("  {}", truncate(&clean(&first), c.first)), Style::new().fg(Color::DarkGray)));
    }
    Line::from(spans)
}

/// `doctor`'s findings: the list, and the selected one's evidence,
/// explanation and advice (Enter on a call or connection goes there).
fn draw_findings_view(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let [list, tree] = Layout::vertical([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(area);
    draw_list(f, app, list);
    if app.findings.is_empty() {
        let what = if app.model.done { "no findings" } else { "no findings yet (still loading)" };
        let text = format!("{what}: {} calls examined", app.findings_at.unwrap_or(0));
        f.render_widget(Paragraph::new(text).block(pane_block(" Finding ".into(), app.pane == Pane::Tree)), tree);
        app.areas = super::app::Areas { list, tree, ..Default::default() };
        return;
    }
    let tree = draw_tree(f, app, tree, true);
    app.areas = super::app::Areas { list, tree, ..Default::default() };
}

/// Terminals at least this wide show the frames' FLAGS column.
const FLAGS_FROM_WIDTH: usize = 100;
const FLAGS_WIDTH: usize = 23;

fn frames_header(width: usize, tw: usize) -> String {
    let flags = if width >= FLAGS_FROM_WIDTH { format!(" {:<FLAGS_WIDTH$}", "FLAGS") } else { String::new() };
    format!(
        "{:>6} {:<tw$} {:>4} {:<4} {:>6} {:<13}{flags} {:>6}  SUMMARY",
        "PKT", "TIME", "CONN", "DIR", "STREAM", "TYPE", "LENGTH"
    )
}

fn frame_line(r: &FrameRow, width: usize, time: &str, tw: usize) -> Line<'static> {
    let l = match r {
        FrameRow::Frame(m) => m.line(),
        FrameRow::Tcp { conn, dir, ts, flags, packet } => FrameLine::tcp(*conn, *dir, *ts, &flags.tcpdump(), *packet),
        FrameRow::Preface { conn, ts, packet } => FrameLine::preface(*conn, *ts, *packet),
        FrameRow::Lost { conn, dir, ts, bytes } => FrameLine::lost(*conn, *dir, *ts, *bytes),
    };
    let wide = width >= FLAGS_FROM_WIDTH;
    let flags = if wide { format!(" {:<FLAGS_WIDTH$}", truncate(&l.flags, FLAGS_WIDTH)) } else { String::new() };
    let sw = width.saturating_sub(if wide { 49 + tw + FLAGS_WIDTH + 1 } else { 49 + tw }).max(10);
    let style = match l.tone {
        FrameTone::Plain => Style::new(),
        FrameTone::Ending => Style::new().fg(Color::Yellow),
        FrameTone::Problem | FrameTone::Lost => Style::new().fg(Color::Red),
        FrameTone::Preface => Style::new().fg(Color::Cyan),
        FrameTone::Tcp => Style::new().fg(Color::Magenta),
    };
    Line::styled(
        format!(
            "{:>6} {time:<tw$} {:>4} {:<4} {:>6} {:<13}{flags} {:>6}  {}",
            l.packet_text(),
            l.conn,
            l.arrow(),
            l.stream(),
            l.kind,
            l.length_text(),
            truncate(&l.summary, sw)
        ),
        style,
    )
}

fn draw_list(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let inner_h = area.height.saturating_sub(3) as usize;
    app.page = inner_h.max(1);
    let width = area.width.saturating_sub(2) as usize;
    let l = super::app::list_of_mut(&mut app.lists, app.view);
    if l.selected < l.offset {
        l.offset = l.selected;
    } else if inner_h > 0 && l.selected >= l.offset + inner_h {
        l.offset = l.selected + 1 - inner_h;
    }
    let (offset, selected) = (l.offset, l.selected);
    let (header, rows) = rows(app, width, offset, inner_h);
    let l = super::app::list_of(&app.lists, app.view);
    let total = l.visible.len();
    let mut lines = vec![Line::styled(header, Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED))];
    for (i, line) in rows.into_iter().enumerate() {
        lines.push(if offset + i == selected { line.style(SELECTED) } else { line });
    }
    let mut title = format!(" {} {} ", app.view.title(), total);
    if let Some(flt) = &l.filter {
        title = format!(" {} {} matching {} ", app.view.title(), total, flt.source);
    }
    if app.view == View::Calls && app.model.calls_dropped > 0 {
        title.push_str(&format!("+ {} older let go (--window; -w FILE keeps every packet) ", app.model.calls_dropped));
    }
    if app.view == View::Frames && app.model.frames_dropped > 0 {
        title.push_str(&format!("+ {} older let go (--max-frame-memory) ", app.model.frames_dropped));
    }
    if app.view == View::Frames && app.model.frames_not_kept > 0 {
        title.push_str(&format!(
            "+ {} not kept (--max-frame-memory; `grpcscope frames` lists all) ",
            app.model.frames_not_kept
        ));
    }
    f.render_widget(Paragraph::new(lines).block(pane_block(title, app.pane == Pane::List)), area);
}

/// The focused pane alone, over the whole main area (`z`).
fn draw_zoomed(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let mut areas = super::app::Areas::default();
    match app.pane {
        Pane::List => {
            draw_list(f, app, area);
            areas.list = area;
        }
        Pane::Tree => areas.tree = draw_tree(f, app, area, false),
        Pane::Panel => {
            draw_panel(f, app, area);
            areas.panel = area;
        }
        Pane::Bytes if app.view == View::Conns => {
            draw_ladder(f, app, area);
            areas.bytes = area;
        }
        Pane::Bytes => {
            draw_bytes(f, app, area);
            areas.bytes = area;
        }
    }
    app.areas = areas;
}

/// The explanation of the selected frame, or the HPACK tables after it.
fn panel_text(app: &App) -> Option<(&'static str, String)> {
    if !app.panel_shown() {
        return None;
    }
    let selected = app.selected_index(View::Frames);
    if app.explain {
        let text = match selected.and_then(|i| app.model.frames.get(i)) {
            Some(FrameRow::Frame(m)) => match app.model.kept.frame(&(m.conn, m.nth)) {
                Some((fr, layout)) => crate::explain::frame(fr, layout.as_deref()),
                None => "The frame is being re-read from the capture; its explanation follows.".to_string(),
            },
            _ => "Explanations are for HTTP/2 frames; select one.".to_string(),
        };
        return Some((" Explanation (e hides it, Tab focuses it) ", text));
    }
    let text = selected.map_or("Select a frame.".into(), |i| super::hpack_view::tables_at(&app.model.frames, i));
    Some((" HPACK tables (H hides them, Tab focuses them) ", text))
}

/// `text`'s lines as rows of at most `width` characters: a line that fits
/// is kept as it is (the HPACK tables are aligned), a longer one is
/// word-wrapped under its own indentation.
fn wrap_rows(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut rows = Vec::new();
    for line in text.lines() {
        let line = clean(line);
        if line.chars().count() <= width {
            rows.push(line.into_owned());
            continue;
        }
        let indent = line.chars().take_while(|c| *c == ' ').count().min(width / 2);
        let pad = " ".repeat(indent);
        for piece in crate::present::text::wrap_words(&line, width - indent) {
            // wrap_words keeps a word longer than the width whole: split it.
            let chars: Vec<char> = piece.chars().collect();
            for part in chars.chunks(width - indent) {
                rows.push(format!("{pad}{}", part.iter().collect::<String>()));
            }
        }
    }
    rows
}

/// Draws the explanation or HPACK panel, scrolled to [`App::panel_offset`].
fn draw_panel(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let Some((title, text)) = panel_text(app) else { return };
    let rows = wrap_rows(&text, area.width.saturating_sub(2) as usize);
    let h = area.height.saturating_sub(2) as usize;
    app.panel_offset = app.panel_offset.min(rows.len().saturating_sub(h));
    let more = if rows.len() > h {
        format!("rows {}-{} of {} ", app.panel_offset + 1, (app.panel_offset + h).min(rows.len()), rows.len())
    } else {
        String::new()
    };
    let lines: Vec<Line> = rows
        .into_iter()
        .skip(app.panel_offset)
        .take(h)
        .map(|l| Line::styled(l, Style::new().fg(Color::Cyan)))
        .collect();
    let block = pane_block(format!("{title}{more}"), app.pane == Pane::Panel);
    f.render_widget(Paragraph::new(lines).block(block), area);
    app.areas.panel = area;
}

/// A tree label cut into rows of `width`: the first at its depth, the
/// rest indented under it, so a long value is read whole.
fn label_rows(label: &str, indent: usize, width: usize) -> Vec<String> {
    let room = width.saturating_sub(indent).max(8);
    let chars: Vec<char> = label.chars().collect();
    let mut rows = Vec::new();
    let mut at = 0;
    while at < chars.len() || rows.is_empty() {
        // Continuation rows sit two columns further in than the first.
        let take = if rows.is_empty() { room } else { room.saturating_sub(2).max(6) };
        let piece: String = chars.iter().skip(at).take(take).collect();
        let pad = if rows.is_empty() { indent } else { indent + 2 };
        rows.push(format!("{}{piece}", " ".repeat(pad)));
        at += take;
    }
    rows
}

/// Draws the detail tree (and, in the frames view, the panel under it
/// when `with_panel`); returns where the tree itself went (for the mouse).
fn draw_tree(f: &mut Frame<'_>, app: &mut App, area: Rect, with_panel: bool) -> Rect {
    let area = if with_panel && app.panel_shown() {
        let [top, bottom] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
        draw_panel(f, app, bottom);
        top
    } else {
        area
    };
    let h = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let visible = app.tree.visible();
    let t = &mut app.tree;
    t.selected = t.selected.min(visible.len().saturating_sub(1));
    // Each node's rows: its marker and label, wrapped.
    let node_rows = |row: usize| -> Vec<String> {
        let Some((id, depth)) = visible.get(row) else { return Vec::new() };
        let Some(n) = t.nodes.get(*id) else { return Vec::new() };
        let marker = if n.children.is_empty() {
            "  "
        } else if n.expanded {
            "▾ "
        } else {
            "▸ "
        };
        // Labels carry captured text: escaped, so that widths add up.
        let mut rows = label_rows(&format!("{marker}{}", clean(&n.label)), 2 * depth, width);
        rows.truncate(h.max(1));
        rows
    };
    if t.selected < t.offset {
        t.offset = t.selected;
    }
    // Scroll until the selected node's rows all fit under the offset.
    while t.offset < t.selected && (t.offset..=t.selected).map(|r| node_rows(r).len()).sum::<usize>() > h {
        t.offset += 1;
    }
    let (offset, selected, focused) = (t.offset, t.selected, app.pane == Pane::Tree);
    let mut lines = Vec::new();
    let mut owners = Vec::new();
    for row in offset..visible.len() {
        if lines.len() >= h {
            break;
        }
        let tone = visible.get(row).and_then(|(id, _)| t.nodes.get(*id)).map_or(Tone::Plain, |n| n.tone);
        let style = if row == selected && focused {
            SELECTED
        } else if row == selected {
            tone_style(tone).add_modifier(Modifier::REVERSED)
        } else {
            tone_style(tone)
        };
        for text in node_rows(row).into_iter().take(h - lines.len()) {
            lines.push(Line::styled(text, style));
            owners.push(row);
        }
    }
    app.tree_rows = owners;
    f.render_widget(Paragraph::new(lines).block(pane_block(" Detail ".into(), focused)), area);
    area
}

fn draw_bytes(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let Some((src, range)) = app.tree.highlight() else {
        f.render_widget(
            Paragraph::new("select a node to see its bytes")
                .block(pane_block(" Bytes ".into(), app.pane == Pane::Bytes)),
            area,
        );
        return;
    };
    // Decrypted bytes: the record they were captured in goes beside them.
    let captured = src.captured_for(&range).cloned();
    let (data, title) = (src.data.clone(), src.title.clone());
    let (plain_area, captured_area) = match captured {
        Some(_) => {
            let [a, b] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
            (a, Some(b))
        }
        None => (area, None),
    };
    let per = bytes_per_row(plain_area);
    let h = plain_area.height.saturating_sub(2) as usize;
    let rows_total = data.len().div_ceil(per);
    // Keep the highlight in view unless the user scrolls.
    let first_row = range.start / per;
    if app.pane != Pane::Bytes && (first_row < app.bytes_offset || first_row >= app.bytes_offset + h.max(1)) {
        app.bytes_offset = first_row.saturating_sub(1);
    }
    app.bytes_offset = app.bytes_offset.min(rows_total.saturating_sub(1));
    let lines = hex_rows(&data, per, app.bytes_offset, h, &[(range.clone(), HIGHLIGHT)]);
    // The range first: a narrow pane truncates the end of the title.
    let title = if range.is_empty() {
        format!(" Bytes ({} of them): {title} ", data.len())
    } else {
        format!(" Bytes [{}..{}) of {}: {title} ", range.start, range.end, data.len())
    };
    f.render_widget(Paragraph::new(lines).block(pane_block(title, app.pane == Pane::Bytes)), plain_area);
    if let (Some(part), Some(area)) = (captured, captured_area) {
        draw_captured(f, &part, &range, area);
    }
}

/// The selection's highlight in the bytes pane.
const HIGHLIGHT: Style = Style::new().bg(Color::Yellow).fg(Color::Black);
/// The captured bytes that carried the shown source, around the selection's.
const CARRIED: Style = Style::new().fg(Color::Cyan);

/// Bytes per hex row that fit `area`: offset (6), then per byte 3 hex
/// columns and 1 ASCII, two spaces; a multiple of 4, 4 to 16.
fn bytes_per_row(area: Rect) -> usize {
    let inner_w = area.width.saturating_sub(2) as usize;
    (((inner_w.saturating_sub(8)) / 4) / 4 * 4).clamp(4, 16)
}

/// The captured bytes (a TLS record) that carried `range` of a decrypted
/// source: the record in full, the bytes it carried marked, and the
/// ciphertext of the selection highlighted (AEAD keeps each plaintext
/// byte at its place).
fn draw_captured(f: &mut Frame<'_>, part: &super::tree::CapturedPart, range: &std::ops::Range<usize>, area: Rect) {
    let per = bytes_per_row(area);
    let h = area.height.saturating_sub(2) as usize;
    let selected = part.mapped(range);
    let carried = part.mapped(&part.carries);
    let focus = if selected.is_empty() { carried.start } else { selected.start };
    let first_row = (focus / per).saturating_sub(1).min(part.data.len().div_ceil(per).saturating_sub(1));
    let lines = hex_rows(&part.data, per, first_row, h, &[(selected, HIGHLIGHT), (carried, CARRIED)]);
    let title = format!(" Captured, encrypted: {} ", part.title);
    f.render_widget(Paragraph::new(lines).block(pane_block(title, false)), area);
}

/// Hex and ASCII rows of `data` from row `first_row`, `h` of them, `per`
/// bytes each; a byte takes the style of the first range holding it.
fn hex_rows(
    data: &[u8],
    per: usize,
    first_row: usize,
    h: usize,
    marks: &[(std::ops::Range<usize>, Style)],
) -> Vec<Line<'static>> {
    let rows_total = data.len().div_ceil(per);
    let mut lines = Vec::new();
    for row in first_row..(first_row + h).min(rows_total) {
        let start = row * per;
        let mut spans = vec![Span::styled(format!("{start:05x} "), Style::new().fg(Color::DarkGray))];
        let mut ascii = Vec::new();
        for i in start..start + per {
            match data.get(i) {
                Some(b) => {
                    let style = marks.iter().find(|(r, _)| r.contains(&i)).map_or(Style::new(), |(_, s)| *s);
                    spans.push(Span::styled(format!("{b:02x}"), style));
                    spans.push(Span::raw(" "));
                    let c = if b.is_ascii_graphic() || *b == b' ' { *b as char } else { '.' };
                    ascii.push(Span::styled(c.to_string(), style));
                }
                None => spans.push(Span::raw("   ")),
            }
        }
        spans.push(Span::raw(" "));
        spans.extend(ascii);
        lines.push(Line::from(spans));
    }
    lines
}

fn draw_conns_view(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let [list, bottom] = Layout::vertical([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(area);
    let [ladder, tree] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(bottom);
    draw_list(f, app, list);
    draw_ladder(f, app, ladder);
    let tree = draw_tree(f, app, tree, true);
    app.areas = super::app::Areas { list, tree, bytes: ladder, ..Default::default() };
}

/// One arrow of the ladder: time, direction, label, and whether it belongs
/// to the call the view was opened from.
fn ladder_rows(app: &App) -> Vec<(crate::time::Timestamp, Option<Dir>, String, bool)> {
    let Some(conn) = app.selected_index(View::Conns).and_then(|i| app.model.conn(i)).map(|c| c.tcp.id) else {
        return Vec::new();
    };
    let marked = app.ladder_call.filter(|(c, _)| *c == conn).map(|(_, s)| s);
    app.model
        .frames
        .iter()
        .filter(|r| r.conn() == conn)
        .map(|r| match r {
            FrameRow::Frame(fr) => {
                let mine = marked == Some(fr.header.stream_id);
                (fr.ts, Some(fr.dir), fr.ladder_label(), mine)
            }
            FrameRow::Tcp { ts, dir, flags, .. } => (*ts, Some(*dir), format!("TCP {}", flags.tcpdump()), false),
            FrameRow::Preface { ts, .. } => (*ts, Some(Dir::ToServer), "PREFACE".into(), false),
            FrameRow::Lost { ts, dir, bytes, .. } => (*ts, Some(*dir), format!("[{bytes} bytes lost]"), false),
        })
        .collect()
}

fn draw_ladder(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let rows = ladder_rows(app);
    let inner_w = area.width.saturating_sub(2) as usize;
    let h = area.height.saturating_sub(3) as usize;
    let span = inner_w.saturating_sub(11).max(16);
    let conn = app.selected_index(View::Conns).and_then(|i| app.model.conn(i));
    let (client, server) =
        conn.map_or((String::new(), String::new()), |c| (c.tcp.client.to_string(), c.tcp.server.to_string()));
    let mut lines = vec![Line::styled(
        format!("{:>10} {client:<w$}{server:>0}", "", w = span.saturating_sub(server.len())),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    let start = rows.first().map(|r| r.0);
    app.ladder_offset = app.ladder_offset.min(rows.len().saturating_sub(1));
    for (ts, dir, label, mine) in rows.iter().skip(app.ladder_offset).take(h) {
        let t = start.map_or(String::new(), |s| format!("+{}", human_duration(ts.nanos_since(s))));
        let label = truncate(&crate::present::text::clean(label), span.saturating_sub(6));
        // "|-" + label + " " + fill + ">|" spans exactly the width between the lifelines.
        let fill = span.saturating_sub(label.chars().count() + 5);
        let (arrow, style) = match dir {
            Some(Dir::ToServer) => (format!("|-{label} {}>|", "-".repeat(fill)), Style::new().fg(Color::Cyan)),
            _ => (format!("|<{} {label}-|", "-".repeat(fill)), Style::new().fg(Color::Green)),
        };
        let style = if label.starts_with("RST") || label.starts_with("GOAWAY") || label.contains("TCP R") {
            Style::new().fg(Color::Red)
        } else {
            style
        };
        // The call the view was opened from: marked, and bold.
        let (mark, style) = if *mine { ("▶", style.add_modifier(Modifier::BOLD)) } else { (" ", style) };
        lines.push(Line::from(vec![
            Span::styled(format!("{t:>9}{mark} "), Style::new().fg(Color::DarkGray)),
            Span::styled(arrow, style),
        ]));
    }
    let title = format!(" Ladder: {} frames and TCP moments, time going down ", rows.len());
    f.render_widget(Paragraph::new(lines).block(pane_block(title, app.pane == Pane::Bytes)), area);
}

fn stats_title(app: &App) -> String {
    match &app.filtered_stats {
        Some(f) => format!(" Stats per method of {} calls matching {} ", f.matched, clean(&f.source)),
        None => " Stats per method ".into(),
    }
}

fn draw_stats_view(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let [table, bottom] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    // The histogram's eight decades need 57 columns; on a narrow terminal it
    // takes them and the error timelines the rest.
    let hist_width = if bottom.width < 120 {
        Constraint::Length(57.min(bottom.width.saturating_sub(22)))
    } else {
        Constraint::Percentage(50)
    };
    let [hist, timeline] = Layout::horizontal([hist_width, Constraint::Min(10)]).areas(bottom);
    let title = stats_title(app);
    // By field, not through App::shown_stats: the list below is borrowed mutably.
    let s = app.filtered_stats.as_ref().map_or(&app.model.stats, |f| &f.stats);
    let inner_h = table.height.saturating_sub(4) as usize;
    app.page = inner_h.max(1);
    let l = super::app::list_of_mut(&mut app.lists, View::Stats);
    if l.selected < l.offset {
        l.offset = l.selected;
    } else if inner_h > 0 && l.selected >= l.offset + inner_h {
        l.offset = l.selected + 1 - inner_h;
    }
    let t = &s.total;
    let inner_w = table.width.saturating_sub(2) as usize;
    // The figures keep their 53 columns; the method gets the rest (40 at most).
    let mw = inner_w.saturating_sub(53).clamp(12, 40);
    let summary = if inner_w >= 100 {
        format!(
            "{} calls: {} ok, {} application errors, {} transport errors, {} unknown, {} incomplete",
            t.calls, t.ok, t.application, t.transport, t.unknown, t.incomplete
        )
    } else {
        format!(
            "{} calls: {} ok, {} app err, {} transport err, {} unknown, {} incomplete",
            t.calls, t.ok, t.application, t.transport, t.unknown, t.incomplete
        )
    };
    let mut lines = vec![
        Line::raw(summary),
        Line::styled(
            format!(
                "{:<mw$} {:>6} {:>6} {:>5} {:>5} {:>8} {:>8} {:>8}",
                "METHOD", "CALLS", "OK", "APP", "TRANS", "P50", "P99", "MAX"
            ),
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ),
    ];
    let dur = |v: Option<f64>| v.map_or("-".to_string(), |n| human_duration(n as i64));
    for (i, (m, g)) in s.by_method.iter().enumerate().skip(l.offset).take(inner_h) {
        let style = if g.transport > 0 {
            origin_style(Some(Origin::Transport))
        } else if g.application > 0 {
            origin_style(Some(Origin::Application))
        } else {
            Style::new()
        };
        let line = Line::styled(
            format!(
                "{:<mw$} {:>6} {:>6} {:>5} {:>5} {:>8} {:>8} {:>8}",
                left_truncate(&clean(m), mw),
                g.calls,
                g.ok,
                g.application,
                g.transport,
                dur(g.latency.percentile(50.0)),
                dur(g.latency.percentile(99.0)),
                dur(g.latency.max().map(|x| x as f64))
            ),
            style,
        );
        lines.push(if i == l.selected { line.style(SELECTED) } else { line });
    }
    f.render_widget(Paragraph::new(lines).block(pane_block(title, app.pane == Pane::List)), table);
    app.areas = super::app::Areas { list: table, tree: hist, bytes: timeline, ..Default::default() };
    // Latency histogram of the selected method.
    let selected = s.by_method.iter().nth(l.selected);
    let (name, buckets) = selected.map_or((String::new(), Vec::new()), |(m, g)| (m.clone(), g.latency.by_decade()));
    let bars: Vec<Bar> = buckets
        .iter()
        .map(|(label, n)| Bar::default().label(Line::raw(label.clone())).value(*n).text_value(n.to_string()))
        .collect();
    let chart = BarChart::default()
        .block(pane_block(format!(" Latency of {} ", truncate(&name, 40)), app.pane == Pane::Tree))
        .data(BarGroup::default().bars(&bars))
        .bar_width(6)
        .bar_gap(1);
    f.render_widget(chart, hist);
    // Error timeline: one column per second, application and transport.
    let [app_area, tr_area] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(timeline);
    let width = app_area.width.saturating_sub(2) as usize;
    let secs: Vec<&crate::analysis::stats::Second> = s.timeline.values().collect();
    let tail = secs.len().saturating_sub(width);
    let app_err: Vec<u64> = secs.iter().skip(tail).map(|x| x.application).collect();
    let tr_err: Vec<u64> = secs.iter().skip(tail).map(|x| x.transport).collect();
    f.render_widget(
        Sparkline::default()
            .block(pane_block(per_second_title(("Application", "App"), app_err.iter().max(), app_area.width), false))
            .data(&app_err)
            .style(Style::new().fg(Color::Yellow)),
        app_area,
    );
    f.render_widget(
        Sparkline::default()
            .block(pane_block(per_second_title(("Transport", "Transport"), tr_err.iter().max(), tr_area.width), false))
            .data(&tr_err)
            .style(Style::new().fg(Color::Red)),
        tr_area,
    );
}

/// `Transport errors per second (peak 4)`, or `Transport/s (peak 4)` in a
/// narrow pane (`what`: the long and the short name).
fn per_second_title((long, short): (&str, &str), peak: Option<&u64>, width: u16) -> String {
    let peak = peak.copied().unwrap_or(0);
    let title = format!(" {long} errors per second (peak {peak}) ");
    if title.chars().count() + 2 <= width as usize {
        title
    } else {
        format!(" {short}/s (peak {peak}) ")
    }
}

fn draw_bottom(f: &mut Frame<'_>, app: &App, area: Rect) {
    if let Some(edit) = &app.input {
        // The cursor is the character under it, reversed (a block past the end).
        let (before, after) = edit.split();
        let mut rest = after.chars();
        let under = rest.next().map_or_else(|| " ".to_string(), |c| c.to_string());
        let mut lines = vec![Line::from(vec![
            Span::styled(
                if app.input_kind == InputKind::Search { "search: " } else { "filter: " },
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(clean(before).into_owned()),
            Span::styled(clean(&under).into_owned(), Style::new().add_modifier(Modifier::REVERSED)),
            Span::raw(clean(rest.as_str()).into_owned()),
        ])];
        if let Some(e) = &app.input_error {
            for l in e.lines() {
                lines.push(Line::styled(l.to_string(), Style::new().fg(Color::Red)));
            }
        }
        f.render_widget(Paragraph::new(lines), area);
        return;
    }
    // Stats counts the calls the Calls filter lets through: that filter is its.
    let filtered = if app.view == View::Stats { View::Calls } else { app.view };
    let l = super::app::list_of(&app.lists, filtered);
    let mut left = match (&l.filter, app.view) {
        (Some(flt), _) => format!("filter: {}  ({} match)", flt.source, l.visible.len()),
        (None, View::Stats) => "no filter".to_string(),
        (None, _) => format!("no filter ({} rows)", l.visible.len()),
    };
    if app.paused {
        left.push_str("  PAUSED");
    } else if app.model.live && app.follow {
        left.push_str("  following");
    }
    if let Some(s) = &app.status {
        left = format!("{left}  | {s}");
    }
    if let Some(e) = &app.model.failure {
        left = format!("{left}  | stopped: {e}");
    }
    let hint = " / filter  1-5 views  Tab panes  Enter open  ? help  q quit";
    let pad = (area.width as usize).saturating_sub(left.chars().count() + hint.chars().count());
    let line = Line::from(vec![
        Span::raw(left),
        Span::raw(" ".repeat(pad)),
        Span::styled(hint, Style::new().fg(Color::DarkGray)),
    ]);
    f.render_widget(Paragraph::new(line).style(Style::new().bg(Color::Black)), area);
}

/// Every key, for the help overlay and docs/tui.md.
pub const KEYS: &[(&str, &str)] = &[
    ("1 2 3 4 5", "views: Calls, Frames, Connections, Stats, Findings (doctor)"),
    ("Tab / Shift-Tab", "next / previous pane: list, detail, panel, bytes (ladder)"),
    ("z", "zoom: the focused pane fills the screen (z again: all panes)"),
    ("j k, Down Up", "move; in the bytes pane and panels, scroll"),
    ("PgDn PgUp", "a page down / up"),
    ("g G, Home End", "first / last row"),
    ("Enter", "open the detail; expand / collapse; follow a link"),
    ("l h, Right Left", "detail: expand / collapse"),
    ("/", "filter the view (in Stats: which calls count)"),
    ("s, Ctrl-F", "search the list for text; n / N: next / previous match"),
    ("  in the bar", "Ctrl-A/E/U/K/W as in a shell; Up/Down: earlier filters"),
    ("F", "frames of the selected call"),
    ("C", "connection of the selected row (from a call: the ladder at it)"),
    ("R", "the reconnect that followed the selected connection"),
    ("t", "frames view: show TCP SYN/FIN/RST packets too"),
    ("e", "frames view: explain the selected frame"),
    ("H", "frames view: the HPACK dynamic tables after the selected frame"),
    ("T", "times: cycle tshark's -t formats (u ud udoy a ad adoy r d dd e)"),
    ("Ctrl-T", "the selected row is the time reference (*REF*); again: clear"),
    ("f", "follow: keep the newest row selected (live)"),
    ("Space, p", "pause / resume taking new rows (live)"),
    ("mouse", "click selects, the wheel scrolls the pane under it"),
    ("?", "this help"),
    ("q, Ctrl-C", "quit"),
];

fn draw_help(f: &mut Frame<'_>, app: &mut App, area: Rect) {
    let w = 96.min(area.width);
    let h = (KEYS.len() as u16 + 3).min(area.height);
    let popup = Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h);
    // Two borders and the closing line; what does not fit scrolls.
    let rows = (h as usize).saturating_sub(3);
    app.help_offset = app.help_offset.min(KEYS.len().saturating_sub(rows));
    let mut lines: Vec<Line> = KEYS
        .iter()
        .skip(app.help_offset)
        .take(rows)
        .map(|(k, d)| Line::from(vec![Span::styled(format!("{k:<17}"), Style::new().fg(Color::Cyan)), Span::raw(*d)]))
        .collect();
    let closing = if rows < KEYS.len() {
        format!(
            "j/k scroll (keys {}-{} of {}), any other key closes this help",
            app.help_offset + 1,
            app.help_offset + rows,
            KEYS.len()
        )
    } else {
        "any key closes this help".into()
    };
    lines.push(Line::styled(closing, Style::new().fg(Color::DarkGray)));
    f.render_widget(Clear, popup);
    f.render_widget(Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" Keys ")), popup);
}
