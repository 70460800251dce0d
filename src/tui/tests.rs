//! Every view drawn on ratatui's TestBackend, checked for text and styles.
use super::app::{App, Pane, View};
use super::loader;
use super::model::Model;
use super::render;
use crate::analysis::PipelineConfig;
use crate::capture::FileCapture;
use crate::present::Decoder;
use crate::proto::{Schema, SchemaSources};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::style::Color;
use ratatui::Terminal;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An app with a fixture fully loaded.
pub fn app_for(fixture: &str) -> App {
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let cap = FileCapture::open(&root().join("fixtures").join(fixture)).unwrap();
    let msgs = loader::collect(cap, PipelineConfig::new());
    let mut app = App::new(Model::new(fixture.to_string(), false, Decoder::new(schema, 1 << 20, None, 1 << 20)));
    app.absorb(msgs);
    app
}

/// Draws the app on a w×h test terminal.
pub fn draw(app: &mut App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

/// The buffer as lines of text.
pub fn text(b: &Buffer) -> Vec<String> {
    (0..b.area.height).map(|y| (0..b.area.width).map(|x| b[(x, y)].symbol().to_string()).collect::<String>()).collect()
}

fn find(b: &Buffer, needle: &str) -> (u16, u16) {
    for (y, line) in text(b).iter().enumerate() {
        if let Some(byte) = line.find(needle) {
            let x = line[..byte].chars().count();
            return (x as u16, y as u16);
        }
    }
    panic!("{needle:?} not on screen:\n{}", text(b).join("\n"));
}

fn key(app: &mut App, c: KeyCode) {
    app.on_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

#[test]
fn calls_view_colours_status_by_origin() {
    let mut app = app_for("proxy.pcap");
    let b = draw(&mut app, 140, 40);
    let screen = text(&b).join("\n");
    assert!(screen.contains(" 1 Calls ") && screen.contains(" Calls 9 "), "{screen}");
    let (x, y) = find(&b, "UNAVAILABLE (HTTP 504)");
    assert_eq!(b[(x, y)].fg, Color::Red, "transport errors are red");
    let (x, y) = find(&b, "NOT_FOUND");
    assert_eq!(b[(x, y)].fg, Color::Yellow, "application errors are yellow");
    let (x, y) = find(&b, "OK    ");
    assert_eq!(b[(x, y)].fg, Color::Green);
    // The detail of the selected (first) call, with HPACK bytes of its headers.
    assert!(screen.contains("request headers (8 fields"));
    assert!(screen.contains("sku (1): \"bolt-1\""));
    assert!(screen.contains(": request headers: HPACK header block"));
}

#[test]
fn selecting_a_header_field_highlights_its_hpack_bytes() {
    let mut app = app_for("unary.pcap");
    key(&mut app, KeyCode::Enter); // into the detail pane
    key(&mut app, KeyCode::Down); // status
    key(&mut app, KeyCode::Down); // timing
    key(&mut app, KeyCode::Down); // request headers
    key(&mut app, KeyCode::Down); // :method: POST
    assert_eq!(app.pane, Pane::Tree);
    let b = draw(&mut app, 140, 40);
    assert!(text(&b).join("\n").contains("Bytes [0..1) of 81"), "one byte: static index 3");
    let (x, y) = find(&b, "00000 83");
    assert_eq!(b[(x + 6, y)].bg, Color::Yellow, "the byte 0x83 is highlighted");
    assert_ne!(b[(x + 9, y)].bg, Color::Yellow, "the next byte is not");
    // A protobuf field highlights its bytes in the message.
    for _ in 0..9 {
        key(&mut app, KeyCode::Down);
    }
    let b = draw(&mut app, 140, 40);
    let screen = text(&b).join("\n");
    assert!(screen.contains("Bytes [0..8) of 8: message #1 (grpcscope"), "{screen}");
}

#[test]
fn frames_view_and_its_tcp_toggle() {
    let mut app = app_for("deadline.pcap");
    key(&mut app, KeyCode::Char('2'));
    let b = draw(&mut app, 140, 40);
    let screen = text(&b).join("\n");
    assert!(screen.contains("PREFACE") && screen.contains("SETTINGS") && screen.contains("RST_STREAM"), "{screen}");
    assert!(!screen.contains("TCP S"), "TCP packets hidden by default");
    let (x, y) = find(&b, "RST_STREAM");
    assert_eq!(b[(x, y)].fg, Color::Yellow);
    key(&mut app, KeyCode::Char('t'));
    let screen = text(&draw(&mut app, 140, 40)).join("\n");
    assert!(screen.contains("TCP S") && screen.contains("TCP S."), "{screen}");
    // Frame detail: the 9-byte header, field by field, with bytes.
    key(&mut app, KeyCode::Char('t'));
    key(&mut app, KeyCode::Home);
    let screen = text(&draw(&mut app, 140, 40)).join("\n");
    assert!(screen.contains("frame header (9 bytes"), "{screen}");
    // The explanation panel.
    key(&mut app, KeyCode::Char('e'));
    let screen = text(&draw(&mut app, 160, 50)).join("\n");
    assert!(screen.contains("Explanation (e hides it, Tab focuses it)"), "{screen}");
    assert!(screen.contains("SETTINGS (§6.5): the server announces its parameters;"), "{screen}");
    // The HPACK panel takes its place; past the first request the client's table holds entries.
    key(&mut app, KeyCode::Char('H'));
    for _ in 0..8 {
        key(&mut app, KeyCode::Down);
    }
    let screen = text(&draw(&mut app, 160, 50)).join("\n");
    assert!(screen.contains("HPACK tables (H hides them") && !screen.contains("Explanation (e hides it"), "{screen}");
    assert!(screen.contains("C->S (client's encoder):") && screen.contains("[62] "), "{screen}");
}

/// At 80x24 every pane is a few rows: `z` gives the focused one the
/// screen, the explanation is a pane Tab reaches and the keys scroll, and a
/// long detail line wraps instead of being cut.
#[test]
fn at_80x24_panes_zoom_the_panel_scrolls_and_detail_lines_wrap() {
    let mut app = app_for("proxy.pcap");
    // The 504: its detail line about the HTTP status is longer than 80 columns.
    key(&mut app, KeyCode::Down);
    for _ in 0..3 {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('z'));
    let screen = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(screen.contains("┌ Detail") && !screen.contains("┌ Calls") && !screen.contains("┌ Bytes"), "{screen}");
    assert!(screen.contains("transport: HTTP 504 instead of 200"), "{screen}");
    let wrapped = app.tree_rows.windows(2).any(|w| w[0] == w[1]);
    assert!(wrapped, "some node takes two rows: {:?}\n{screen}", app.tree_rows);
    key(&mut app, KeyCode::Char('z'));
    let screen = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(screen.contains("┌ Calls") && screen.contains("┌ Detail"), "{screen}");

    // The explanation panel: Tab focuses it, j scrolls it, z zooms it.
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Down); // past the preface, to the server's SETTINGS
    key(&mut app, KeyCode::Char('e'));
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.pane, Pane::Panel);
    let first = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(first.contains("Explanation (e hides it") && first.contains("rows 1-"), "{first}");
    key(&mut app, KeyCode::Char('j'));
    let second = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(second.contains("rows 2-"), "{second}");
    key(&mut app, KeyCode::Char('z'));
    let zoomed = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(
        zoomed.contains("SETTINGS frame: 9-byte header") && zoomed.contains("MAX_FRAME_SIZE = 16777215"),
        "{zoomed}"
    );
    // Closing the panel hands the keyboard back to the tree.
    key(&mut app, KeyCode::Char('e'));
    assert_eq!(app.pane, Pane::Tree);
}

/// Calls carry the numbers `explain --call N` takes, frames the packet
/// that completed them (as tshark numbers packets), and a DATA frame says
/// which gRPC messages it carries.
#[test]
fn lists_show_call_numbers_packets_and_the_messages_of_data_frames() {
    let mut app = app_for("errors.pcap");
    let screen = text(&draw(&mut app, 120, 30)).join("\n");
    assert!(screen.contains("# START"), "{screen}");
    assert!(screen.contains("│2 18:24:00.951946    1     3"), "{screen}");
    key(&mut app, KeyCode::Char('2'));
    let screen = text(&draw(&mut app, 120, 40)).join("\n");
    // Packet 11 carries the first request's DATA: one message of 10 bytes.
    assert!(screen.contains("    11 18:24:00.950890    1 C->S      1 DATA"), "{screen}");
    assert!(screen.contains("gRPC message 1 (10 B)"), "{screen}");
    // At 80 columns connection and stream share a column rather than vanish.
    key(&mut app, KeyCode::Char('1'));
    let screen = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(screen.contains("C/S") && screen.contains(" 1/3 "), "{screen}");
}

/// Live, the Connections view lists the connections still open (as they
/// stand at the last report) after those that ended; when one ends, its
/// final record takes the open row's place.
#[test]
fn live_the_connections_view_lists_those_still_open() {
    let mut app = app_for("proxy.pcap");
    let mut open = app.model.conns[0].clone();
    open.tcp.id = 100;
    open.tcp.end = crate::tcp::EndReason::OpenAtEnd;
    app.absorb([super::model::Msg::Open(vec![open.clone()])]);
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::End);
    let screen = text(&draw(&mut app, 140, 40)).join("\n");
    assert!(screen.contains("Connections 7") && screen.contains("open now (last packet 18:51:5"), "{screen}");
    assert!(screen.contains(" 100 "), "{screen}");
    app.absorb([super::model::Msg::Conn(Box::new(open))]);
    assert!(app.model.open_conns.is_empty());
    let screen = text(&draw(&mut app, 140, 40)).join("\n");
    assert!(screen.contains("Connections 7") && !screen.contains("open now"), "{screen}");
}

/// `T` cycles the lists' time formats through tshark's -t ones: relative
/// times count from the capture's first packet, deltas from the row before.
#[test]
fn the_time_key_cycles_tsharks_formats_in_the_lists() {
    let mut app = app_for("errors.pcap");
    let row = |app: &mut App| text(&draw(app, 120, 30))[3].clone();
    assert!(row(&mut app).contains("1 18:24:00.950838"), "{}", row(&mut app));
    let mut seen = Vec::new();
    while app.clock.format != crate::time::TimeFormat::Relative {
        key(&mut app, KeyCode::Char('T'));
        seen.push(app.clock.format.name());
        assert!(seen.len() < 12, "{seen:?}");
    }
    // The first call started 739us after the capture's first packet (the SYN).
    assert!(row(&mut app).contains("1 0.000739 "), "{}", row(&mut app));
    assert!(app.status.as_deref().unwrap_or("").contains("since the first packet"), "{:?}", app.status);
    // Ctrl-T: the third call is the reference; the first is then before it.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    app.on_key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
    let screen = text(&draw(&mut app, 120, 30)).join("\n");
    assert!(screen.contains("3 *REF*") && screen.contains("1 -0.001709 "), "{screen}");
    app.on_key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
    assert!(row(&mut app).contains("1 0.000739 "), "cleared: {}", row(&mut app));
    key(&mut app, KeyCode::Char('T')); // u: back to the start of the cycle
    assert_eq!(app.clock.format, crate::time::TimeFormat::Utc);
    key(&mut app, KeyCode::Char('T'));
    let date = row(&mut app);
    assert!(date.contains("2026-11-24 18:24:00.950838"), "ud: {date}");
}

/// `s` searches the list's rows as shown; `n` and `N` go to the next and
/// previous match, wrapping around; the filter is left alone.
#[test]
fn search_moves_between_matching_rows_in_every_list() {
    let mut app = app_for("proxy.pcap");
    key(&mut app, KeyCode::Char('s'));
    type_str(&mut app, "unavailable");
    let screen = text(&draw(&mut app, 100, 30)).join("\n");
    assert!(screen.contains("search: unavailable"), "{screen}");
    key(&mut app, KeyCode::Enter);
    // Calls 5, 6 and 9 are UNAVAILABLE (the 504, the closed connection, the 502).
    assert_eq!(app.selected_index(View::Calls), Some(4));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.selected_index(View::Calls), Some(5));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.selected_index(View::Calls), Some(8));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.selected_index(View::Calls), Some(4), "wraps around");
    assert!(app.status.as_deref().unwrap_or("").contains("wrapped"), "{:?}", app.status);
    key(&mut app, KeyCode::Char('N'));
    assert_eq!(app.selected_index(View::Calls), Some(8));
    assert!(list_len(&app, View::Calls) == 9, "a search filters nothing out");
    // The same search in the frames list finds the RST_STREAM rows by name.
    key(&mut app, KeyCode::Char('2'));
    app.on_key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL));
    type_str(&mut app, "rst_stream");
    key(&mut app, KeyCode::Enter);
    let row = app.selected_index(View::Frames).unwrap();
    let screen = text(&draw(&mut app, 120, 40)).join("\n");
    assert!(row > 0 && screen.contains("RST_STREAM"), "{screen}");
    // In the connections list by address; nothing found says so.
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('s'));
    type_str(&mut app, "no-such-host");
    key(&mut app, KeyCode::Enter);
    assert!(app.status.as_deref().unwrap_or("").contains("is in no row"), "{:?}", app.status);
}

fn list_len(app: &App, v: View) -> usize {
    super::app::list_of(&app.lists, v).visible.len()
}

#[test]
fn connections_view_draws_the_ladder() {
    let mut app = app_for("reconnect.pcap");
    key(&mut app, KeyCode::Char('3'));
    let b = draw(&mut app, 160, 48);
    let screen = text(&b).join("\n");
    assert!(screen.contains("Ladder:"), "{screen}");
    assert!(screen.contains("|-TCP S ") && screen.contains("TCP S.-|"), "SYN right, SYN-ACK left: {screen}");
    assert!(screen.contains("HEADERS[1] :path=/grpcscope.fixtures.v1.Inventory/GetPart"), "{screen}");
    assert!(screen.contains("HEADERS[1] ES grpc-status=0"), "{screen}");
    assert!(screen.contains("followed by connection 2"), "{screen}");
    assert!(screen.contains("reconnect of 1; refused (RST to SYN)"));
    assert!(screen.contains("channel 1: 2 reconnects, 2 failed attempts in 5 connections"), "{screen}");
}

#[test]
fn stats_view_has_the_table_histogram_and_timeline() {
    let mut app = app_for("proxy.pcap");
    key(&mut app, KeyCode::Char('4'));
    let b = draw(&mut app, 140, 40);
    let screen = text(&b).join("\n");
    assert!(screen.contains("9 calls: 2 ok, 3 application errors, 4 transport errors"), "{screen}");
    assert!(screen.contains("Latency of /grpcscope.fixtures.v1.Inventory/GetPart"));
    assert!(screen.contains("<1ms") && screen.contains("<1s"));
    assert!(screen.contains("Transport errors per second (peak 4)"), "{screen}");
    let (x, y) = find(&b, "/grpcscope.fixtures.v1.Inventory/GetPart      9");
    assert_eq!(b[(x, y)].bg, Color::Blue, "the selected method");
}

#[test]
fn the_filter_bar_explains_mistakes_in_place_and_counts_matches() {
    let mut app = app_for("proxy.pcap");
    key(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "status != OK)");
    key(&mut app, KeyCode::Enter);
    assert!(app.input.is_some(), "a bad filter keeps the bar open");
    let screen = text(&draw(&mut app, 120, 30)).join("\n");
    assert!(screen.contains("filter: status != OK)"));
    assert!(screen.contains("unexpected `)` with no `(` before it at column 13"), "{screen}");
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Enter);
    assert!(app.input.is_none());
    let screen = text(&draw(&mut app, 120, 30)).join("\n");
    assert!(screen.contains("filter: status != OK  (7 match)"), "{screen}");
    assert!(screen.contains(" Calls 7 matching status != OK "));
    // Esc cancels an edit; an empty filter clears it.
    key(&mut app, KeyCode::Char('/'));
    for _ in 0..20 {
        key(&mut app, KeyCode::Backspace);
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.lists[0].visible.len(), 9);
}

#[test]
fn the_filter_bar_takes_readline_keys_and_recalls_earlier_filters() {
    let mut app = app_for("proxy.pcap");
    let ctrl = |app: &mut App, c| app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    key(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "status == OK");
    ctrl(&mut app, 'w');
    type_str(&mut app, "NOT_FOUND");
    ctrl(&mut app, 'a');
    type_str(&mut app, "!(");
    ctrl(&mut app, 'e');
    type_str(&mut app, ")");
    assert_eq!(app.input.as_ref().unwrap().text(), "!(status == NOT_FOUND)");
    key(&mut app, KeyCode::Enter);
    assert!(app.input.is_none(), "{:?}", app.input_error);
    let first = app.lists[0].visible.len();
    // Ctrl-U empties the line (it used to type a "u"); Up brings the filter back.
    key(&mut app, KeyCode::Char('/'));
    ctrl(&mut app, 'u');
    assert_eq!(app.input.as_ref().unwrap().text(), "");
    type_str(&mut app, "conn == 1");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('/'));
    ctrl(&mut app, 'u');
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.input.as_ref().unwrap().text(), "!(status == NOT_FOUND)");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.lists[0].visible.len(), first);
    assert_eq!(app.history, ["conn == 1", "!(status == NOT_FOUND)"]);
}

#[test]
fn a_filter_typed_in_stats_filters_the_statistics() {
    let mut app = app_for("proxy.pcap");
    let all = app.model.stats.total.calls;
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('/'));
    type_str(&mut app, "status != OK");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.shown_stats().total.calls, 7, "the calls the filter matches, of {all}");
    assert_eq!(app.shown_stats().total.ok, 0);
    let screen = text(&draw(&mut app, 120, 30)).join("\n");
    assert!(screen.contains("Stats per method of 7 calls matching status != OK"), "{screen}");
    assert!(screen.contains("filter: status != OK  (7 match)"), "{screen}");
    // The Calls view shares the filter; clearing it brings every call back.
    key(&mut app, KeyCode::Char('/'));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.shown_stats().total.calls, all);
    assert!(app.filtered_stats.is_none());
}

#[test]
fn links_lead_to_frames_connection_and_the_next_reconnect() {
    let mut app = app_for("reconnect.pcap");
    key(&mut app, KeyCode::Char('F'));
    assert_eq!(app.view, View::Frames);
    assert_eq!(app.lists[1].filter.as_ref().unwrap().source, "conn == 1 && stream == 1");
    assert!(app.lists[1].visible.len() >= 5);
    key(&mut app, KeyCode::Char('C'));
    assert_eq!((app.view, app.selected_index(View::Conns)), (View::Conns, Some(0)));
    key(&mut app, KeyCode::Char('R'));
    let sel = app.selected_index(View::Conns).unwrap();
    assert_eq!(app.model.conns[sel].tcp.id, 2, "the attempt that followed conn 1");
    key(&mut app, KeyCode::Char('R'));
    assert!(
        app.status.as_deref().unwrap_or("").contains("no reconnect"),
        "a refused attempt is followed by nothing of its own"
    );
}

/// `C` on a call opens its connection's ladder at the call's first frame,
/// its arrows marked; another connection's ladder starts at its top.
#[test]
fn the_ladder_opens_at_the_call_it_came_from_and_resets_with_the_connection() {
    let mut app = app_for("proxy.pcap");
    for _ in 0..6 {
        key(&mut app, KeyCode::Down); // call 7: conn 1, stream 7
    }
    key(&mut app, KeyCode::Char('C'));
    assert_eq!(app.view, View::Conns);
    assert_eq!(app.ladder_call, Some((1, 7)));
    assert!(app.ladder_offset > 10, "conn 1 carried six calls before this one: {}", app.ladder_offset);
    let b = draw(&mut app, 160, 48);
    let screen = text(&b).join("\n");
    assert!(screen.contains("▶ |-HEADERS[7] :path=/grpcscope.fixtures.v1.Inventory/GetPart"), "{screen}");
    let (x, y) = find(&b, "|-HEADERS[7]");
    assert!(b[(x, y)].modifier.contains(ratatui::style::Modifier::BOLD), "the call's arrows are bold");
    key(&mut app, KeyCode::Down);
    assert_eq!((app.ladder_offset, app.ladder_call), (0, None), "the next connection's ladder starts at its top");
}

/// Every view, zoomed or not, and the frames view's panels, drawn whole on
/// a kubectl-exec terminal (80x24) and a large one (200x50): every box is
/// closed, the tabs and the bottom line are there, nothing is left blank.
#[test]
fn every_view_and_panel_draws_whole_at_80x24_and_200x50() {
    let mut app = app_for("proxy.pcap");
    let closed = |screen: &[String]| {
        let count = |c: char| screen.iter().map(|l| l.matches(c).count()).sum::<usize>();
        count('┌') == count('┐') && count('└') == count('┘') && count('┌') == count('└') && count('┌') > 0
    };
    let mut drawn = 0;
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        for (v, title) in [
            ('1', "┌ Calls 9"),
            ('2', "┌ Frames 73"),
            ('3', "┌ Connections 6"),
            ('4', "┌ Stats per method"),
            ('5', "┌ Findings"),
        ] {
            key(&mut app, KeyCode::Char(v));
            key(&mut app, KeyCode::Down);
            let panels: &[char] = if v == '2' { &['e', 'H'] } else { &[] };
            let mut states: Vec<Option<char>> = vec![None];
            states.extend(panels.iter().map(|p| Some(*p)));
            for panel in states {
                if let Some(p) = panel {
                    key(&mut app, KeyCode::Char(p));
                }
                for zoom in [false, true] {
                    if zoom {
                        key(&mut app, KeyCode::Tab);
                        key(&mut app, KeyCode::Char('z'));
                    }
                    let screen = text(&draw(&mut app, w, h));
                    let all = screen.join("\n");
                    assert_eq!(screen.len(), h as usize);
                    assert!(screen[0].contains("1 Calls") && screen[0].contains("5 Findings"), "{all}");
                    // Zoomed, the detail (Tab's pane) is all there is; Stats does not zoom.
                    let want = if zoom && v != '4' { "┌ Detail" } else { title };
                    assert!(all.contains(want), "view {v} at {w}x{h} zoom {zoom}: {all}");
                    assert!(!zoom || v == '4' || !all.contains(title), "zoomed, only one pane: {all}");
                    assert!(closed(&screen), "a box is not closed in view {v} at {w}x{h}, zoom {zoom}: {all}");
                    assert!(
                        screen[h as usize - 1].starts_with("no filter") || screen[h as usize - 1].contains("zoom"),
                        "{all}"
                    );
                    if zoom {
                        key(&mut app, KeyCode::Char('z'));
                        key(&mut app, KeyCode::Esc);
                    }
                    drawn += 1;
                }
                if let Some(p) = panel {
                    key(&mut app, KeyCode::Char(p));
                }
            }
        }
    }
    assert_eq!(drawn, 2 * (5 + 2) * 2);
}

#[test]
fn small_and_large_terminals_help_and_mouse() {
    let mut app = app_for("errors.pcap");
    for (w, h) in [(80, 24), (60, 15), (200, 60), (80, 24)] {
        for v in ['1', '2', '3', '4'] {
            key(&mut app, KeyCode::Char(v));
            let b = draw(&mut app, w, h);
            assert_eq!(b.area.width, w);
        }
    }
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::Char('?'));
    let screen = text(&draw(&mut app, 100, 30)).join("\n");
    assert!(screen.contains(" Keys ") && screen.contains("filter the view"));
    key(&mut app, KeyCode::Char('x'));
    assert!(!app.help);
    // Click the fourth call.
    let b = draw(&mut app, 120, 40);
    let (_, y) = find(&b, "18:24:00.953167");
    app.on_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 10,
        row: y,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.selected_index(View::Calls), Some(3));
    app.on_mouse(MouseEvent { kind: MouseEventKind::ScrollDown, column: 10, row: y, modifiers: KeyModifiers::NONE });
    assert_eq!(app.selected_index(View::Calls), Some(6));
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

/// The screens docs/tui.md shows: (name, fixture, keys, width, height).
const DOC_SCREENS: &[(&str, &str, &str, u16, u16)] = &[
    ("small-calls", "proxy.pcap", "jjjj", 80, 24),
    ("small-zoom", "proxy.pcap", "jjjj\nz", 80, 24),
    ("small-explain", "deadline.pcap", "2jjjjjjje\t\tz", 80, 24),
    ("calls", "proxy.pcap", "jjjj", 120, 34),
    ("hpack", "unary.pcap", "\njjjj", 120, 30),
    ("frames", "deadline.pcap", "2jjjjjjjjjje", 120, 40),
    ("connections", "reconnect.pcap", "3", 120, 40),
    ("stats", "proxy.pcap", "4", 120, 34),
    ("findings", "proxy.pcap", "5", 120, 36),
    ("filter", "proxy.pcap", "/status != OK)\n", 100, 20),
    ("help", "errors.pcap", "?", 100, 28),
];

fn doc_screen(fixture: &str, keys: &str, w: u16, h: u16) -> String {
    let mut app = app_for(fixture);
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\t' => KeyCode::Tab,
            c => KeyCode::Char(c),
        };
        key(&mut app, code);
    }
    let lines: Vec<String> = text(&draw(&mut app, w, h)).iter().map(|l| l.trim_end().to_string()).collect();
    lines.join("\n")
}

/// docs/tui.md's screenshots are these renderings, byte for byte; run with
/// GRPCSCOPE_UPDATE_DOCS=1 to rewrite them after changing the UI.
#[test]
fn docs_tui_md_screenshots_are_current() {
    let path = root().join("docs/tui.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut rest = doc.as_str();
    let mut stale = Vec::new();
    for (name, fixture, keys, w, h) in DOC_SCREENS {
        let marker = format!("<!-- screen: {name} -->\n```text\n");
        let at = rest.find(&marker).unwrap_or_else(|| panic!("docs/tui.md lacks {marker:?}"));
        let body_start = at + marker.len();
        let body_len = rest[body_start..].find("```\n").unwrap();
        let screen = doc_screen(fixture, keys, *w, *h);
        if rest[body_start..body_start + body_len].trim_end() != screen {
            stale.push(*name);
        }
        out.push_str(&rest[..body_start]);
        out.push_str(&screen);
        out.push('\n');
        rest = &rest[body_start + body_len..];
    }
    out.push_str(rest);
    if std::env::var_os("GRPCSCOPE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, out).unwrap();
    } else {
        assert!(
            stale.is_empty(),
            "docs/tui.md screens {stale:?} differ from the UI: run GRPCSCOPE_UPDATE_DOCS=1 cargo test --lib docs_tui"
        );
    }
}

/// `--redact`: the trees and the bytes behind them hold no redacted value.
#[test]
fn redaction_reaches_every_tree_and_byte_pane() {
    use super::details::{call_tree, frame_tree};
    use super::model::FrameRow;
    use crate::analysis::redact::Redactor;
    let redact = std::sync::Arc::new(Redactor::new(Some("^x-tenant$"), vec!["name".into()], Some("t")).unwrap());
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let cap = FileCapture::open(&root().join("fixtures/metadata.pcap")).unwrap();
    let cfg = PipelineConfig { redact: Some(redact.clone()), ..PipelineConfig::new() };
    let mut app = App::new(Model::new("m".into(), false, Decoder::new(schema, 1 << 20, Some(redact), 1 << 20)));
    app.absorb(loader::collect(cap, cfg));
    let secrets: [&[u8]; 2] = [b"acme corp", b"Part meta-0"];
    let leaks = |t: &super::tree::Tree| {
        let labels =
            t.nodes.iter().any(|n| secrets.iter().any(|s| n.label.as_bytes().windows(s.len()).any(|w| w == *s)));
        let bytes = t.sources.iter().any(|src| secrets.iter().any(|s| src.data.windows(s.len()).any(|w| w == *s)));
        labels || bytes
    };
    assert!(!app.model.calls.is_empty() && !app.model.frames.is_empty());
    let mut hashes = 0;
    for c in &app.model.calls {
        let t = call_tree(c, &app.model.decoder);
        assert!(!leaks(&t), "call {} leaks", c.stream_id);
        hashes += t.nodes.iter().filter(|n| n.label.contains("<redacted")).count();
    }
    // x-tenant in three requests, and the name of three parts.
    assert!(hashes >= 6, "{hashes} hashes shown");
    for row in &app.model.frames {
        if let FrameRow::Frame(m) = row {
            let (f, _) = app.model.kept.frame(&(m.conn, m.nth)).unwrap();
            assert!(!leaks(&frame_tree(f, None)), "frame at {} leaks", f.offset);
            if let Some(b) = &f.block {
                for field in b.decoded.fields.iter().filter(|x| x.name.as_deref() == Some(&b"x-tenant"[..])) {
                    // A literal's bytes are zeroed (an index into the table reveals nothing).
                    if field.repr.value_literal.is_some() {
                        assert!(b.bytes[field.range.clone()].iter().all(|x| *x == 0));
                    }
                }
            }
        }
    }
}

/// The HPACK panel's replayed tables match the decoder's own snapshots,
/// frame after frame, on a capture whose tables grow and (reconnect) restart.
#[test]
fn the_hpack_panel_matches_the_decoders_tables() {
    use super::hpack_view::tables_at;
    use super::model::{FrameRow, Msg};
    for fixture in ["metadata.pcap", "reconnect.pcap", "streaming.pcap"] {
        let mut cfg = PipelineConfig::new();
        cfg.h2.snapshot_tables = true;
        let cap = FileCapture::open(&root().join("fixtures").join(fixture)).unwrap();
        let (mut rows, mut whole) = (Vec::new(), Vec::new());
        for m in loader::collect(cap, cfg) {
            match m {
                Msg::Frame(r) => rows.push(r),
                Msg::H2(meta, (f, _)) => {
                    rows.push(FrameRow::Frame(meta));
                    whole.push((rows.len() - 1, f));
                }
                _ => {}
            }
        }
        let mut checked = 0;
        for (i, f) in whole {
            let Some(table) = f.block.as_ref().and_then(|b| b.table_after.as_ref()) else { continue };
            let text = tables_at(&rows, i);
            let who =
                if f.dir == crate::tcp::Dir::ToServer { "C->S (client's encoder)" } else { "S->C (server's encoder)" };
            let section: String = text
                .split(who)
                .nth(1)
                .unwrap()
                .lines()
                .take_while(|l| !l.starts_with("S->C"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(section.starts_with(&format!(": {} entries", table.len())), "{fixture} frame {i}: {section}");
            for (k, (n, v, size)) in table.iter().enumerate() {
                let entry = format!("[{}] {n}: {v} ({size} bytes)", 62 + k);
                assert!(section.contains(&entry), "{fixture} frame {i}: {entry} missing from {section}");
            }
            checked += 1;
        }
        assert!(checked > 3, "{fixture}: {checked} blocks checked");
    }
}

#[test]
fn a_decrypted_frame_shows_its_tls_record_beside_the_plaintext() {
    let cfg = PipelineConfig::new();
    cfg.tls_keys.add_text(&std::fs::read_to_string(root().join("fixtures/tls13.keys")).unwrap());
    let cap = FileCapture::open(&root().join("fixtures/tls13.pcap")).unwrap().with_key_store(cfg.tls_keys.clone());
    let mut app =
        App::new(Model::new("tls13.pcap".into(), false, Decoder::new(Schema::builtin(), 1 << 20, None, 1 << 20)));
    app.absorb(loader::collect(cap, cfg));
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Down); // the client's SETTINGS, after its preface
    let b = draw(&mut app, 160, 50);
    let screen = text(&b).join("\n");
    assert!(screen.contains("carried by 1 TLS record(s)"), "{screen}");
    assert!(screen.contains("in the client's decrypted stream"), "{screen}");
    // The record as captured: its header in clear (application_data, TLS
    // 1.2 on the wire), the ciphertext of the selected frame highlighted.
    let (x, y) = find(&b, "Captured, encrypted: TLS record #5 (packet 12, TCP bytes 682..840");
    let (hx, hy) = find(&b, "00000 17 03 03 00 99");
    assert!(hy > y && hx < x + 4, "the record's first row under its title");
    assert_ne!(b[(hx + 6, hy)].bg, Color::Yellow, "the record header carried no frame byte");
    // The frame is plaintext bytes 24..57 of the stream, the record's 24..160:
    // its 33 bytes start after the header, at record byte 5.
    assert_eq!(b[(hx + 6 + 5 * 3, hy)].bg, Color::Yellow, "the frame's first ciphertext byte");
    assert_ne!(b[(hx + 6 + 4 * 3, hy)].bg, Color::Yellow);
    // Above it the plaintext: the SETTINGS frame's header, 24 bytes, type 4.
    assert!(screen.contains("00000 00 00 18 04 00 00 00 00 00"), "{screen}");
}

#[test]
fn the_findings_view_lists_doctors_findings_and_leads_to_their_calls() {
    let mut app = app_for("limits.pcap");
    key(&mut app, KeyCode::Char('5'));
    assert_eq!(app.view, View::Findings);
    let rules: Vec<String> =
        app.findings.iter().map(|f| serde_json::to_value(f.rule).unwrap().as_str().unwrap().to_string()).collect();
    assert_eq!(rules, ["stream_limit", "flow_control_stall"]);
    let b = draw(&mut app, 140, 45);
    let (_, list_row) = find(&b, "WARNING stream_limit");
    let (_, tab_row) = find(&b, "5 Findings");
    assert!(tab_row < list_row);
    // The selected finding's evidence, explanation and advice.
    find(&b, "call 4 (conn 1 stream 7)");
    find(&b, "allows 2 concurrent streams");
    find(&b, "fix");
    // Enter on a call of the evidence opens it in the calls view.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane, Pane::Tree);
    let row = app.tree.visible().iter().position(|(id, _)| app.tree.nodes[*id].label.starts_with("call 4 ")).unwrap();
    app.tree.selected = row;
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Calls);
    let l = &app.lists[View::Calls.index()];
    assert_eq!(l.filter.as_ref().unwrap().source, "conn == 1 && stream == 7");
    assert_eq!(l.visible.len(), 1);
    // The second finding: the stalled stream's connection is one Enter away.
    key(&mut app, KeyCode::Char('5'));
    key(&mut app, KeyCode::Down);
    let b = draw(&mut app, 140, 45);
    find(&b, "WARNING flow_control_stall");
    find(&b, "conn 2");
}

#[test]
fn a_clean_capture_says_it_has_no_findings() {
    let mut app = app_for("unary.pcap");
    key(&mut app, KeyCode::Char('5'));
    assert!(app.findings.is_empty());
    let b = draw(&mut app, 120, 30);
    find(&b, "no findings: 6 calls examined");
}

/// Past its memory budget the Frames view stops listing (no gaps) and its
/// title says how many rows were left out; calls and statistics still see
/// every frame.
#[test]
fn frames_past_the_memory_budget_are_counted_and_the_title_says_so() {
    let full = app_for("streaming.pcap");
    let all = full.model.frames.len();
    let first_ten: usize = full.model.frames.iter().take(10).map(super::model::row_cost).sum();
    let schema = Schema::builtin();
    let cap = FileCapture::open(&root().join("fixtures/streaming.pcap")).unwrap();
    let mut model = Model::new("streaming.pcap".into(), false, Decoder::new(schema, 1 << 20, None, 1 << 20));
    model.frame_budget = first_ten;
    let mut app = App::new(model);
    app.absorb(loader::collect(cap, PipelineConfig::new()));
    assert_eq!(app.model.frames.len(), 10);
    assert_eq!(app.model.frames_not_kept, (all - 10) as u64);
    assert_eq!(app.model.calls.len(), full.model.calls.len(), "calls see every frame");
    key(&mut app, KeyCode::Char('2'));
    let screen = text(&draw(&mut app, 120, 30)).join("\n");
    let expected = format!("+ {} not kept (--max-frame-memory; `grpcscope frames` lists all)", all - 10);
    assert!(screen.contains(&expected), "{screen}");
}

/// At 80x24 the key help does not fit: it says so and scrolls, and any
/// other key closes it.
#[test]
fn at_80x24_the_key_help_scrolls_to_its_last_key() {
    let mut app = app_for("errors.pcap");
    key(&mut app, KeyCode::Char('?'));
    let screen = text(&draw(&mut app, 80, 24)).join("\n");
    let n = render::KEYS.len();
    assert!(screen.contains(&format!("j/k scroll (keys 1-21 of {n})")), "{screen}");
    assert!(!screen.contains("q, Ctrl-C"), "{screen}");
    for _ in 0..n {
        key(&mut app, KeyCode::Char('j'));
    }
    let screen = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(screen.contains("q, Ctrl-C") && screen.contains(&format!("of {n})")), "{screen}");
    key(&mut app, KeyCode::Char('x'));
    assert!(!app.help);
}

/// At 80 columns the Stats table keeps P99 and MAX (the method gives way,
/// cut from the left) and the histogram all eight decades.
#[test]
fn at_80_columns_stats_keep_every_figure_and_every_latency_bucket() {
    let mut app = app_for("proxy.pcap");
    key(&mut app, KeyCode::Char('4'));
    let screen = text(&draw(&mut app, 80, 24)).join("\n");
    assert!(screen.contains("P99      MAX│") && screen.contains("300.8ms  300.8ms│"), "{screen}");
    assert!(screen.contains("…res.v1.Inventory/GetPart"), "{screen}");
    assert!(screen.contains("<10us") && screen.contains(">=10s"), "{screen}");
    assert!(screen.contains("App/s (peak 2)") && screen.contains("Transport/s (peak 4)"), "{screen}");
}

#[test]
fn connections_show_their_hosts_names() {
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let cap = FileCapture::open(&root().join("fixtures/l4_balancing.pcap")).unwrap();
    let mut cfg = PipelineConfig::new();
    let pod = crate::names::Name {
        namespace: Some("shop".into()),
        node: Some("node-a".into()),
        ..crate::names::Name::new("inventory-0", crate::names::NameSource::K8sPod)
    };
    cfg.names.insert("127.0.0.2".parse().unwrap(), pod);
    let msgs = loader::collect(cap, cfg);
    let mut app = App::new(Model::new("l4".into(), false, Decoder::new(schema, 1 << 20, None, 1 << 20)));
    app.absorb(msgs);
    key(&mut app, KeyCode::Char('3'));
    let screen = text(&draw(&mut app, 160, 48)).join("\n");
    // The list shows the name where the server's address was (the first
    // connection is HAProxy's health check of 127.0.0.2); the details say
    // where it came from.
    let first = screen.lines().find(|l| l.contains("   1    1  ")).unwrap();
    assert!(first.contains(" shop/inventory-0 ") && !first.contains("127.0.0.2"), "{first}");
    assert!(screen.contains("server 127.0.0.2: shop/inventory-0 (on node node-a;"), "{screen}");
}

/// Calls end in another order than they started: each one inserted before
/// the rows already listed is filtered alone, and the list comes out as a
/// whole new filtering would make it, the selection on the same call.
#[test]
fn calls_arriving_out_of_start_order_are_listed_as_a_refilter_would() {
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let cap = FileCapture::open(&root().join("fixtures/bench_seed.pcap")).unwrap();
    let msgs = loader::collect(cap, PipelineConfig::new());
    let mut app = App::new(Model::new("bench_seed".into(), false, Decoder::new(schema, 1 << 20, None, 1 << 20)));
    app.apply_filter("status != OK || method ~ \"Watch\"");
    app.follow = false;
    let (mut late, mut last_start) = (0, None);
    let mut msgs = msgs.into_iter();
    loop {
        let chunk: Vec<super::model::Msg> = msgs.by_ref().take(7).collect();
        if chunk.is_empty() {
            break;
        }
        for m in &chunk {
            if let super::model::Msg::Call(c) = m {
                late += usize::from(last_start.is_some_and(|s| c.start < s));
                last_start = Some(last_start.map_or(c.start, |s: crate::time::Timestamp| s.max(c.start)));
            }
        }
        let before = app.selected_index(View::Calls).and_then(|i| app.model.calls.get(i).cloned());
        app.absorb(chunk);
        let after = app.selected_index(View::Calls).and_then(|i| app.model.calls.get(i).cloned());
        if let (Some(b), Some(a)) = (before, after) {
            assert_eq!((b.conn, b.stream_id), (a.conn, a.stream_id), "the selection stays on its call");
        }
    }
    assert!(late > 30, "the seed's calls end out of start order: {late}");
    let incremental = app.lists[View::Calls.index()].visible.clone();
    app.rebuild(View::Calls);
    assert_eq!(app.lists[View::Calls.index()].visible, incremental);
    assert!(incremental.len() > 100 && incremental.len() < app.model.calls.len(), "{}", incremental.len());
}

/// An app over `fixture`: kept whole in memory, or as `grpcscope FILE`
/// runs it (`reread`): the lists keep summaries, whole frames and calls
/// are re-read from the file.
fn app_loaded(fixture: &str, cfg: PipelineConfig, reread: bool) -> App {
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let path = root().join("fixtures").join(fixture);
    let cap = FileCapture::open(&path).unwrap().with_key_store(cfg.tls_keys.clone());
    let msgs = loader::collect(cap, cfg.clone());
    let mut model = Model::new(fixture.to_string(), false, Decoder::new(schema, 1 << 20, None, 1 << 20));
    if reread {
        model.slim_calls = true;
        model.keep_whole = false;
        model.kept = super::kept::Kept::new(super::kept::REREAD_MEMORY);
    }
    let mut app = App::new(model);
    if reread {
        app.replayer = Some(super::replay::Replayer::spawn(super::replay::Reread { path, cfg }));
    }
    app.absorb(msgs);
    app
}

fn labels(t: &super::tree::Tree) -> Vec<String> {
    t.nodes.iter().map(|n| n.label.clone()).collect()
}

/// Selects model row `i` of view `v` and returns the detail tree, after
/// the re-read when one is needed.
fn details_of(app: &mut App, v: View, i: usize) -> super::tree::Tree {
    app.view = v;
    let l = super::app::list_of_mut(&mut app.lists, v);
    l.selected = l.visible.iter().position(|r| *r == i).unwrap();
    app.update_tree();
    if labels(&app.tree).iter().any(|l| l.contains("re-reading")) {
        assert!(app.wait_for_reread(std::time::Duration::from_secs(20)), "the re-read of row {i} answered");
    }
    app.tree.clone()
}

/// Every call and every frame of captures in the clear, through TLS and
/// with several connections shows the same details, bytes included, when
/// re-read from the file as when the whole capture was kept in memory.
#[test]
fn the_details_re_read_from_the_file_are_the_ones_kept_in_memory() {
    for (fixture, keys) in [("metadata.pcap", None), ("tls13.pcap", Some("tls13.keys")), ("reconnect.pcap", None)] {
        let cfg = PipelineConfig::new();
        if let Some(k) = keys {
            cfg.tls_keys.add_text(&std::fs::read_to_string(root().join("fixtures").join(k)).unwrap());
        }
        let mut kept = app_loaded(fixture, cfg.clone(), false);
        let mut reread = app_loaded(fixture, cfg, true);
        assert!(reread.model.calls.iter().all(|c| c.blocks.iter().all(Option::is_none)), "{fixture}: listed slim");
        assert!(reread.model.kept.used() == 0, "{fixture}: nothing whole is kept before a row is looked at");
        let calls = reread.model.calls.len();
        assert!(calls > 0 && kept.model.calls.len() == calls, "{fixture}: {calls} calls");
        for i in 0..calls {
            let (a, b) = (details_of(&mut kept, View::Calls, i), details_of(&mut reread, View::Calls, i));
            assert_eq!(labels(&a), labels(&b), "{fixture}: call row {i}");
            assert!(a.sources.iter().zip(&b.sources).all(|(x, y)| x.data == y.data), "{fixture}: call {i} bytes");
            assert!(labels(&b).iter().any(|l| l.contains("request headers")), "{fixture}: call {i} whole");
        }
        let rows = super::app::list_of(&reread.lists, View::Frames).visible.clone();
        let frames = rows.len();
        let mut whole = 0;
        for i in rows {
            let b = details_of(&mut reread, View::Frames, i);
            let a = details_of(&mut kept, View::Frames, i);
            assert_eq!(labels(&a), labels(&b), "{fixture}: frame row {i}");
            assert!(a.sources.iter().zip(&b.sources).all(|(x, y)| x.data == y.data), "{fixture}: frame {i} bytes");
            whole += usize::from(labels(&b).iter().any(|l| l.starts_with("frame header")));
        }
        assert!(whole > 10, "{fixture}: {whole} of {frames} frame rows re-read");
    }
}

/// Live without -w: the details of the calls and frames of the last
/// --window bytes are shown whole, older ones say they are no longer kept.
#[test]
fn a_live_window_keeps_the_latest_whole_and_says_what_it_let_go() {
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let cap = FileCapture::open(&root().join("fixtures/reconnect.pcap")).unwrap();
    let msgs = loader::collect(cap, PipelineConfig::new());
    let mut model = Model::new("lo".into(), true, Decoder::new(schema, 1 << 20, None, 1 << 20));
    model.slim_calls = true;
    model.kept = super::kept::Kept::new(64 << 10);
    let mut app = App::new(model);
    app.absorb(msgs);
    assert!(app.model.kept.evicted > 0 && app.model.kept.used() <= 64 << 10);
    let last = app.model.calls.len() - 1;
    let newest = labels(&details_of(&mut app, View::Calls, last));
    assert!(newest.iter().any(|l| l.contains("request headers")), "{newest:?}");
    let oldest = labels(&details_of(&mut app, View::Calls, 0));
    assert!(oldest.iter().any(|l| l.contains("no longer kept") && l.contains("-w FILE")), "{oldest:?}");
    let frames = &app.model.frames;
    let first = super::app::list_of(&app.lists, View::Frames)
        .visible
        .iter()
        .copied()
        .find(|i| matches!(frames[*i], super::model::FrameRow::Frame(_)))
        .unwrap();
    let oldest_frame = labels(&details_of(&mut app, View::Frames, first));
    assert!(oldest_frame.iter().any(|l| l.contains("no longer kept")), "{oldest_frame:?}");
}

/// Live with -w: what the window let go is re-read from the file written
/// (here the fixture stands for it), whole.
#[test]
fn a_live_window_falls_back_on_the_file_written() {
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let path = root().join("fixtures/reconnect.pcap");
    let msgs = loader::collect(FileCapture::open(&path).unwrap(), PipelineConfig::new());
    let mut model = Model::new("lo".into(), true, Decoder::new(schema, 1 << 20, None, 1 << 20));
    model.slim_calls = true;
    model.kept = super::kept::Kept::new(64 << 10);
    let mut app = App::new(model);
    app.replayer = Some(super::replay::Replayer::spawn(super::replay::Reread { path, cfg: PipelineConfig::new() }));
    app.absorb(msgs);
    assert!(app.model.kept.evicted > 0);
    let oldest = labels(&details_of(&mut app, View::Calls, 0));
    assert!(oldest.iter().any(|l| l.contains("request headers")), "{oldest:?}");
    assert!(oldest.iter().any(|l| l.starts_with("#1 ")), "its request message: {oldest:?}");
}

/// Live, the lists keep their newest rows: past the budget the oldest calls
/// and frames leave the front, the numbers go on counting, and the title
/// says how many were let go.
#[test]
fn a_live_list_lets_its_oldest_rows_go_and_keeps_counting() {
    let schema =
        Schema::load(&SchemaSources { proto_paths: vec![root().join("protos")], ..Default::default() }).unwrap();
    let msgs =
        loader::collect(FileCapture::open(&root().join("fixtures/reconnect.pcap")).unwrap(), PipelineConfig::new());
    let mut model = Model::new("lo".into(), true, Decoder::new(schema, 1 << 20, None, 1 << 20));
    model.slim_calls = true;
    model.call_budget = 2 << 10;
    model.frame_memory = 4 << 10;
    model.frame_budget = 4 << 10;
    let mut app = App::new(model);
    let mut all = 0;
    for m in msgs {
        all += usize::from(matches!(m, super::model::Msg::Call(_)));
        app.absorb([m]);
    }
    let (listed, dropped) = (app.model.calls.len(), app.model.calls_dropped as usize);
    assert!(dropped > 0 && listed + dropped == all, "{listed} listed + {dropped} let go of {all}");
    assert!(app.model.frames_dropped > 0);
    let visible = &super::app::list_of(&app.lists, View::Calls).visible;
    assert!(visible.iter().all(|i| *i < listed) && visible.len() == listed);
    let screen = text(&draw(&mut app, 160, 30)).join("\n");
    assert!(screen.contains(&format!("+ {dropped} older let go (--window")), "{screen}");
    // The first call listed keeps its number among all the calls seen.
    let first = format!("{} ", dropped + 1);
    assert!(screen.lines().any(|l| l.trim_start_matches(['│', ' ']).starts_with(&first)), "{first}: {screen}");
}
