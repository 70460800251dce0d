//! The HPACK panel (`H` in the frames view): both directions' dynamic
//! tables as they stand after the selected frame, rebuilt entry by entry
//! from the decoded header blocks (RFC 7541 §4): each field sent with
//! incremental indexing goes in at index 62, a size update sets the
//! maximum, the oldest entries are evicted past it. Rebuilt from decoded
//! fields rather than by decoding the bytes again, so that redacted values
//! stay redacted here too.

use super::model::FrameRow;
use super::rows::TableOps;
use crate::tcp::{ConnId, Dir};
use std::collections::VecDeque;

/// RFC 7541 §4.1: an entry's size is its name and value plus 32.
const ENTRY_OVERHEAD: usize = 32;

/// The table's size before any size update (SETTINGS_HEADER_TABLE_SIZE's default).
const DEFAULT_MAX: usize = 4096;

/// One direction's table, replayed.
struct Table {
    entries: VecDeque<(String, String, usize)>,
    size: usize,
    max: usize,
    /// Entries may exist that the capture never showed.
    incomplete: bool,
    /// What the last block did: (inserted, evicted).
    last: Option<(usize, usize)>,
}

impl Table {
    fn new(complete: bool) -> Table {
        Table { entries: VecDeque::new(), size: 0, max: DEFAULT_MAX, incomplete: !complete, last: None }
    }

    fn evict_to(&mut self, max: usize) -> usize {
        let mut evicted = 0;
        while self.size > max {
            let Some((_, _, s)) = self.entries.pop_back() else { break };
            self.size -= s;
            evicted += 1;
        }
        evicted
    }

    fn apply(&mut self, ops: Option<&TableOps>) {
        let (mut inserted, mut evicted) = (0, 0);
        let Some(ops) = ops else {
            self.last = Some((0, 0));
            return;
        };
        for max in &ops.size_updates {
            self.max = *max;
            evicted += self.evict_to(self.max);
        }
        self.incomplete |= ops.unknown;
        for (name, value) in &ops.inserted {
            let (name, value) = (name.clone(), value.clone());
            let size = name.len() + value.len() + ENTRY_OVERHEAD;
            // §4.4: evict first; an entry larger than the table empties it and is not added.
            evicted += self.evict_to(self.max.saturating_sub(size));
            if size <= self.max {
                self.entries.push_front((name, value, size));
                self.size += size;
                inserted += 1;
            }
        }
        self.last = Some((inserted, evicted));
    }

    fn describe(&self, who: &str, out: &mut String) {
        out.push_str(&format!(
            "{who}: {} entries, {} of {} bytes{}\n",
            self.entries.len(),
            self.size,
            self.max,
            if self.incomplete { " (entries made before the capture or in a gap are unknown)" } else { "" }
        ));
        if let Some((i, e)) = self.last {
            out.push_str(&format!("  its last header block inserted {i} and evicted {e}\n"));
        }
        for (k, (name, value, size)) in self.entries.iter().enumerate() {
            out.push_str(&format!("  [{}] {name}: {value} ({size} bytes)\n", 62 + k));
        }
    }
}

/// The text of the panel for the frame at `selected` in `rows`.
pub fn tables_at(rows: &[FrameRow], selected: usize) -> String {
    let Some(conn) = rows.get(selected).map(FrameRow::conn) else {
        return "Select a frame.".into();
    };
    let upto = rows.get(..=selected).unwrap_or(rows);
    let mine = || upto.iter().filter(move |r| r.conn() == conn);
    let complete = mine().any(|r| matches!(r, FrameRow::Preface { .. }));
    let mut tables = [Table::new(complete), Table::new(complete)];
    for row in mine() {
        match row {
            FrameRow::Frame(f) if f.has_block() => {
                if let Some(t) = tables.get_mut(f.dir.index()) {
                    t.apply(f.table_ops.as_deref());
                }
            }
            FrameRow::Lost { dir, .. } => {
                if let Some(t) = tables.get_mut(dir.index()) {
                    t.incomplete = true;
                }
            }
            _ => {}
        }
    }
    heading(conn, &tables)
}

fn heading(conn: ConnId, tables: &[Table; 2]) -> String {
    let mut out = format!("HPACK dynamic tables of connection {conn} after this frame (RFC 7541 §2.3.2, §4)\n");
    let [to_server, to_client] = tables;
    to_server.describe(&format!("{} (client's encoder)", dir_name(Dir::ToServer)), &mut out);
    to_client.describe(&format!("{} (server's encoder)", dir_name(Dir::ToClient)), &mut out);
    out
}

fn dir_name(d: Dir) -> &'static str {
    match d {
        Dir::ToServer => "C->S",
        Dir::ToClient => "S->C",
    }
}
