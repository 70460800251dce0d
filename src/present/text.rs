//! Small helpers for human-readable output.

/// Bytes as people read them: `812 B`, `12.4 kB`, `3.1 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        v /= 1000.0;
        unit = u;
        if v < 1000.0 {
            break;
        }
    }
    format!("{v:.1} {unit}")
}

/// A value or `-` when absent.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Text from a capture made safe for a terminal: every control character
/// (C0, DEL, C1) is escaped (`\n`, `\r`, `\t`, `\x1b`, `\u{9b}`), so a
/// header value can neither move the cursor nor forge a row. The one
/// function every text printer uses; JSON needs none (it escapes).
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Cuts `s` to at most `width` characters, marking the cut with `…`.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts `s` to at most `width` characters from the left, marking the cut
/// with `…`: the end of a method name (`…Reflection/ServerReflectionInfo`)
/// says more than its package.
pub fn left_truncate(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n + 1 - width.max(1)).collect();
    format!("…{tail}")
}

/// `text` with control characters escaped ([`clean`]), split into lines of
/// at most `width` characters at spaces (a longer word gets a line of its own).
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in clean(text).split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The name a unit enum serializes to (`none`, `header`, `http_status`...):
/// the outputs that are not JSON name variants as the JSON does.
pub fn serde_name<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_truncation() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(12_400), "12.4 kB");
        assert_eq!(human_bytes(3_100_000), "3.1 MB");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(left_truncate("/grpc.reflection.v1.Svc/Info", 12), "…v1.Svc/Info");
        assert_eq!(left_truncate("/a.B/C", 12), "/a.B/C");
        assert_eq!(left_truncate("/a.B/C", 0), "…");
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_not_copied() {
        assert_eq!(clean("/a\nb\x1b[2J\x07\0\r\t\u{7f}\u{9b}é"), "/a\\nb\\x1b[2J\\x07\\x00\\r\\t\\x7f\\u{9b}é");
        assert!(matches!(clean("/demo.Svc/Get"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn words_wrap_at_the_width_and_control_characters_are_escaped() {
        let lines = super::wrap_words("one two three\x1b[2J four", 9);
        assert_eq!(lines, ["one two", "three\\x1b[2J", "four"]);
        assert!(super::wrap_words("  ", 10).is_empty());
    }
}
