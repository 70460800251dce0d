//! The layer order of docs/architecture.md, checked on the source: no
//! module imports from a layer above its own, and no two modules of a layer
//! import each other (directly or around a loop). Test code is exempt: it
//! may build a layer's input with the layers below and above it.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first; a module may use its own layer and those
/// before it. Modules on one line share a rank (they do not use each other).
const LAYERS: &[&[&str]] = &[
    &["time", "notes", "names"],
    &["capture"],
    &["net"],
    &["tcp"],
    &["exchange", "proto"],
    &["h2", "tls"],
    &["grpc"],
    &["chain"],
    &["filter"],
    &["analysis", "synth"],
    &["present"],
    &["output", "explain", "reflect"],
    &["tui"],
    &["fuzzing", "cli"],
];

/// Uses the ranks allow but the design does not: the gRPC layer sees
/// protocol-neutral exchanges only, never an HTTP/2 type (so that gRPC-Web
/// and Connect over HTTP/1.1 share it).
const FORBIDDEN: &[(&str, &str)] = &[("grpc", "h2")];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|r| r.contains(&layer))
}

/// A source file's text without comments and without its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every library source file but tests: (module path, code).
fn modules() -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let src = common::root().join("src");
    walk(&src, &src, &mut out);
    out
}

fn walk(src: &Path, dir: &Path, out: &mut Vec<(Vec<String>, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(src, &p, out);
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".rs") || name == "tests.rs" || name == "testutil.rs" || p.ends_with("fuzzing/tests.rs") {
            continue;
        }
        let rel = p.strip_prefix(src).unwrap().with_extension("");
        let mut path: Vec<String> = rel.iter().map(|c| c.to_string_lossy().to_string()).collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        if path == ["lib"] || path == ["main"] {
            continue;
        }
        out.push((path, code(&std::fs::read_to_string(&p).unwrap())));
    }
}

/// The modules `text` (in module `path`) names: `crate::a::b` and `super::b`.
fn references(path: &[String], text: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let is_dir_module = path.len() == 1;
    for (prefix, base) in [("crate::", Vec::new()), ("super::", path[..path.len().saturating_sub(1)].to_vec())] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            if prefix == "super::" && is_dir_module {
                continue;
            }
            let names: Vec<String> = rest
                .split("::")
                .map(|seg| {
                    seg.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect()
                })
                .take_while(|seg: &String| !seg.is_empty())
                .take(2)
                .collect();
            let mut target = base.clone();
            target.extend(names);
            if !target.is_empty() {
                out.insert(target);
            }
        }
    }
    out
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let mut wrong = Vec::new();
    for (path, text) in modules() {
        let layer = &path[0];
        let Some(mine) = rank(layer) else {
            wrong.push(format!("{}: not in LAYERS (add it where it belongs)", path.join("::")));
            continue;
        };
        for target in references(&path, &text) {
            if FORBIDDEN.contains(&(layer.as_str(), target[0].as_str())) {
                wrong.push(format!("{} uses {} (forbidden)", path.join("::"), target.join("::")));
            }
            if let Some(theirs) = rank(&target[0]) {
                if theirs > mine || (theirs == mine && &target[0] != layer) {
                    wrong.push(format!("{} uses {}", path.join("::"), target.join("::")));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_modules_of_a_layer_import_each_other() {
    let mods = modules();
    let known: BTreeSet<Vec<String>> = mods.iter().map(|(p, _)| p.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (path, text) in &mods {
        for mut target in references(path, text) {
            // `crate::h2::conn::H2Conn` names the module h2::conn.
            while !known.contains(&target) && target.len() > 1 {
                target.pop();
            }
            if target != *path && target[0] == path[0] && target.len() > 1 && path.len() > 1 {
                edges.entry(path.clone()).or_default().insert(target);
            }
        }
    }
    let mut cycles = Vec::new();
    for (a, outs) in &edges {
        for b in outs {
            if reaches(&edges, b, a, &mut BTreeSet::new()) && a < b {
                cycles.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    assert!(cycles.is_empty(), "modules in a loop:\n{}", cycles.join("\n"));
}

fn reaches(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    from: &Vec<String>,
    to: &Vec<String>,
    seen: &mut BTreeSet<Vec<String>>,
) -> bool {
    if from == to {
        return true;
    }
    if !seen.insert(from.clone()) {
        return false;
    }
    edges.get(from).is_some_and(|outs| outs.iter().any(|n| reaches(edges, n, to, seen)))
}

#[test]
fn the_checker_sees_a_violation() {
    // It must not pass by seeing nothing.
    let path = vec!["tcp".to_string(), "table".to_string()];
    let refs = references(&path, &code("use crate::grpc::Call;\nuse super::half::Half;\n// use crate::tui::x;"));
    let names: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    assert_eq!(names, ["grpc", "tcp::half"], "a comment is not an import");
    assert!(rank("grpc") > rank("tcp"), "so tcp using grpc would be reported");
    assert!(modules().iter().any(|(p, _)| p == &vec!["h2".to_string(), "conn".to_string()]));
}
