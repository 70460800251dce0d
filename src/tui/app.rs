//! The UI's state and what keys and the mouse do to it. No drawing and no
//! terminal here, so all of it can be tested directly.

use super::details;
use super::line_edit::{self, Edit, LineEdit};
use super::model::{FrameRow, Model, Msg};
use super::replay::{Found, Replayer, Want};
use super::tree::{Link, Tree};
use crate::analysis::doctor::Finding;
use crate::analysis::stats::Stats;
use crate::filter::{FieldSet, Filter, CALL_FIELDS, CONN_FIELDS, FRAME_FIELDS};
use crate::time::{Clock, TimeFormat};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

/// The five views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// gRPC calls.
    Calls,
    /// HTTP/2 frames (and TCP moments).
    Frames,
    /// Channels and connections, with a ladder diagram.
    Conns,
    /// Statistics.
    Stats,
    /// `doctor`'s findings.
    Findings,
}

impl View {
    /// Index into per-view arrays.
    pub fn index(self) -> usize {
        match self {
            View::Calls => 0,
            View::Frames => 1,
            View::Conns => 2,
            View::Stats => 3,
            View::Findings => 4,
        }
    }

    /// This view's one of five things, in [`View::index`] order.
    pub fn pick<T>(self, [calls, frames, conns, stats, findings]: [T; 5]) -> T {
        match self {
            View::Calls => calls,
            View::Frames => frames,
            View::Conns => conns,
            View::Stats => stats,
            View::Findings => findings,
        }
    }

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Calls => "Calls",
            View::Frames => "Frames",
            View::Conns => "Connections",
            View::Stats => "Stats",
            View::Findings => "Findings",
        }
    }

    fn fields(self) -> Option<&'static FieldSet> {
        match self {
            View::Calls => Some(&CALL_FIELDS),
            View::Frames => Some(&FRAME_FIELDS),
            View::Conns => Some(&CONN_FIELDS),
            View::Stats => Some(&CALL_FIELDS),
            View::Findings => None,
        }
    }
}

/// All views in key order.
pub const VIEWS: [View; 5] = [View::Calls, View::Frames, View::Conns, View::Stats, View::Findings];

/// What the bottom line's input is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A display filter (`/`): the list keeps only what matches.
    Filter,
    /// A search (`s`, Ctrl-F): the selection moves to the next row holding the text.
    Search,
}

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The list.
    List,
    /// The detail tree.
    Tree,
    /// The bytes (or the ladder, in the connections view).
    Bytes,
    /// The explanation or HPACK panel (frames view, when shown).
    Panel,
}

/// A list's rows after filtering, and its selection.
#[derive(Debug, Default)]
pub struct ListState {
    /// Model indices of the rows shown.
    pub visible: Vec<usize>,
    /// Selected row (index into `visible`).
    pub selected: usize,
    /// First row drawn.
    pub offset: usize,
    /// Model rows examined so far.
    pub seen: usize,
    /// The active filter.
    pub filter: Option<Filter>,
}

/// Statistics of the calls a filter matches.
pub struct FilteredStats {
    /// The filter.
    pub source: String,
    /// Calls it matched (those the statistics count).
    pub matched: usize,
    /// The statistics.
    pub stats: Stats,
}

/// Where the panes were drawn last (for the mouse).
#[derive(Debug, Clone, Copy, Default)]
pub struct Areas {
    /// The list.
    pub list: Rect,
    /// The tree.
    pub tree: Rect,
    /// The bytes or ladder pane.
    pub bytes: Rect,
    /// The explanation or HPACK panel.
    pub panel: Rect,
}

/// The whole UI state.
pub struct App {
    /// The data.
    pub model: Model,
    /// Current view.
    pub view: View,
    /// Focused pane.
    pub pane: Pane,
    /// Per view.
    pub lists: [ListState; 5],
    /// `doctor`'s findings, as of [`App::findings_at`] calls.
    pub findings: Vec<Finding>,
    /// Calls the findings were made from (`None`: never made).
    pub findings_at: Option<usize>,
    /// Detail of the selected row.
    pub tree: Tree,
    tree_key: Option<(View, usize)>,
    /// Scroll of the bytes pane (rows).
    pub bytes_offset: usize,
    /// Scroll of the ladder (rows).
    pub ladder_offset: usize,
    /// The call the connections view was opened from (`C` on a call): its
    /// arrows stand out in the ladder, which opens at its first frame.
    pub ladder_call: Option<(crate::tcp::ConnId, u32)>,
    /// Frames view shows TCP SYN/FIN/RST moments too.
    pub show_tcp: bool,
    /// Keep the last row selected as rows arrive.
    pub follow: bool,
    /// Live: do not take new rows into the lists (they are kept).
    pub paused: bool,
    /// The key help is shown.
    pub help: bool,
    /// Scroll of the key help (rows).
    pub help_offset: usize,
    /// The explanation of the selected frame is shown.
    pub explain: bool,
    /// The HPACK panel is shown (frames view).
    pub hpack: bool,
    /// Scroll of the explanation or HPACK panel (rows).
    pub panel_offset: usize,
    /// The focused pane fills the screen.
    pub zoom: bool,
    /// Which node each row of the drawn tree shows (set when drawing: a
    /// long label wraps onto more rows), for the mouse.
    pub tree_rows: Vec<usize>,
    /// The filter (or search) being typed.
    pub input: Option<LineEdit>,
    /// What the line being typed is for.
    pub input_kind: InputKind,
    /// The last search (`n` and `N` repeat it).
    pub search: Option<String>,
    /// Filters applied before, oldest first (Up and Down recall them).
    pub history: Vec<String>,
    /// The Stats view's figures over the calls the filter lets through
    /// (the Calls filter, which `/` in Stats sets), when there is one.
    pub filtered_stats: Option<FilteredStats>,
    /// Why the typed filter does not parse.
    pub input_error: Option<String>,
    /// A message for the status line.
    pub status: Option<String>,
    /// Quit requested.
    pub quit: bool,
    /// Rows in a page (set when drawing).
    pub page: usize,
    /// Pane positions (set when drawing).
    pub areas: Areas,
    /// How the lists show times (`-t`, `T` cycles).
    pub clock: Clock,
    /// The row relative times count from (Ctrl-T, as Wireshark's time
    /// reference): its view, its model index and its time.
    pub time_reference: Option<(View, usize, crate::time::Timestamp)>,
    /// Re-reads the capture for the whole frames and calls the lists keep
    /// as summaries (none: a live capture without `-w`, or standard input).
    pub replayer: Option<Replayer>,
    /// The last re-read that found nothing, and why (not asked again).
    reread_failed: Option<(Want, String)>,
}

/// Why a live capture without `-w` cannot show an older row's bytes.
const NOT_KEPT: &str = "no longer kept: a live capture keeps the whole frames and calls of its last --window bytes; \
                        capture with -w FILE to re-read older ones from that file";

/// What a time format shows, for the status line.
fn time_meaning(f: TimeFormat) -> &'static str {
    match f {
        TimeFormat::Local => "local time of day",
        TimeFormat::LocalDate => "local date and time",
        TimeFormat::LocalDayOfYear => "local year/day of year and time",
        TimeFormat::Relative => "seconds since the first packet",
        TimeFormat::Delta => "seconds since the previous row",
        TimeFormat::DeltaShown => "seconds since the previous row shown",
        TimeFormat::Epoch => "seconds since the epoch",
        TimeFormat::Utc => "UTC time of day",
        TimeFormat::UtcDate => "UTC date and time",
        TimeFormat::UtcDayOfYear => "UTC year/day of year and time",
    }
}

/// The list of view `v` among the five (no index to get wrong).
pub fn list_of(lists: &[ListState; 5], v: View) -> &ListState {
    v.pick(lists.each_ref())
}

/// The list of view `v`, to scroll.
pub fn list_of_mut(lists: &mut [ListState; 5], v: View) -> &mut ListState {
    v.pick(lists.each_mut())
}

impl App {
    /// A UI over `model`.
    pub fn new(model: Model) -> Self {
        let live = model.live;
        App {
            model,
            view: View::Calls,
            pane: Pane::List,
            lists: Default::default(),
            findings: Vec::new(),
            findings_at: None,
            tree: Tree::default(),
            tree_key: None,
            bytes_offset: 0,
            ladder_offset: 0,
            ladder_call: None,
            show_tcp: false,
            follow: live,
            paused: false,
            help: false,
            help_offset: 0,
            explain: false,
            hpack: false,
            panel_offset: 0,
            zoom: false,
            tree_rows: Vec::new(),
            input: None,
            input_kind: InputKind::Filter,
            search: None,
            history: Vec::new(),
            filtered_stats: None,
            input_error: None,
            status: None,
            quit: false,
            page: 10,
            areas: Areas::default(),
            clock: Clock::new(TimeFormat::Utc, Some(crate::capture::zone::local_offset)),
            time_reference: None,
            replayer: None,
            reread_failed: None,
        }
    }

    /// Takes loader messages; returns whether anything changed.
    pub fn absorb(&mut self, msgs: impl IntoIterator<Item = Msg>) -> bool {
        let mut changed = false;
        // Live, open connections come and go: their rows are listed anew.
        let mut conns_moved = false;
        for m in msgs {
            conns_moved |= matches!(m, Msg::Open(_)) || matches!(m, Msg::Conn(_)) && !self.model.open_conns.is_empty();
            if let Some(at) = self.model.apply(m) {
                self.call_inserted(at);
            }
            changed = true;
        }
        self.model.settle();
        let (calls, frames) = self.model.trim_live();
        self.forget_front(View::Calls, calls);
        self.forget_front(View::Frames, frames);
        self.clock.origin = self.time_reference.map(|(_, _, ts)| ts).or(self.model.first_packet);
        if conns_moved && !self.paused {
            self.rebuild(View::Conns);
        }
        if changed && !self.paused {
            self.refresh();
        }
        changed
    }

    /// The first `k` model rows of view `v` are gone (live): the list's
    /// indices move down by `k`, and the selection stays on its row when
    /// that row is still there.
    fn forget_front(&mut self, v: View, k: usize) {
        if k == 0 {
            return;
        }
        let l = list_of_mut(&mut self.lists, v);
        let before = l.visible.len();
        l.visible.retain(|&i| i >= k);
        for i in &mut l.visible {
            *i -= k;
        }
        let gone = before - l.visible.len();
        l.selected = l.selected.saturating_sub(gone);
        l.offset = l.offset.saturating_sub(gone);
        l.seen = l.seen.saturating_sub(k);
        if let Some((view, i)) = self.tree_key.filter(|(view, _)| *view == v) {
            self.tree_key = i.checked_sub(k).map(|i| (view, i));
        }
        if let Some((view, i, ts)) = self.time_reference.filter(|(view, ..)| *view == v) {
            // The reference keeps its time; its row may be gone.
            self.time_reference = Some((view, i.saturating_sub(k), ts));
        }
    }

    /// Number of model rows of a view.
    fn model_len(&self, v: View) -> usize {
        match v {
            View::Calls => self.model.calls.len(),
            View::Frames => self.model.frames.len(),
            View::Conns => self.model.conn_rows(),
            View::Stats => self.shown_stats().by_method.len(),
            View::Findings => self.findings.len(),
        }
    }

    fn row_matches(&self, v: View, i: usize) -> bool {
        let filter = self.lists.get(v.index()).and_then(|l| l.filter.as_ref());
        match v {
            View::Calls => self.model.calls.get(i).is_some_and(|c| filter.is_none_or(|f| f.matches(&**c))),
            View::Frames => match self.model.frames.get(i) {
                Some(FrameRow::Frame(fr)) => filter.is_none_or(|f| f.matches(fr)),
                Some(FrameRow::Tcp { .. }) => self.show_tcp && filter.is_none(),
                Some(_) => filter.is_none(),
                None => false,
            },
            View::Conns => self.model.conn(i).is_some_and(|c| filter.is_none_or(|f| f.matches(c))),
            View::Stats | View::Findings => true,
        }
    }

    /// A call was inserted at model row `at`, before rows already listed:
    /// the rows listed after it move down one, and it is listed if it
    /// matches. Only the new call is filtered (filtering every call again
    /// for each one that ends out of start order made loading quadratic).
    fn call_inserted(&mut self, at: usize) {
        let matches = self.row_matches(View::Calls, at);
        let follow = self.follow;
        let Some(l) = self.lists.get_mut(View::Calls.index()) else { return };
        if at >= l.seen {
            return; // Not listed yet: refresh takes it with the other new rows.
        }
        l.seen += 1;
        let from = l.visible.partition_point(|r| *r < at);
        for r in l.visible.get_mut(from..).unwrap_or_default() {
            *r += 1;
        }
        if matches {
            l.visible.insert(from, at);
            // The selected row stays the same call.
            if !follow && from <= l.selected && l.visible.len() > 1 {
                l.selected += 1;
            }
        }
    }

    /// Takes new model rows into every list (filtered), keeping selections.
    pub fn refresh(&mut self) {
        if self.view == View::Findings {
            self.update_findings();
        }
        self.refresh_lists();
        if self.view == View::Stats {
            self.update_filtered_stats();
            self.refresh_whole(View::Stats);
        }
    }

    fn refresh_lists(&mut self) {
        for v in VIEWS {
            if matches!(v, View::Stats | View::Findings) {
                self.refresh_whole(v);
                continue;
            }
            let (from, to) = (self.lists.get(v.index()).map_or(0, |l| l.seen), self.model_len(v));
            let new: Vec<usize> = (from..to).filter(|&i| self.row_matches(v, i)).collect();
            if let Some(l) = self.lists.get_mut(v.index()) {
                l.visible.extend(new);
                l.seen = to;
                if self.follow {
                    l.selected = l.visible.len().saturating_sub(1);
                }
            }
        }
        self.update_tree();
    }

    /// A view whose rows are all shown (Stats, Findings): as many as there are.
    fn refresh_whole(&mut self, v: View) {
        let n = self.model_len(v);
        if let Some(l) = self.lists.get_mut(v.index()) {
            l.visible = (0..n).collect();
            l.seen = n;
            l.selected = l.selected.min(n.saturating_sub(1));
        }
    }

    /// Filters a view again from scratch.
    pub fn rebuild(&mut self, v: View) {
        let selected_row = self.selected_index(v);
        if let Some(l) = self.lists.get_mut(v.index()) {
            l.visible.clear();
            l.seen = 0;
        }
        self.refresh();
        if let (Some(row), Some(l)) = (selected_row, self.lists.get_mut(v.index())) {
            l.selected = l.visible.iter().position(|r| *r >= row).unwrap_or(l.visible.len().saturating_sub(1));
        }
        self.tree_key = None;
        self.update_tree();
    }

    /// The model index of the selected row of view `v`.
    pub fn selected_index(&self, v: View) -> Option<usize> {
        let l = self.lists.get(v.index())?;
        l.visible.get(l.selected).copied()
    }

    /// Rebuilds the detail tree when the selection changed.
    pub fn update_tree(&mut self) {
        let key = self.selected_index(self.view).map(|i| (self.view, i));
        if key == self.tree_key {
            return;
        }
        // Another connection's ladder starts at its top.
        if let (Some((View::Conns, i)), Some((View::Conns, was))) = (key, self.tree_key) {
            if i != was {
                self.ladder_offset = 0;
                self.ladder_call = None;
            }
        }
        self.tree_key = key;
        self.bytes_offset = 0;
        self.tree = match key {
            Some((View::Calls, i)) => self.call_details(i),
            Some((View::Frames, i)) => self.frame_details(i),
            Some((View::Conns, i)) => self
                .model
                .conns
                .get(i)
                .map(|c| {
                    let id = c.tcp.id;
                    let channel =
                        self.model.channel_of.get(&id).and_then(|n| self.model.channels.get(*n).map(|ch| (*n, ch)));
                    details::conn_tree(c, channel, self.model.reconnects.get(&id), self.model.followed_by(id))
                })
                .unwrap_or_default(),
            Some((View::Findings, i)) => self.findings.get(i).map(details::finding_tree).unwrap_or_default(),
            _ => Tree::default(),
        };
    }

    /// The tree of call row `i`: the whole call when the list keeps it or
    /// [`Model::kept`] has it; else a re-read is asked for.
    fn call_details(&mut self, i: usize) -> Tree {
        let Some(call) = self.model.calls.get(i).cloned() else { return Tree::default() };
        if !self.model.slim_calls {
            return details::call_tree(&call, &self.model.decoder);
        }
        let want = Want::call(&call);
        match self.fetch(want) {
            None => self
                .model
                .kept
                .call(&super::kept::call_key(&call))
                .map(|whole| details::call_tree(whole, &self.model.decoder))
                .unwrap_or_default(),
            Some(why) => details::waiting_call_tree(&call, &why),
        }
    }

    /// The tree of frame row `i`, from the whole frame kept or re-read.
    fn frame_details(&mut self, i: usize) -> Tree {
        let meta = match self.model.frames.get(i) {
            Some(FrameRow::Frame(m)) => m.clone(),
            Some(row) => return details::moment_tree(row),
            None => return Tree::default(),
        };
        match self.fetch(Want::frame(&meta)) {
            None => self
                .model
                .kept
                .frame(&(meta.conn, meta.nth))
                .map(|(f, layout)| details::frame_tree(f, layout.as_deref()))
                .unwrap_or_default(),
            Some(why) => details::waiting_frame_tree(&meta, &why),
        }
    }

    /// `None` when the whole frame or call is kept; else why not, having
    /// asked for a re-read when one can give it.
    fn fetch(&mut self, want: Want) -> Option<String> {
        let (conn, kept) = match want {
            Want::Frame { key, .. } => (key.0, self.model.kept.frame(&key).is_some()),
            Want::Call(key) => (key.0, self.model.kept.call(&key).is_some()),
        };
        if kept {
            return None;
        }
        if let Some((_, why)) = self.reread_failed.as_ref().filter(|(w, _)| *w == want) {
            return Some(why.clone());
        }
        let Some(replayer) = &mut self.replayer else { return Some(NOT_KEPT.into()) };
        let Some(opened) = self.model.opened.get(&conn) else {
            return Some("where this connection began is not known, so it cannot be re-read".into());
        };
        replayer.request(want, *opened);
        Some(super::replay::describe(&replayer.source, *opened))
    }

    /// Takes what the re-reads found; returns whether the details changed.
    pub fn take_rereads(&mut self) -> bool {
        let Some(r) = &mut self.replayer else { return false };
        let found = r.poll();
        let changed = !found.is_empty();
        for f in found {
            self.keep_found(f);
        }
        if changed {
            self.tree_key = None;
            self.update_tree();
        }
        changed
    }

    /// Waits for the re-read under way and shows what it found (tests).
    pub fn wait_for_reread(&mut self, timeout: std::time::Duration) -> bool {
        let Some(found) = self.replayer.as_mut().and_then(|r| r.wait(timeout)) else { return false };
        self.keep_found(found);
        self.tree_key = None;
        self.update_tree();
        true
    }

    fn keep_found(&mut self, found: Found) {
        match found {
            Found::Frame(key, whole) => self.model.kept.keep_frame(key, whole),
            Found::Call(key, mut whole) => {
                // The method inferred from the whole capture is the list's.
                if let Some(row) = self.model.listed_call(key) {
                    whole.inferred = row.inferred.clone();
                }
                self.model.kept.keep_call(key, std::sync::Arc::from(whole));
            }
            Found::Cancelled(_) => {}
            Found::Missing(want, why) => self.reread_failed = Some((want, why)),
        }
    }

    /// The statistics the Stats view shows: over the filtered calls when
    /// the Calls filter is set, else over every call.
    pub fn shown_stats(&self) -> &Stats {
        self.filtered_stats.as_ref().map_or(&self.model.stats, |f| &f.stats)
    }

    /// Recounts the filtered statistics when the filter or its matches changed.
    fn update_filtered_stats(&mut self) {
        let calls = list_of(&self.lists, View::Calls);
        let Some(filter) = &calls.filter else {
            self.filtered_stats = None;
            return;
        };
        let current = self.filtered_stats.as_ref().map(|f| (f.source.as_str(), f.matched));
        if current == Some((filter.source.as_str(), calls.visible.len())) {
            return;
        }
        let mut stats = Stats::default();
        for c in calls.visible.iter().filter_map(|i| self.model.calls.get(*i)) {
            stats.add_call(c);
        }
        let (source, matched) = (filter.source.clone(), calls.visible.len());
        self.filtered_stats = Some(FilteredStats { source, matched, stats });
    }

    /// Runs the doctor's rules over what was loaded, when calls came since
    /// the last run: at once when the capture is read, then each time the
    /// calls grew by a tenth (live), since the rules sort every call.
    fn update_findings(&mut self) {
        let calls = self.model.doctor.facts.calls.len();
        let due = match self.findings_at {
            None => true,
            Some(at) => calls != at && (self.model.done || calls >= at + at / 10 + 100),
        };
        if !due {
            return;
        }
        // The statistics pair the hops for both (see Model::new).
        let model = &mut self.model;
        std::mem::swap(&mut model.doctor.facts.hops, &mut model.stats.hops);
        self.findings = model.doctor.findings();
        std::mem::swap(&mut model.doctor.facts.hops, &mut model.stats.hops);
        self.findings_at = Some(calls);
        self.tree_key = None;
    }

    fn list(&mut self) -> Option<&mut ListState> {
        self.lists.get_mut(self.view.index())
    }

    fn move_list(&mut self, delta: isize) {
        if let Some(l) = self.list() {
            let n = l.visible.len();
            if n > 0 {
                l.selected = (l.selected as isize + delta).clamp(0, n as isize - 1) as usize;
            }
        }
        self.follow = false;
        self.update_tree();
    }

    fn list_edge(&mut self, last: bool) {
        if let Some(l) = self.list() {
            l.selected = if last { l.visible.len().saturating_sub(1) } else { 0 };
        }
        self.follow = last && self.model.live;
        self.update_tree();
    }

    fn move_focused(&mut self, delta: isize) {
        match self.pane {
            Pane::List => self.move_list(delta),
            Pane::Tree => self.tree.move_by(delta),
            Pane::Bytes if self.view == View::Conns => {
                self.ladder_offset = (self.ladder_offset as isize + delta).max(0) as usize
            }
            Pane::Bytes => self.bytes_offset = (self.bytes_offset as isize + delta).max(0) as usize,
            Pane::Panel => self.panel_offset = (self.panel_offset as isize + delta).max(0) as usize,
        }
    }

    /// The explanation or HPACK panel is on screen.
    pub fn panel_shown(&self) -> bool {
        self.view == View::Frames && (self.explain || self.hpack)
    }

    /// Handles a key.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        if key.code == KeyCode::Char('t') && key.modifiers.contains(KeyModifiers::CONTROL) && self.input.is_none() {
            self.toggle_time_reference();
            return;
        }
        let ctrl_f = key.code == KeyCode::Char('f') && key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_f && self.input.is_none() && !self.help {
            self.open_search();
            return;
        }
        if self.input.is_some() {
            self.on_input_key(key);
            return;
        }
        if self.help {
            // The help scrolls where the terminal is too short for it.
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => self.help_offset += 1,
                KeyCode::Up | KeyCode::Char('k') => self.help_offset = self.help_offset.saturating_sub(1),
                _ => {
                    self.help = false;
                    self.help_offset = 0;
                }
            }
            return;
        }
        self.status = None;
        let page = self.page.max(1) as isize;
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char(c @ '1'..='5') => {
                self.switch(VIEWS.get(c as usize - '1' as usize).copied().unwrap_or(View::Calls))
            }
            KeyCode::Tab => self.cycle_pane(true),
            KeyCode::BackTab => self.cycle_pane(false),
            KeyCode::Down | KeyCode::Char('j') => self.move_focused(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_focused(-1),
            KeyCode::PageDown => self.move_focused(page),
            KeyCode::PageUp => self.move_focused(-page),
            KeyCode::Home | KeyCode::Char('g') => match self.pane {
                Pane::List => self.list_edge(false),
                Pane::Tree => self.tree.select_edge(false),
                Pane::Bytes => {
                    self.bytes_offset = 0;
                    self.ladder_offset = 0;
                }
                Pane::Panel => self.panel_offset = 0,
            },
            KeyCode::End | KeyCode::Char('G') => match self.pane {
                Pane::List => self.list_edge(true),
                Pane::Tree => self.tree.select_edge(true),
                Pane::Bytes | Pane::Panel => self.move_focused(isize::MAX / 4),
            },
            KeyCode::Enter => self.enter(),
            KeyCode::Left | KeyCode::Char('h') if self.pane == Pane::Tree => self.collapse_or_up(),
            KeyCode::Right | KeyCode::Char('l') if self.pane == Pane::Tree => self.tree_expand(),
            KeyCode::Char('/') => {
                let view = if self.view == View::Stats { View::Calls } else { self.view };
                let current = self
                    .lists
                    .get(view.index())
                    .and_then(|l| l.filter.as_ref())
                    .map(|f| f.source.clone())
                    .unwrap_or_default();
                self.input = Some(LineEdit::new(&current));
                self.input_kind = InputKind::Filter;
                self.input_error = None;
            }
            KeyCode::Char('s') => self.open_search(),
            KeyCode::Char('n') => self.search_again(true),
            KeyCode::Char('N') => self.search_again(false),
            KeyCode::Esc => self.pane = Pane::List,
            KeyCode::Char('t') => {
                self.show_tcp = !self.show_tcp;
                self.rebuild(View::Frames);
                self.status =
                    Some(format!("TCP packets {} in the frames view", if self.show_tcp { "shown" } else { "hidden" }));
            }
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                self.status =
                    Some(format!("follow {}", if self.follow { "on: the newest row stays selected" } else { "off" }));
                if self.follow {
                    self.list_edge(true);
                }
            }
            KeyCode::Char(' ') | KeyCode::Char('p') => {
                self.paused = !self.paused;
                self.status =
                    Some(if self.paused { "paused: new rows are kept but not shown".into() } else { "resumed".into() });
                if !self.paused {
                    self.refresh();
                }
            }
            KeyCode::Char('e') => {
                self.explain = !self.explain;
                self.hpack = false;
                self.panel_opened(self.explain);
            }
            KeyCode::Char('H') => {
                self.hpack = !self.hpack;
                self.explain = false;
                self.panel_opened(self.hpack);
            }
            KeyCode::Char('T') => {
                self.clock.format = self.clock.format.next();
                self.status =
                    Some(format!("times: -t {} ({})", self.clock.format.name(), time_meaning(self.clock.format)));
            }
            KeyCode::Char('z') => {
                self.zoom = !self.zoom;
                self.status =
                    Some(if self.zoom { "zoomed: z again shows every pane".into() } else { "unzoomed".into() });
            }
            KeyCode::Char('F') => {
                self.follow_link(self.call_link(|c| Link::Frames { conn: c.conn, stream: c.stream_id }))
            }
            KeyCode::Char('C') => {
                let call = self.call_link(|c| Link::Frames { conn: c.conn, stream: c.stream_id });
                self.follow_link(self.current_conn().map(Link::Conn));
                if let Some(Link::Frames { conn, stream }) = call {
                    self.open_ladder_at(conn, stream);
                }
            }
            KeyCode::Char('R') => {
                let next = self.current_conn().and_then(|c| self.model.followed_by(c));
                match next {
                    Some((id, _)) => self.follow_link(Some(Link::Conn(id))),
                    None => self.status = Some("no reconnect followed this connection".into()),
                }
            }
            _ => {}
        }
    }

    /// A panel opened or closed: it starts at its top, and a closed one
    /// cannot keep the keyboard.
    fn panel_opened(&mut self, open: bool) {
        self.panel_offset = 0;
        if !open && self.pane == Pane::Panel {
            self.pane = Pane::Tree;
        }
    }

    fn on_input_key(&mut self, key: KeyEvent) {
        let Some(line) = self.input.as_mut() else { return };
        match key.code {
            KeyCode::Esc => {
                self.input = None;
                self.input_error = None;
            }
            KeyCode::Enter => {
                let text = line.text().to_string();
                match self.input_kind {
                    InputKind::Filter => self.apply_filter(&text),
                    InputKind::Search => {
                        self.input = None;
                        line_edit::remember(&mut self.history, &text);
                        self.search = (!text.trim().is_empty()).then_some(text);
                        self.search_again(true);
                    }
                }
            }
            _ => {
                if let Some(edit) = Edit::of_key(&key) {
                    line.apply(edit, &self.history);
                    self.input_error = None;
                }
            }
        }
    }

    /// The time of model row `i` of view `v`, for the lists that have one.
    pub fn row_ts(&self, v: View, i: usize) -> Option<crate::time::Timestamp> {
        match v {
            View::Calls => self.model.calls.get(i).map(|c| c.start),
            View::Frames => self.model.frames.get(i).map(FrameRow::ts),
            View::Conns => self.model.conn(i).map(|c| c.tcp.first_ts),
            View::Stats | View::Findings => None,
        }
    }

    /// Ctrl-T: the selected row becomes the time reference (relative times
    /// count from it, and it reads `*REF*`); on the reference row, clears it.
    fn toggle_time_reference(&mut self) {
        let Some(i) = self.selected_index(self.view) else { return };
        let Some(ts) = self.row_ts(self.view, i) else {
            self.status = Some(format!("the {} view has no times", self.view.title()));
            return;
        };
        if self.time_reference.is_some_and(|(v, j, _)| (v, j) == (self.view, i)) {
            self.time_reference = None;
            self.clock.origin = self.model.first_packet;
            self.status = Some("time reference cleared: relative times count from the first packet".into());
            return;
        }
        self.time_reference = Some((self.view, i, ts));
        self.clock.origin = Some(ts);
        if !matches!(self.clock.format, TimeFormat::Relative) {
            self.clock.format = TimeFormat::Relative;
        }
        self.status = Some(format!("time reference: {}; times are seconds from it (Ctrl-T on it clears)", ts.clock()));
    }

    fn open_search(&mut self) {
        self.input = Some(LineEdit::new(""));
        self.input_kind = InputKind::Search;
        self.input_error = None;
    }

    /// Moves the selection to the next (or previous) row of the current
    /// list whose text holds the search, case-insensitively, wrapping
    /// around the end as less and vim do.
    pub fn search_again(&mut self, forward: bool) {
        let Some(needle) = self.search.as_ref().map(|s| s.to_lowercase()) else {
            self.status = Some("no search yet: s (or Ctrl-F) starts one".into());
            return;
        };
        let view = self.view;
        let l = list_of(&self.lists, view);
        let n = l.visible.len();
        let found = (1..=n).find_map(|step| {
            let at = if forward { (l.selected + step) % n } else { (l.selected + n * 2 - step) % n };
            let row = *l.visible.get(at)?;
            self.row_text(view, row).to_lowercase().contains(&needle).then_some((at, step))
        });
        match found {
            Some((at, step)) => {
                let wrapped = if forward { l.selected + step >= n } else { step > l.selected };
                if let Some(l) = self.list() {
                    l.selected = at;
                }
                self.follow = false;
                self.update_tree();
                let how = if wrapped { " (wrapped around)" } else { "" };
                self.status = Some(format!("\"{}\": row {} of {n}{how}; n next, N previous", needle, at + 1));
            }
            None => self.status = Some(format!("\"{needle}\" is in no row of this list")),
        }
    }

    /// A row's text as the list shows it, for searching.
    fn row_text(&self, v: View, i: usize) -> String {
        use crate::present::line::{CallLine, ConnLine};
        match v {
            View::Calls => self.model.calls.get(i).map_or(String::new(), |c| {
                let l = CallLine::new(c);
                format!(
                    "{} {} {}/{} {} {} {}",
                    self.model.call_number(i),
                    l.start.clock(),
                    l.conn,
                    l.stream_id,
                    l.method,
                    l.status,
                    l.duration()
                )
            }),
            View::Frames => match self.model.frames.get(i) {
                Some(FrameRow::Frame(f)) => {
                    let l = f.line();
                    format!(
                        "{} {} {} {} {} {} {}",
                        l.packet_text(),
                        l.ts.clock(),
                        l.arrow(),
                        l.stream(),
                        l.kind,
                        l.flags,
                        l.summary
                    )
                }
                Some(FrameRow::Tcp { flags, .. }) => format!("TCP {}", flags.tcpdump()),
                Some(FrameRow::Preface { .. }) => "PREFACE client connection preface".into(),
                Some(FrameRow::Lost { bytes, .. }) => format!("(gap) {bytes} bytes never captured"),
                None => String::new(),
            },
            View::Conns => self.model.conn(i).map_or(String::new(), |c| {
                let l = ConnLine::new(c);
                format!("{} {} {} {} {}", l.id, l.client, l.server, l.protocol, l.end)
            }),
            View::Stats => self.shown_stats().by_method.keys().nth(i).cloned().unwrap_or_default(),
            View::Findings => self
                .findings
                .get(i)
                .map_or(String::new(), |f| format!("{} {} {}", f.severity.label(), f.rule.name(), f.title)),
        }
    }

    /// Applies `text` as the current view's filter (empty clears it). A bad
    /// expression keeps the input open with the error under it.
    pub fn apply_filter(&mut self, text: &str) {
        let view = if self.view == View::Stats { View::Calls } else { self.view };
        let Some(fields) = view.fields() else {
            self.input = None;
            self.status = Some(format!("the {} view has no filter: doctor --filter does", view.title()));
            return;
        };
        let filter = if text.trim().is_empty() {
            None
        } else {
            match Filter::parse(text, fields) {
                Ok(f) => Some(f),
                Err(e) => {
                    self.input_error = Some(e.to_string());
                    return;
                }
            }
        };
        if let Some(l) = self.lists.get_mut(view.index()) {
            l.filter = filter;
            l.selected = 0;
        }
        line_edit::remember(&mut self.history, text);
        self.input = None;
        self.input_error = None;
        self.rebuild(view);
        if self.view == View::Stats {
            self.update_filtered_stats();
            self.refresh_whole(View::Stats);
        }
    }

    fn switch(&mut self, v: View) {
        self.view = v;
        if matches!(v, View::Findings | View::Stats) {
            self.refresh();
        }
        self.pane = Pane::List;
        self.tree_key = None;
        self.update_tree();
    }

    fn cycle_pane(&mut self, forward: bool) {
        let order: &[Pane] = if self.panel_shown() {
            &[Pane::List, Pane::Tree, Pane::Panel, Pane::Bytes]
        } else {
            &[Pane::List, Pane::Tree, Pane::Bytes]
        };
        let i = order.iter().position(|p| *p == self.pane).unwrap_or(0);
        let n = order.len();
        self.pane = order.get(if forward { (i + 1) % n } else { (i + n - 1) % n }).copied().unwrap_or(Pane::List);
    }

    fn enter(&mut self) {
        match self.pane {
            Pane::List => self.pane = Pane::Tree,
            Pane::Tree => {
                let node = self.tree.selected_node().map(|n| (n.children.is_empty(), n.link));
                match node {
                    Some((true, Some(link))) => self.follow_link(Some(link)),
                    _ => self.tree.toggle(),
                }
            }
            Pane::Bytes | Pane::Panel => {}
        }
    }

    fn collapse_or_up(&mut self) {
        let expanded = self.tree.selected_node().is_some_and(|n| n.expanded && !n.children.is_empty());
        if expanded {
            self.tree.toggle();
        } else {
            self.tree.move_by(-1);
        }
    }

    fn tree_expand(&mut self) {
        let collapsed = self.tree.selected_node().is_some_and(|n| !n.expanded && !n.children.is_empty());
        if collapsed {
            self.tree.toggle();
        }
    }

    fn call_link(&self, f: impl Fn(&crate::grpc::Call) -> Link) -> Option<Link> {
        match self.view {
            View::Calls => self.selected_index(View::Calls).and_then(|i| self.model.calls.get(i)).map(|c| f(c)),
            _ => None,
        }
    }

    /// The connection of the selected row, whatever the view.
    fn current_conn(&self) -> Option<u64> {
        let i = self.selected_index(self.view)?;
        match self.view {
            View::Calls => self.model.calls.get(i).map(|c| c.conn),
            View::Frames => self.model.frames.get(i).map(|f| f.conn()),
            View::Conns => self.model.conn(i).map(|c| c.tcp.id),
            View::Stats => None,
            View::Findings => self.findings.get(i).and_then(|f| f.evidence.conns.first().copied()),
        }
    }

    /// Scrolls the ladder to the first frame of `stream` on `conn` and
    /// marks that call's arrows.
    fn open_ladder_at(&mut self, conn: crate::tcp::ConnId, stream: u32) {
        let first = self
            .model
            .frames
            .iter()
            .filter(|r| r.conn() == conn)
            .position(|r| matches!(r, FrameRow::Frame(f) if f.header.stream_id == stream));
        self.ladder_offset = first.map_or(0, |i| i.saturating_sub(1));
        self.ladder_call = Some((conn, stream));
        self.status = Some(format!("connection {conn}; the ladder opens at stream {stream}, its arrows marked ▶"));
    }

    /// Goes where a link points.
    pub fn follow_link(&mut self, link: Option<Link>) {
        match link {
            Some(Link::Frames { conn, stream }) => {
                self.view = View::Frames;
                self.apply_filter(&format!("conn == {conn} && stream == {stream}"));
                self.status = Some(format!("frames of conn {conn} stream {stream} (/ to change the filter)"));
            }
            Some(Link::Call { conn, stream }) => {
                self.view = View::Calls;
                self.apply_filter(&format!("conn == {conn} && stream == {stream}"));
                self.status = Some(format!("call on conn {conn} stream {stream} (/ to change the filter)"));
            }
            Some(Link::CallsOf(conn)) => {
                self.view = View::Calls;
                self.apply_filter(&format!("conn == {conn}"));
                self.status = Some(format!("calls of conn {conn} (/ to change the filter)"));
            }
            Some(Link::Conn(id)) => {
                self.view = View::Conns;
                if let Some(l) = self.lists.get_mut(View::Conns.index()) {
                    l.filter = None;
                }
                self.rebuild(View::Conns);
                let pos = (0..self.model.conn_rows()).find(|i| self.model.conn(*i).is_some_and(|c| c.tcp.id == id));
                if let (Some(pos), Some(l)) = (pos, self.lists.get_mut(View::Conns.index())) {
                    l.selected = l.visible.iter().position(|r| *r == pos).unwrap_or(0);
                }
                self.tree_key = None;
                self.update_tree();
                self.status = Some(format!("connection {id}"));
            }
            None => self.status = Some("nothing to follow from here".into()),
        }
        self.pane = Pane::List;
    }

    /// Handles a mouse event.
    pub fn on_mouse(&mut self, ev: MouseEvent) {
        let at = Position::new(ev.column, ev.row);
        let pane = if self.areas.list.contains(at) {
            Pane::List
        } else if self.areas.tree.contains(at) {
            Pane::Tree
        } else if self.areas.bytes.contains(at) {
            Pane::Bytes
        } else if self.areas.panel.contains(at) {
            Pane::Panel
        } else {
            return;
        };
        match ev.kind {
            MouseEventKind::ScrollDown => {
                self.pane = pane;
                self.move_focused(3);
            }
            MouseEventKind::ScrollUp => {
                self.pane = pane;
                self.move_focused(-3);
            }
            MouseEventKind::Down(_) => {
                self.pane = pane;
                let area = match pane {
                    Pane::List => self.areas.list,
                    Pane::Tree => self.areas.tree,
                    Pane::Bytes | Pane::Panel => return,
                };
                // Row 0 is the border, row 1 the header (lists only).
                let header = if pane == Pane::List { 2 } else { 1 };
                let row = ev.row.saturating_sub(area.y + header) as usize;
                match pane {
                    Pane::List => {
                        if let Some(l) = self.list() {
                            let target = l.offset + row;
                            if target < l.visible.len() {
                                l.selected = target;
                            }
                        }
                        self.follow = false;
                        self.update_tree();
                    }
                    _ => {
                        // A wrapped label takes several rows: the drawing says whose each is.
                        if let Some(target) = self.tree_rows.get(row).copied() {
                            self.tree.selected = target;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
