use super::*;
use std::collections::HashMap;

/// A record made of named values.
struct Fake(HashMap<&'static str, Value>);

impl Record for Fake {
    fn field(&self, name: &str, arg: Option<&str>) -> Value {
        let key = match (name, arg) {
            ("header", Some("x-request-id")) => "header:x-request-id",
            (n, _) => n,
        };
        self.0.get(key).cloned().unwrap_or(Value::Null)
    }
}

fn call(status: Option<&str>, origin: &str, method: &str, conn: f64, ms: Option<f64>) -> Fake {
    let mut m = HashMap::new();
    m.insert("status", status.map_or(Value::Null, |s| Value::Str(s.into())));
    m.insert("origin", Value::Str(origin.into()));
    m.insert("method", Value::Str(method.into()));
    m.insert("conn", Value::Num(conn));
    m.insert("duration", ms.map_or(Value::Null, |ms| Value::Dur((ms * 1e6) as i64)));
    m.insert("complete", Value::Bool(true));
    m.insert("header:x-request-id", Value::Str("abc".into()));
    Fake(m)
}

fn check(expr: &str, r: &Fake) -> bool {
    Filter::parse(expr, &CALL_FIELDS).unwrap_or_else(|e| panic!("{e}")).matches(r)
}

#[test]
fn the_issue_examples() {
    let failed = call(Some("UNAVAILABLE"), "transport", "/shop.Cart/Add", 3.0, Some(250.0));
    let ok = call(Some("OK"), "none", "/shop.Catalog/Get", 1.0, Some(2.0));
    assert!(check("status != OK", &failed) && !check("status != OK", &ok));
    assert!(check("origin == transport", &failed));
    assert!(check("method ~ \"Cart\"", &failed) && !check("method ~ \"Cart\"", &ok));
    assert!(check("conn == 3", &failed));
    assert!(check("duration > 100ms", &failed) && !check("duration > 100ms", &ok));
    assert!(check("header[\"x-request-id\"] == \"abc\"", &ok));
}

#[test]
fn precedence_words_and_parentheses() {
    let r = call(Some("NOT_FOUND"), "application", "/a.B/C", 2.0, Some(5.0));
    assert!(check("status == not_found", &r), "names compare case-insensitively");
    assert!(check("origin == transport || origin == application && conn == 2", &r));
    assert!(!check("(origin == transport || origin == application) && conn == 1", &r));
    assert!(check("not (conn == 1) and complete", &r));
    assert!(check("!complete || duration >= 5ms", &r));
    assert!(check("duration < 0.01s and duration > 4000us", &r));
    assert!(check("duration == 5", &r), "a bare number against a duration is milliseconds");
    assert!(check("method !~ \"^/x\"", &r));
}

#[test]
fn absent_values_never_match_comparisons() {
    let r = call(None, "none", "/a.B/C", 1.0, None);
    assert!(check("status != OK", &r), "no status is not OK");
    assert!(!check("status == OK", &r));
    assert!(!check("duration > 1ms", &r) && !check("duration < 1ms", &r));
    assert!(check("status == null", &r));
    assert!(!check("status", &r));
}

#[test]
fn errors_point_at_the_offending_character() {
    let e = Filter::parse("status != OK)", &CALL_FIELDS).unwrap_err();
    assert_eq!(e.at, 12);
    assert!(e.to_string().contains("column 13") && e.to_string().ends_with("            ^"), "{e}");
    let e = Filter::parse("statu == OK", &CALL_FIELDS).unwrap_err();
    assert_eq!(e.at, 0);
    assert!(e.message.contains("unknown field `statu`") && e.message.contains("status"));
    let e = Filter::parse("method ~ \"(\"", &CALL_FIELDS).unwrap_err();
    assert!(e.message.contains("bad regular expression"));
    assert_eq!(Filter::parse("duration > 10parsecs", &CALL_FIELDS).unwrap_err().at, 13);
    assert!(Filter::parse("status = OK", &CALL_FIELDS).unwrap_err().message.contains("use `==`"));
    assert!(Filter::parse("conn == ", &CALL_FIELDS).unwrap_err().message.contains("expected a value"));
    assert!(Filter::parse("header == 1", &CALL_FIELDS).unwrap_err().message.contains("needs a name"));
    assert!(Filter::parse("status > OK", &CALL_FIELDS).unwrap_err().message.contains("compares numbers"));
    assert_eq!(Filter::parse("(conn == 1", &CALL_FIELDS).unwrap_err().message, "expected `)`");
    assert!(Filter::parse("conn == 1 conn == 2", &CALL_FIELDS).unwrap_err().message.contains("missing `&&`"));
    assert!(Filter::parse("   ", &CALL_FIELDS).unwrap_err().message.contains("empty"));
    assert!(Filter::parse("\"open", &CALL_FIELDS).unwrap_err().message.contains("unterminated"));
    assert!(Filter::parse("type == DATA", &CALL_FIELDS).is_err(), "frame fields are not call fields");
    assert!(Filter::parse("type == DATA", &FRAME_FIELDS).is_ok());
}

/// Issue 18: inputs an attacker (or a script) generates: none may
/// overflow the stack, in parsing, evaluation or dropping the tree.
#[test]
fn generated_expressions_are_flat_or_refused() {
    let failed = call(Some("UNAVAILABLE"), "transport", "/shop.Cart/Add", 3.0, Some(250.0));
    // 10,000 nested parentheses: a clear error at the first one too deep.
    let deep = format!("{}conn == 3{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = Filter::parse(&deep, &CALL_FIELDS).unwrap_err();
    assert!(e.message.contains("nested deeper than 256"), "{e}");
    assert_eq!(e.at, MAX_PARENS);
    // 256 levels are fine.
    let ok = format!("{}conn == 3{}", "(".repeat(MAX_PARENS), ")".repeat(MAX_PARENS));
    assert!(check(&ok, &failed));
    // 100,000 `!` (even: no negation) and 100,001 (odd).
    assert!(check(&format!("{}conn == 3", "!".repeat(100_000)), &failed));
    assert!(!check(&format!("{}conn == 3", "!".repeat(100_001)), &failed));
    // A 10,000-term `||` chain of ids, the last one matching, and a long `&&` chain.
    let ids: Vec<String> = (10_000..20_000).map(|n| format!("conn == {n}")).collect();
    assert!(!check(&ids.join(" || "), &failed));
    assert!(check(&format!("{} || conn == 3", ids.join(" || ")), &failed));
    let all: Vec<&str> = std::iter::repeat_n("conn == 3", 10_000).collect();
    assert!(check(&all.join(" && "), &failed));
}

#[test]
fn a_value_a_closed_field_never_takes_is_refused_with_the_nearest() {
    let e = Filter::parse("status == NOTFOUND", &CALL_FIELDS).unwrap_err();
    assert_eq!(e.at, 10);
    assert!(
        e.message.starts_with("`status` is never `NOTFOUND`: did you mean NOT_FOUND? it is one of OK, CANCELLED"),
        "{}",
        e.message
    );
    let e = Filter::parse("origin != transprt", &CALL_FIELDS).unwrap_err();
    assert!(e.message.contains("did you mean transport?"), "{}", e.message);
    let e = Filter::parse("status == BANANA", &CALL_FIELDS).unwrap_err();
    assert!(!e.message.contains("did you mean"), "nothing near: {}", e.message);
    let e = Filter::parse("end == fim", &CONN_FIELDS).unwrap_err();
    assert!(e.message.contains("did you mean fin?"), "{}", e.message);
    // Any case, null, and patterns stay allowed.
    for ok in ["status == not_found", "status == null", "status ~ \"NOT\"", "dir == client_to_server"] {
        let set = if ok.starts_with("dir") { &FRAME_FIELDS } else { &CALL_FIELDS };
        assert!(Filter::parse(ok, set).is_ok(), "{ok}");
    }
}
