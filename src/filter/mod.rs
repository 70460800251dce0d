//! The filter language shared by `--filter` on every command and the TUI's
//! filter bar:
//!
//! ```text
//! status != OK && origin == transport
//! method ~ "Cart" || duration > 100ms
//! conn == 3 and not complete
//! header["x-request-id"] == "abc"
//! ```
//!
//! Operators: `==` `!=` (strings compare case-insensitively), `~` `!~`
//! (regular expression), `<` `<=` `>` `>=` (numbers and durations such as
//! `250us`, `100ms`, `1.5s`), `&&`/`and`, `||`/`or`, `!`/`not`, parentheses.
//! A bare word after an operator is a string (`status == NOT_FOUND`); a bare
//! field is true when it is present, non-zero and not false. Field names are
//! checked when the expression is parsed, and every error points at the
//! character it is about.

mod fields;

use regex::Regex;
use std::fmt;

pub use fields::{header_value, origin_name, FieldSet, FrameFacts, Record, CALL_FIELDS, CONN_FIELDS, FRAME_FIELDS};

/// A value a field can have.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Absent (no status yet, a header not sent...).
    Null,
    /// True or false.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Str(String),
    /// A duration in nanoseconds.
    Dur(i64),
}

/// A parse error: what is wrong and at which character (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// The expression.
    pub input: String,
    /// Character offset of the problem.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FilterError {
    /// `message at column N`, then the expression with a caret under the spot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} at column {}", self.message, self.at + 1)?;
        writeln!(f, "  {}", self.input)?;
        write!(f, "  {}^", " ".repeat(self.input.chars().take(self.at).count()))
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Dur(i64),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let err = |at: usize, m: &str| FilterError { input: input.to_string(), at, message: m.to_string() };
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let peek = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' | '\n' => {
                i += 1;
                continue;
            }
            '(' => out.push((Tok::LParen, i)),
            ')' => out.push((Tok::RParen, i)),
            '[' => out.push((Tok::LBracket, i)),
            ']' => out.push((Tok::RBracket, i)),
            '"' | '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated string")),
                        Some(&q) if q == c => break,
                        Some('\\') => {
                            i += 1;
                            match chars.get(i) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&o) => s.push(o),
                                None => return Err(err(start, "unterminated string")),
                            }
                        }
                        Some(&o) => s.push(o),
                    }
                    i += 1;
                }
                out.push((Tok::Str(s), start));
            }
            '=' | '!' | '<' | '>' | '~' | '&' | '|' => {
                let two: String = [c, peek.unwrap_or(' ')].iter().collect();
                let op = match two.as_str() {
                    "==" | "!=" | "<=" | ">=" | "!~" | "&&" | "||" => {
                        i += 1;
                        ["==", "!=", "<=", ">=", "!~", "&&", "||"].into_iter().find(|o| *o == two).unwrap_or("==")
                    }
                    _ => match c {
                        '<' => "<",
                        '>' => ">",
                        '~' => "~",
                        '!' => "!",
                        '=' => return Err(err(i, "`=` is not an operator: use `==`")),
                        _ => return Err(err(i, &format!("`{c}` is not an operator: use `&&` or `||`"))),
                    },
                };
                out.push((Tok::Op(op), start));
            }
            d if d.is_ascii_digit() || (d == '.' && peek.is_some_and(|p| p.is_ascii_digit())) => {
                while chars.get(i).is_some_and(|c| c.is_ascii_digit() || *c == '.') {
                    i += 1;
                }
                let num: String = chars.get(start..i).unwrap_or(&[]).iter().collect();
                let n: f64 = num.parse().map_err(|_| err(start, &format!("`{num}` is not a number")))?;
                let unit_start = i;
                while chars.get(i).is_some_and(|c| c.is_ascii_alphabetic() || *c == 'µ') {
                    i += 1;
                }
                let unit: String = chars.get(unit_start..i).unwrap_or(&[]).iter().collect();
                let scale = match unit.as_str() {
                    "" => None,
                    "ns" => Some(1.0),
                    "us" | "µs" => Some(1e3),
                    "ms" => Some(1e6),
                    "s" => Some(1e9),
                    "m" | "min" => Some(60e9),
                    "h" => Some(3600e9),
                    _ => return Err(err(unit_start, &format!("unknown unit `{unit}` (use ns, us, ms, s, m or h)"))),
                };
                out.push((scale.map_or(Tok::Num(n), |s| Tok::Dur((n * s) as i64)), start));
                continue;
            }
            a if a.is_alphanumeric() || a == '_' => {
                while chars.get(i).is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':')) {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or(&[]).iter().collect();
                let tok = match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::Op("&&"),
                    "or" => Tok::Op("||"),
                    "not" => Tok::Op("!"),
                    _ => Tok::Ident(word),
                };
                out.push((tok, start));
                continue;
            }
            other => return Err(err(i, &format!("unexpected `{other}`"))),
        }
        i += 1;
    }
    Ok(out)
}

/// A field reference: a name and, for `header["..."]`, its argument.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    name: String,
    arg: Option<String>,
}

/// A parsed expression. `&&` and `||` chains are flat lists and runs of
/// `!` collapse, so a generated 10,000-term chain or 100,000 `!` are as
/// shallow as one term; only parentheses nest, up to [`MAX_PARENS`].
#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Truthy(Field),
    Cmp(Field, &'static str, Value, Option<Regex>),
}

/// A compiled filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
    /// The text it was compiled from.
    pub source: String,
}

/// Parentheses nest at most this deep: the parser recurses once per level.
pub const MAX_PARENS: usize = 256;

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// Parentheses open at `pos`.
    depth: usize,
    input: &'a str,
    fields: &'a FieldSet,
}

impl Parser<'_> {
    fn err(&self, at: usize, m: impl Into<String>) -> FilterError {
        FilterError { input: self.input.to_string(), at, message: m.into() }
    }

    fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.input.chars().count(), |t| t.1)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.and()?];
        while self.peek() == Some(&Tok::Op("||")) {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 { terms.swap_remove(0) } else { Expr::Or(terms) })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.not()?];
        while self.peek() == Some(&Tok::Op("&&")) {
            self.pos += 1;
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 { terms.swap_remove(0) } else { Expr::And(terms) })
    }

    /// Any run of `!`, counted in a loop: an odd count negates.
    fn not(&mut self) -> Result<Expr, FilterError> {
        let mut negations = 0usize;
        while self.peek() == Some(&Tok::Op("!")) {
            self.pos += 1;
            negations += 1;
        }
        let e = self.primary()?;
        Ok(if negations % 2 == 1 { Expr::Not(Box::new(e)) } else { e })
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let at = self.here();
        match self.toks.get(self.pos).cloned() {
            Some((Tok::LParen, p)) => {
                if self.depth >= MAX_PARENS {
                    return Err(self.err(p, format!("parentheses nested deeper than {MAX_PARENS} levels")));
                }
                self.pos += 1;
                self.depth += 1;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err(self.here(), "expected `)`"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some((Tok::Ident(name), _)) => {
                self.pos += 1;
                let field = self.field(name, at)?;
                match self.peek().cloned() {
                    Some(Tok::Op(op)) if matches!(op, "==" | "!=" | "~" | "!~" | "<" | "<=" | ">" | ">=") => {
                        self.pos += 1;
                        let vat = self.here();
                        let value = self.value()?;
                        let regex = if matches!(op, "~" | "!~") {
                            let Value::Str(pat) = &value else { return Err(self.err(vat, "`~` needs a text pattern")) };
                            Some(Regex::new(pat).map_err(|e| self.err(vat, format!("bad regular expression: {e}")))?)
                        } else {
                            None
                        };
                        if matches!(op, "<" | "<=" | ">" | ">=") && matches!(value, Value::Str(_)) {
                            return Err(self.err(vat, format!("`{op}` compares numbers or durations, not text")));
                        }
                        if let (Value::Str(s), "==" | "!=") = (&value, op) {
                            self.check_value(&field.name, s, vat)?;
                        }
                        Ok(Expr::Cmp(field, op, value, regex))
                    }
                    _ => Ok(Expr::Truthy(field)),
                }
            }
            Some((Tok::RParen, p)) => Err(self.err(p, "unexpected `)`")),
            Some((t, p)) => Err(self.err(p, format!("expected a field name, found {}", describe(&t)))),
            None => Err(self.err(at, "the expression ends too early")),
        }
    }

    fn field(&mut self, name: String, at: usize) -> Result<Field, FilterError> {
        let Some(def) = self.fields.find(&name) else {
            return Err(
                self.err(at, format!("unknown field `{name}`; known fields: {}", self.fields.names().join(", ")))
            );
        };
        let mut arg = None;
        if self.peek() == Some(&Tok::LBracket) {
            self.pos += 1;
            match self.toks.get(self.pos).cloned() {
                Some((Tok::Str(s), _)) | Some((Tok::Ident(s), _)) => arg = Some(s.to_ascii_lowercase()),
                _ => return Err(self.err(self.here(), "expected a quoted name inside `[...]`")),
            }
            self.pos += 1;
            if self.peek() != Some(&Tok::RBracket) {
                return Err(self.err(self.here(), "expected `]`"));
            }
            self.pos += 1;
        }
        if def.takes_arg && arg.is_none() {
            return Err(self.err(at, format!("`{name}` needs a name: {name}[\"...\"]")));
        }
        if !def.takes_arg && arg.is_some() {
            return Err(self.err(at, format!("`{name}` takes no `[...]`")));
        }
        Ok(Field { name: def.name.to_string(), arg })
    }

    /// Refuses a value a closed field never takes, naming the nearest.
    fn check_value(&self, field: &str, v: &str, at: usize) -> Result<(), FilterError> {
        let Some(def) = self.fields.find(field).filter(|d| !d.values.is_empty()) else { return Ok(()) };
        if def.values.iter().any(|x| x.eq_ignore_ascii_case(v)) {
            return Ok(());
        }
        let hint = nearest(v, def.values).map(|n| format!("did you mean {n}? ")).unwrap_or_default();
        Err(self.err(at, format!("`{field}` is never `{v}`: {hint}it is one of {}", def.values.join(", "))))
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        let at = self.here();
        let v = match self.toks.get(self.pos).cloned() {
            Some((Tok::Str(s), _)) | Some((Tok::Ident(s), _)) => match s.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::Str(s),
            },
            Some((Tok::Num(n), _)) => Value::Num(n),
            Some((Tok::Dur(d), _)) => Value::Dur(d),
            Some((t, p)) => return Err(self.err(p, format!("expected a value, found {}", describe(&t)))),
            None => return Err(self.err(at, "expected a value after the operator")),
        };
        self.pos += 1;
        Ok(v)
    }
}

/// The value nearest to `v` by edit distance (ignoring case and `_`), when
/// near enough to be a slip: at most a third of its length away.
fn nearest(v: &str, values: &[&'static str]) -> Option<&'static str> {
    let norm =
        |s: &str| -> Vec<char> { s.chars().filter(|c| *c != '_').map(|c| c.to_ascii_lowercase()).take(64).collect() };
    let want = norm(v);
    values
        .iter()
        .map(|x| (edit_distance(&want, &norm(x)), *x))
        .filter(|(d, x)| *d <= (x.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, x)| x)
}

/// Levenshtein distance over two short strings (both cut at 64 characters).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row.first().copied().unwrap_or(0);
        if let Some(r) = row.first_mut() {
            *r = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let up = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let best = (diag + usize::from(ca != cb)).min(up + 1).min(left + 1);
            diag = up;
            if let Some(r) = row.get_mut(j + 1) {
                *r = best;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Num(n) => format!("{n}"),
        Tok::Dur(_) => "a duration".into(),
        Tok::Op(o) => format!("`{o}`"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
    }
}

impl Filter {
    /// Compiles `input` for records with these `fields`.
    pub fn parse(input: &str, fields: &FieldSet) -> Result<Filter, FilterError> {
        let toks = lex(input)?;
        if toks.is_empty() {
            return Err(FilterError { input: input.into(), at: 0, message: "the filter is empty".into() });
        }
        let mut p = Parser { toks, pos: 0, depth: 0, input, fields };
        let expr = p.or()?;
        if let Some((t, at)) = p.toks.get(p.pos) {
            let why = if *t == Tok::RParen {
                "unexpected `)` with no `(` before it".to_string()
            } else {
                format!("unexpected {} (missing `&&` or `||`?)", describe(t))
            };
            return Err(p.err(*at, why));
        }
        Ok(Filter { expr, source: input.to_string() })
    }

    /// Whether `r` passes.
    pub fn matches(&self, r: &dyn Record) -> bool {
        eval(&self.expr, r)
    }
}

fn eval(e: &Expr, r: &dyn Record) -> bool {
    match e {
        Expr::And(terms) => terms.iter().all(|t| eval(t, r)),
        Expr::Or(terms) => terms.iter().any(|t| eval(t, r)),
        Expr::Not(a) => !eval(a, r),
        Expr::Truthy(f) => match r.field(&f.name, f.arg.as_deref()) {
            Value::Null | Value::Bool(false) => false,
            Value::Num(n) => n != 0.0,
            Value::Str(s) => !s.is_empty(),
            _ => true,
        },
        Expr::Cmp(f, op, want, re) => compare(&r.field(&f.name, f.arg.as_deref()), op, want, re.as_ref()),
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Num(n) => Some(*n),
        Value::Dur(d) => Some(*d as f64),
        Value::Str(s) => s.parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Null => None,
    }
}

fn compare(have: &Value, op: &str, want: &Value, re: Option<&Regex>) -> bool {
    if let Some(re) = re {
        let text = match have {
            Value::Str(s) => s.clone(),
            Value::Num(n) => n.to_string(),
            Value::Null => return op == "!~",
            other => format!("{other:?}"),
        };
        return re.is_match(&text) == (op == "~");
    }
    // A bare number against a duration field means milliseconds.
    let want = match (have, want) {
        (Value::Dur(_), Value::Num(n)) => Value::Dur((n * 1e6) as i64),
        _ => want.clone(),
    };
    let equal = match (have, &want) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Str(a), Value::Str(b)) => a.eq_ignore_ascii_case(b),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (a, b) => match (as_number(a), as_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    };
    match op {
        "==" => equal,
        "!=" => !equal,
        _ => match (as_number(have), as_number(&want)) {
            (Some(x), Some(y)) => match op {
                "<" => x < y,
                "<=" => x <= y,
                ">" => x > y,
                ">=" => x >= y,
                _ => false,
            },
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests;
