//! The detail pane: a tree of labelled nodes, each optionally pointing at
//! bytes in one of the tree's byte sources, so that selecting a node
//! highlights its bytes in the bytes pane.

use bytes::Bytes;
use std::ops::Range;

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Plain.
    Plain,
    /// A heading.
    Heading,
    /// Success.
    Good,
    /// An application error.
    AppError,
    /// A transport error or a protocol violation.
    Bad,
    /// Secondary information.
    Dim,
}

/// Where a node leads (Enter on it, or a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The frames of a stream.
    Frames {
        /// Connection.
        conn: u64,
        /// Stream.
        stream: u32,
    },
    /// A connection.
    Conn(u64),
    /// The calls of a connection.
    CallsOf(u64),
    /// One call.
    Call {
        /// Connection.
        conn: u64,
        /// Stream.
        stream: u32,
    },
}

/// One node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its text.
    pub label: String,
    /// How it looks.
    pub tone: Tone,
    /// Children (indices into the arena).
    pub children: Vec<usize>,
    /// Shown expanded.
    pub expanded: bool,
    /// Its bytes: (source index, range).
    pub bytes: Option<(usize, Range<usize>)>,
    /// Where it leads.
    pub link: Option<Link>,
}

/// A byte source of the tree (a frame, a header block, a message).
#[derive(Debug, Clone)]
pub struct Source {
    /// Title of the bytes pane when this source is shown.
    pub title: String,
    /// The bytes.
    pub data: Bytes,
    /// The captured bytes `data` was decoded from, when a layer transformed
    /// them (TLS records, decrypted): shown beside it, the selection mapped.
    pub captured: Vec<CapturedPart>,
}

/// Captured bytes that carried part of a source: one TLS record.
#[derive(Debug, Clone)]
pub struct CapturedPart {
    /// Its title (which record, which packets).
    pub title: String,
    /// The bytes as captured.
    pub data: Bytes,
    /// The part of the source's bytes it carried.
    pub carries: Range<usize>,
    /// Where the first of those sits in `data`.
    pub at: usize,
}

impl CapturedPart {
    /// The bytes of `data` that carried `range` of the source.
    pub fn mapped(&self, range: &Range<usize>) -> Range<usize> {
        let (start, end) = (range.start.max(self.carries.start), range.end.min(self.carries.end));
        if start >= end {
            return 0..0;
        }
        self.at + (start - self.carries.start)..self.at + (end - self.carries.start)
    }
}

impl Source {
    /// The captured part to show beside `range`: the one carrying its
    /// first byte, else the first.
    pub fn captured_for(&self, range: &Range<usize>) -> Option<&CapturedPart> {
        self.captured.iter().find(|c| c.carries.contains(&range.start)).or_else(|| self.captured.first())
    }
}

/// A tree with a selection.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// All nodes.
    pub nodes: Vec<Node>,
    /// Top-level nodes.
    pub roots: Vec<usize>,
    /// Byte sources.
    pub sources: Vec<Source>,
    /// Selected row among the visible ones.
    pub selected: usize,
    /// First visible row drawn.
    pub offset: usize,
}

impl Tree {
    /// Adds a byte source; returns its index.
    pub fn source(&mut self, title: impl Into<String>, data: Bytes) -> usize {
        self.sources.push(Source { title: title.into(), data, captured: Vec::new() });
        self.sources.len() - 1
    }

    /// Adds the captured bytes that carried part of source `src`.
    pub fn captured(&mut self, src: usize, part: CapturedPart) {
        if let Some(s) = self.sources.get_mut(src) {
            s.captured.push(part);
        }
    }

    /// Adds a node under `parent` (or at the top); returns its index.
    pub fn add(
        &mut self,
        parent: Option<usize>,
        label: impl Into<String>,
        tone: Tone,
        bytes: Option<(usize, Range<usize>)>,
    ) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node { label: label.into(), tone, children: Vec::new(), expanded: false, bytes, link: None });
        match parent.and_then(|p| self.nodes.get_mut(p)) {
            Some(p) => p.children.push(id),
            None => self.roots.push(id),
        }
        id
    }

    /// Sets a node's link.
    pub fn link(&mut self, id: usize, link: Link) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.link = Some(link);
        }
    }

    /// Expands a node.
    pub fn expand(&mut self, id: usize) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.expanded = true;
        }
    }

    /// The visible rows: (node, depth), depth first.
    pub fn visible(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut stack: Vec<(usize, usize)> = self.roots.iter().rev().map(|r| (*r, 0)).collect();
        while let Some((id, depth)) = stack.pop() {
            out.push((id, depth));
            if let Some(n) = self.nodes.get(id) {
                if n.expanded {
                    stack.extend(n.children.iter().rev().map(|c| (*c, depth + 1)));
                }
            }
        }
        out
    }

    /// The selected node.
    pub fn selected_node(&self) -> Option<&Node> {
        self.visible().get(self.selected).and_then(|(id, _)| self.nodes.get(*id))
    }

    /// Expands or collapses the selected node.
    pub fn toggle(&mut self) {
        if let Some((id, _)) = self.visible().get(self.selected).copied() {
            if let Some(n) = self.nodes.get_mut(id) {
                if !n.children.is_empty() {
                    n.expanded = !n.expanded;
                }
            }
        }
    }

    /// Moves the selection by `delta` rows.
    pub fn move_by(&mut self, delta: isize) {
        let n = self.visible().len();
        if n == 0 {
            return;
        }
        self.selected = (self.selected as isize + delta).clamp(0, n as isize - 1) as usize;
    }

    /// Selects the first or last row.
    pub fn select_edge(&mut self, last: bool) {
        self.selected = if last { self.visible().len().saturating_sub(1) } else { 0 };
    }

    /// The bytes to highlight: the selected node's, or its nearest ancestor's.
    pub fn highlight(&self) -> Option<(&Source, Range<usize>)> {
        let visible = self.visible();
        let (id, _) = visible.get(self.selected)?;
        let mut cur = Some(*id);
        while let Some(c) = cur {
            if let Some((src, r)) = self.nodes.get(c).and_then(|n| n.bytes.clone()) {
                return self.sources.get(src).map(|s| (s, r));
            }
            cur = self.parent(c);
        }
        // Nothing of its own to point at: show the first bytes, unhighlighted.
        self.sources.first().map(|s| (s, 0..0))
    }

    fn parent(&self, id: usize) -> Option<usize> {
        self.nodes.iter().position(|n| n.children.contains(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_expansion_and_highlight() {
        let mut t = Tree::default();
        let src = t.source("frame", Bytes::from_static(b"0123456789"));
        let root = t.add(None, "frame", Tone::Heading, Some((src, 0..10)));
        let a = t.add(Some(root), "length", Tone::Plain, Some((src, 0..3)));
        t.add(Some(root), "no bytes of its own", Tone::Plain, None);
        assert_eq!(t.visible().len(), 1);
        t.toggle();
        assert_eq!(t.visible(), vec![(root, 0), (a, 1), (2, 1)]);
        t.move_by(1);
        assert_eq!(t.highlight().unwrap().1, 0..3);
        t.move_by(1);
        assert_eq!(t.highlight().unwrap().1, 0..10, "falls back to the parent's bytes");
        t.move_by(5);
        assert_eq!(t.selected, 2);
        t.select_edge(false);
        assert_eq!(t.selected, 0);
    }
}
