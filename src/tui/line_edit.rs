//! The filter bar's line editor: the readline keys people's fingers know
//! (Ctrl-A/E, Ctrl-U/K/W, arrows, Home/End, Delete) and a history recalled
//! with Up and Down. Keys become [`Edit`] actions first ([`Edit::of_key`]);
//! the editor applies them and never looks at the terminal.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Filters remembered for Up/Down (the oldest go first).
pub const MAX_HISTORY: usize = 100;

/// What a key does to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Type a character at the cursor.
    Insert(char),
    /// Delete the character before the cursor.
    Backspace,
    /// Delete the character under the cursor.
    Delete,
    /// Cursor one character left.
    Left,
    /// Cursor one character right.
    Right,
    /// Cursor to the start (Home, Ctrl-A).
    Start,
    /// Cursor to the end (End, Ctrl-E).
    End,
    /// Delete from the start to the cursor (Ctrl-U).
    KillToStart,
    /// Delete from the cursor to the end (Ctrl-K).
    KillToEnd,
    /// Delete the word before the cursor (Ctrl-W).
    KillWord,
    /// The previous filter from the history (Up, Ctrl-P).
    Older,
    /// The next filter from the history, then the line being typed (Down, Ctrl-N).
    Newer,
}

impl Edit {
    /// The edit a key means, if any (Enter and Esc are the bar's, not the line's).
    pub fn of_key(key: &KeyEvent) -> Option<Edit> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        Some(match key.code {
            KeyCode::Char('a') if ctrl => Edit::Start,
            KeyCode::Char('e') if ctrl => Edit::End,
            KeyCode::Char('u') if ctrl => Edit::KillToStart,
            KeyCode::Char('k') if ctrl => Edit::KillToEnd,
            KeyCode::Char('w') if ctrl => Edit::KillWord,
            KeyCode::Char('b') if ctrl => Edit::Left,
            KeyCode::Char('f') if ctrl => Edit::Right,
            KeyCode::Char('d') if ctrl => Edit::Delete,
            KeyCode::Char('h') if ctrl => Edit::Backspace,
            KeyCode::Char('p') if ctrl => Edit::Older,
            KeyCode::Char('n') if ctrl => Edit::Newer,
            // Other control chords type nothing (Ctrl-U once typed a "u").
            KeyCode::Char(_) if ctrl || key.modifiers.contains(KeyModifiers::ALT) => return None,
            KeyCode::Char(c) if !c.is_control() => Edit::Insert(c),
            KeyCode::Backspace => Edit::Backspace,
            KeyCode::Delete => Edit::Delete,
            KeyCode::Left => Edit::Left,
            KeyCode::Right => Edit::Right,
            KeyCode::Home => Edit::Start,
            KeyCode::End => Edit::End,
            KeyCode::Up => Edit::Older,
            KeyCode::Down => Edit::Newer,
            _ => return None,
        })
    }
}

/// A line being edited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineEdit {
    text: String,
    /// Byte offset of the cursor (always at a character boundary).
    cursor: usize,
    /// While browsing the history: the entry shown, and the line typed before.
    recall: Option<(usize, String)>,
}

impl LineEdit {
    /// A line holding `text`, the cursor at its end.
    pub fn new(text: &str) -> Self {
        LineEdit { text: text.to_string(), cursor: text.len(), recall: None }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text before and after the cursor.
    pub fn split(&self) -> (&str, &str) {
        self.text.split_at(self.cursor)
    }

    /// Applies `edit`; `history` is the remembered filters, oldest first.
    pub fn apply(&mut self, edit: Edit, history: &[String]) {
        match edit {
            Edit::Insert(c) => {
                self.text.insert(self.cursor, c);
                self.cursor += c.len_utf8();
            }
            Edit::Backspace => {
                if let Some(start) = self.before(self.cursor) {
                    self.text.replace_range(start..self.cursor, "");
                    self.cursor = start;
                }
            }
            Edit::Delete => {
                if let Some(end) = self.after(self.cursor) {
                    self.text.replace_range(self.cursor..end, "");
                }
            }
            Edit::Left => self.cursor = self.before(self.cursor).unwrap_or(0),
            Edit::Right => self.cursor = self.after(self.cursor).unwrap_or(self.text.len()),
            Edit::Start => self.cursor = 0,
            Edit::End => self.cursor = self.text.len(),
            Edit::KillToStart => {
                self.text.replace_range(..self.cursor, "");
                self.cursor = 0;
            }
            Edit::KillToEnd => self.text.truncate(self.cursor),
            Edit::KillWord => {
                let start = self.word_start();
                self.text.replace_range(start..self.cursor, "");
                self.cursor = start;
            }
            Edit::Older => self.recall_older(history),
            Edit::Newer => self.recall_newer(history),
        }
    }

    fn before(&self, at: usize) -> Option<usize> {
        self.text.get(..at)?.char_indices().next_back().map(|(i, _)| i)
    }

    fn after(&self, at: usize) -> Option<usize> {
        self.text.get(at..)?.chars().next().map(|c| at + c.len_utf8())
    }

    /// Where the word before the cursor starts (spaces before it go too).
    fn word_start(&self) -> usize {
        let head = self.text.get(..self.cursor).unwrap_or_default();
        let trimmed = head.trim_end();
        trimmed.rfind(char::is_whitespace).map_or(0, |i| i + 1)
    }

    fn recall_older(&mut self, history: &[String]) {
        let older = match &self.recall {
            Some((i, _)) => i.checked_sub(1),
            None => history.len().checked_sub(1),
        };
        let Some(at) = older else { return };
        if self.recall.is_none() {
            self.recall = Some((at, self.text.clone()));
        }
        self.show(at, history);
    }

    fn recall_newer(&mut self, history: &[String]) {
        let Some((i, typed)) = self.recall.clone() else { return };
        if i + 1 < history.len() {
            self.show(i + 1, history);
        } else {
            self.text = typed;
            self.cursor = self.text.len();
            self.recall = None;
        }
    }

    fn show(&mut self, at: usize, history: &[String]) {
        if let Some(entry) = history.get(at) {
            self.text.clone_from(entry);
            self.cursor = self.text.len();
            if let Some(r) = &mut self.recall {
                r.0 = at;
            }
        }
    }
}

/// Remembers `filter` as the newest history entry (once; blanks are not kept).
pub fn remember(history: &mut Vec<String>, filter: &str) {
    let filter = filter.trim();
    if filter.is_empty() {
        return;
    }
    history.retain(|h| h != filter);
    history.push(filter.to_string());
    if history.len() > MAX_HISTORY {
        history.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str, edits: &[Edit]) -> LineEdit {
        let mut l = LineEdit::new(text);
        for e in edits {
            l.apply(*e, &[]);
        }
        l
    }

    #[test]
    fn readline_keys_edit_at_the_cursor() {
        use Edit::*;
        let l = typed("status == OK", &[Start, Insert('!'), End, Backspace, Backspace, Insert('X')]);
        assert_eq!(l.text(), "!status == X");
        let l = typed("method ~ Get and status != OK", &[KillWord, KillWord, KillWord]);
        assert_eq!(l.text(), "method ~ Get and ");
        let l = typed("a b", &[Left, Left, KillToStart]);
        assert_eq!((l.text(), l.split().0), (" b", ""));
        let l = typed("a b", &[Start, Right, KillToEnd]);
        assert_eq!(l.text(), "a");
        let l = typed("é€x", &[Left, Left, Delete, Backspace]);
        assert_eq!(l.text(), "x", "the cursor moves by characters, not bytes");
    }

    #[test]
    fn control_chords_type_nothing_and_map_to_their_edits() {
        let key = |c, m| KeyEvent::new(KeyCode::Char(c), m);
        assert_eq!(Edit::of_key(&key('u', KeyModifiers::CONTROL)), Some(Edit::KillToStart));
        assert_eq!(Edit::of_key(&key('x', KeyModifiers::CONTROL)), None);
        assert_eq!(Edit::of_key(&key('u', KeyModifiers::NONE)), Some(Edit::Insert('u')));
        assert_eq!(Edit::of_key(&KeyEvent::new(KeyCode::Up, KeyModifiers::NONE)), Some(Edit::Older));
    }

    #[test]
    fn history_is_recalled_newest_first_and_down_returns_to_what_was_typed() {
        let mut history = Vec::new();
        for f in ["status != OK", "conn == 2", "status != OK", "  "] {
            remember(&mut history, f);
        }
        assert_eq!(history, ["conn == 2", "status != OK"], "once each, newest last, no blanks");
        let mut l = LineEdit::new("meth");
        l.apply(Edit::Older, &history);
        assert_eq!(l.text(), "status != OK");
        l.apply(Edit::Older, &history);
        l.apply(Edit::Older, &history);
        assert_eq!(l.text(), "conn == 2", "the oldest stays");
        l.apply(Edit::Newer, &history);
        assert_eq!(l.text(), "status != OK");
        l.apply(Edit::Newer, &history);
        assert_eq!(l.text(), "meth");
        l.apply(Edit::Newer, &history);
        assert_eq!(l.text(), "meth");
        let mut empty = LineEdit::new("x");
        empty.apply(Edit::Older, &[]);
        assert_eq!(empty.text(), "x");
    }

    #[test]
    fn history_is_bounded() {
        let mut history = Vec::new();
        for i in 0..=MAX_HISTORY {
            remember(&mut history, &format!("conn == {i}"));
        }
        assert_eq!(history.len(), MAX_HISTORY);
        assert_eq!(history[0], "conn == 1");
    }
}
