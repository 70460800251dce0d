//! Schemas: .proto files compiled in-process by protox, binary descriptor
//! sets, and descriptors learned from reflection traffic in the capture,
//! all in one prost-reflect pool. Built in: the well-known types,
//! google.rpc's Status and error details, and gRPC server reflection.

use super::budget::RenderBudget;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver};
use serde_json::value::RawValue;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A message decoded as JSON: a tree, for whatever walks it (the terminal
/// UI's details, redaction, explain), or text serialized straight from the
/// decoded message, for the JSON writer (no tree of maps and strings is
/// built and thrown away per message).
#[derive(Debug, Clone)]
pub enum Json {
    /// A tree of values.
    Tree(Value),
    /// Compact JSON text, one line.
    Text(Box<RawValue>),
}

impl Json {
    /// The tree (parsed from the text when it is text).
    pub fn tree(&self) -> std::borrow::Cow<'_, Value> {
        match self {
            Json::Tree(v) => std::borrow::Cow::Borrowed(v),
            Json::Text(t) => std::borrow::Cow::Owned(serde_json::from_str(t.get()).unwrap_or(Value::Null)),
        }
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Tree(v) => v.serialize(s),
            Json::Text(t) => t.serialize(s),
        }
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Json::Tree(v) => v.fmt(f),
            Json::Text(t) => f.write_str(t.get()),
        }
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.tree() == other.tree()
    }
}

impl PartialEq<Value> for Json {
    fn eq(&self, other: &Value) -> bool {
        *self.tree() == *other
    }
}

/// The schemas grpcscope ships, by import name.
const BUILTIN: [(&str, &str); 3] = [
    ("google/rpc/status.proto", include_str!("builtin/google/rpc/status.proto")),
    ("google/rpc/error_details.proto", include_str!("builtin/google/rpc/error_details.proto")),
    ("grpc/reflection/v1/reflection.proto", include_str!("builtin/grpc/reflection/v1/reflection.proto")),
];

/// Reflection v1alpha is v1 under another package name.
const REFLECTION_V1ALPHA: &str = "grpc/reflection/v1alpha/reflection.proto";

/// The well-known types, loaded up front so that descriptors learned from
/// reflection (which may omit them) can always resolve their imports.
const WELL_KNOWN: [&str; 10] = [
    "google/protobuf/any.proto",
    "google/protobuf/api.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/source_context.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/type.proto",
    "google/protobuf/wrappers.proto",
];

/// Serves the built-in .proto files to protox.
struct BuiltinResolver;

impl FileResolver for BuiltinResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == REFLECTION_V1ALPHA {
            let v1 = include_str!("builtin/grpc/reflection/v1/reflection.proto");
            return File::from_source(
                name,
                &v1.replace("grpc.reflection.v1;", "grpc.reflection.v1alpha;").replace("(v1)", "(v1alpha)"),
            );
        }
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, src)) => File::from_source(n, src),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Where to find schemas (the command-line options).
#[derive(Debug, Clone, Default)]
pub struct SchemaSources {
    /// `--proto-path DIR`: import roots; when no `--proto` is given, every .proto under them is loaded.
    pub proto_paths: Vec<PathBuf>,
    /// `--proto FILE`: files to load (relative to a proto path, or a path to one under it).
    pub protos: Vec<PathBuf>,
    /// `--descriptor-set FILE`: binary FileDescriptorSets (`protoc -o`, grpcurl's `-protoset`).
    pub descriptor_sets: Vec<PathBuf>,
}

/// One method of a service, as the schema defines it.
#[derive(Debug, Clone)]
pub struct MethodInfo {
    /// `/pkg.Service/Method`.
    pub path: String,
    /// Request type.
    pub input: MessageDescriptor,
    /// Response type.
    pub output: MessageDescriptor,
    /// The client sends a stream.
    pub client_streaming: bool,
    /// The server sends a stream.
    pub server_streaming: bool,
}

/// Reflected files waiting for imports, indexed both ways so that learning
/// stays linear: 120,000 responses importing a file never sent are 120,000
/// entries, not 120,000 rescans.
#[derive(Debug, Clone, Default)]
struct Pending {
    /// File name -> (the file as sent, how many of its imports are still
    /// missing). Kept encoded: a decoded descriptor is ten times larger.
    files: ahash::AHashMap<String, (bytes::Bytes, usize)>,
    /// Import name -> the files waiting for it.
    waiting: ahash::AHashMap<String, Vec<String>>,
}

/// All known message types and services.
#[derive(Debug, Clone)]
pub struct Schema {
    pool: DescriptorPool,
    /// Files learned from reflection whose dependencies have not arrived yet.
    pending: Pending,
    /// Files skipped while loading a whole directory, with why.
    pub skipped: Vec<String>,
}

impl Schema {
    /// Only the built-in schemas.
    pub fn builtin() -> Schema {
        Schema::load(&SchemaSources::default()).unwrap_or_else(|_| Schema {
            pool: DescriptorPool::new(),
            pending: Pending::default(),
            skipped: Vec::new(),
        })
    }

    /// Loads the built-in schemas and everything `sources` names. Compile
    /// errors come back as `file:line:column: message`.
    pub fn load(sources: &SchemaSources) -> Result<Schema, String> {
        let mut resolver = ChainFileResolver::new();
        for p in &sources.proto_paths {
            if !p.is_dir() {
                return Err(format!("--proto-path {}: not a directory", p.display()));
            }
            resolver.add(IncludeFileResolver::new(p.clone()));
        }
        resolver.add(BuiltinResolver);
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        let builtin = BUILTIN.iter().map(|(n, _)| *n).chain([REFLECTION_V1ALPHA]).chain(WELL_KNOWN);
        compiler.open_files(builtin).map_err(|e| format!("{e:?}"))?;
        let mut skipped = Vec::new();
        if !sources.protos.is_empty() {
            for p in &sources.protos {
                compiler.open_file(relative_name(p, &sources.proto_paths)).map_err(|e| format!("{e:?}"))?;
            }
        } else {
            // Every .proto under the proto paths; one that does not compile is skipped, with why.
            for root in &sources.proto_paths {
                for name in proto_files(root) {
                    if let Err(e) = compiler.open_file(&name) {
                        skipped.push(format!("{e:?}"));
                    }
                }
            }
        }
        let mut pool = compiler.descriptor_pool();
        for path in &sources.descriptor_sets {
            let bytes = std::fs::read(path).map_err(|e| format!("--descriptor-set {}: {e}", path.display()))?;
            pool.decode_file_descriptor_set(bytes.as_slice())
                .map_err(|e| format!("--descriptor-set {}: not a usable FileDescriptorSet: {e}", path.display()))?;
        }
        Ok(Schema { pool, pending: Pending::default(), skipped })
    }

    /// Adds FileDescriptorProtos seen in a reflection response. Files whose
    /// imports are not known yet wait for them. Returns how many were added.
    pub fn learn(&mut self, files: &[bytes::Bytes]) -> usize {
        let mut ready = Vec::new();
        for f in files {
            let Ok(fdp) = <prost_types::FileDescriptorProto as prost::Message>::decode(f.as_ref()) else { continue };
            let name = fdp.name().to_string();
            if self.pool.get_file_by_name(&name).is_some() || self.pending.files.contains_key(&name) {
                continue;
            }
            let mut missing: Vec<String> =
                fdp.dependency.iter().filter(|d| self.pool.get_file_by_name(d).is_none()).cloned().collect();
            missing.sort();
            missing.dedup();
            if missing.is_empty() {
                ready.push(fdp);
                continue;
            }
            for d in &missing {
                self.pending.waiting.entry(d.clone()).or_default().push(name.clone());
            }
            self.pending.files.insert(name, (f.clone(), missing.len()));
        }
        // Each file added releases the files that waited for it: every
        // file and every import is looked at once, whatever the order.
        let mut added = 0;
        while let Some(fdp) = ready.pop() {
            let name = fdp.name().to_string();
            if !add_file(&mut self.pool, fdp) {
                continue;
            }
            added += 1;
            for waiter in self.pending.waiting.remove(&name).unwrap_or_default() {
                let Some((_, missing)) = self.pending.files.get_mut(&waiter) else { continue };
                *missing = missing.saturating_sub(1);
                if *missing == 0 {
                    let file = self.pending.files.remove(&waiter);
                    if let Some(fdp) = file.and_then(|(f, _)| prost::Message::decode(f.as_ref()).ok()) {
                        ready.push(fdp);
                    }
                }
            }
        }
        added
    }

    /// The request and response types of a method path `/pkg.Service/Method`.
    pub fn method(&self, path: &str) -> Option<(MessageDescriptor, MessageDescriptor)> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        let svc = self.pool.get_service_by_name(service)?;
        let m = svc.methods().find(|m| m.name() == method)?;
        Some((m.input(), m.output()))
    }

    /// The file (its name as compiled, relative to its import root) that
    /// defines the service of method path `/pkg.Service/Method`.
    pub fn service_file(&self, path: &str) -> Option<String> {
        let (service, _) = path.strip_prefix('/')?.split_once('/')?;
        Some(self.pool.get_service_by_name(service)?.parent_file().name().to_string())
    }

    /// Every method of the user's services (the built-in reflection and
    /// health services left out), in path order.
    pub fn methods(&self) -> Vec<MethodInfo> {
        let mut out: Vec<MethodInfo> = self
            .pool
            .services()
            .filter(|s| !s.full_name().starts_with("grpc.reflection.") && !s.full_name().starts_with("grpc.health."))
            .flat_map(|s| {
                s.methods()
                    .map(|m| MethodInfo {
                        path: format!("/{}/{}", s.full_name(), m.name()),
                        input: m.input(),
                        output: m.output(),
                        client_streaming: m.is_client_streaming(),
                        server_streaming: m.is_server_streaming(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Whether `bytes` is a `desc` by every rule a decoder can check: it
    /// parses (known fields with their wire types, valid UTF-8 strings)
    /// and carries no field the schema does not define, at any depth.
    pub fn fits(&self, desc: &MessageDescriptor, bytes: &[u8]) -> bool {
        DynamicMessage::decode(desc.clone(), bytes).is_ok_and(|m| count_unknown(&m) == 0)
    }

    /// Whether any service is known beyond the built-in ones.
    pub fn has_user_services(&self) -> bool {
        self.pool.services().any(|s| !s.full_name().starts_with("grpc.reflection."))
    }

    /// The descriptor pool itself (for re-encoding a message).
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// A message type by full name.
    pub fn message(&self, full_name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(full_name)
    }

    /// Decodes `bytes` as `desc` into the canonical proto3 JSON mapping.
    /// Also returns how many fields were not in the schema.
    pub fn decode(&self, desc: &MessageDescriptor, bytes: &[u8]) -> Result<(Value, usize), String> {
        let (msg, unknown) = self.parse(desc, bytes)?;
        let maps = self.holds_maps(&msg, 0);
        Ok((self.tree(desc, &msg, maps)?, unknown))
    }

    /// `msg` as a JSON tree; the keys of its maps sorted when it has any.
    fn tree(&self, desc: &MessageDescriptor, msg: &DynamicMessage, maps: bool) -> Result<Value, String> {
        let mut json = serde_json::to_value(Proto3Json(msg))
            .map_err(|e| format!("{} cannot be shown as JSON: {e}", desc.full_name()))?;
        if maps {
            self.sort_maps(desc, &mut json, 0);
        }
        Ok(json)
    }

    /// Whether `msg` holds a map field (or a Struct, a map in JSON) at any
    /// depth, Any values unpacked: the decoder keeps maps in hash maps,
    /// whose order changes from run to run, so their keys are sorted.
    fn holds_maps(&self, msg: &DynamicMessage, depth: usize) -> bool {
        use prost_reflect::ReflectMessage;
        if depth > super::budget::MAX_NESTING {
            return false;
        }
        if msg.descriptor().full_name() == "google.protobuf.Struct" {
            return true;
        }
        if let Some(inner) = self.unpack_any(msg) {
            return self.holds_maps(&inner, depth + 1);
        }
        let nested = |v: &prost_reflect::Value| v.as_message().is_some_and(|m| self.holds_maps(m, depth + 1));
        msg.fields().any(|(f, v)| {
            f.is_map()
                || match v {
                    prost_reflect::Value::List(l) => l.iter().any(nested),
                    other => nested(other),
                }
        })
    }

    /// Sorts the keys of the JSON objects in `v` that are maps of `desc`
    /// (map fields, Structs), at every depth within the nesting limit.
    fn sort_maps(&self, desc: &MessageDescriptor, v: &mut Value, depth: usize) {
        if depth > super::budget::MAX_NESTING {
            return;
        }
        let Value::Object(obj) = v else { return };
        match desc.full_name() {
            "google.protobuf.Struct" => return sort_all_objects(v, depth),
            "google.protobuf.Any" => {
                // An Any's JSON is its packed message's, with "@type".
                let name = obj.get("@type").and_then(Value::as_str).and_then(|t| t.rsplit('/').next());
                if let Some(inner) = name.and_then(|n| self.pool.get_message_by_name(n)) {
                    match obj.get_mut("value") {
                        Some(x) if inner.full_name().starts_with("google.protobuf.") => {
                            self.sort_maps(&inner, x, depth + 1)
                        }
                        _ => self.sort_maps(&inner, v, depth + 1),
                    }
                }
                return;
            }
            _ => {}
        }
        for field in desc.fields() {
            let Some(x) = obj.get_mut(field.json_name()) else { continue };
            let kind = field.kind();
            if field.is_map() {
                let value_kind = kind.as_message().map(|entry| entry.map_entry_value_field().kind());
                if let Value::Object(m) = x {
                    m.sort_keys();
                    if let Some(vd) = value_kind.as_ref().and_then(|k| k.as_message()) {
                        m.values_mut().for_each(|e| self.sort_maps(vd, e, depth + 1));
                    }
                }
            } else if let Some(md) = kind.as_message() {
                match x {
                    Value::Array(a) => a.iter_mut().for_each(|e| self.sort_maps(md, e, depth + 1)),
                    one => self.sort_maps(md, one, depth + 1),
                }
            }
        }
    }

    /// [`Schema::decode`], as a tree or (`text`) as JSON text written
    /// straight from the decoded message.
    pub fn decode_as(&self, desc: &MessageDescriptor, bytes: &[u8], text: bool) -> Result<(Json, usize), String> {
        if text {
            // Straight from the wire when the descriptor allows (most messages).
            if let Some((json, unknown)) = super::transcode::to_json(desc, bytes) {
                if let Ok(raw) = RawValue::from_string(json) {
                    return Ok((Json::Text(raw), unknown));
                }
            }
        }
        self.decode_slowly(desc, bytes, text)
    }

    /// [`Schema::decode_as`] through a decoded `DynamicMessage`, never the
    /// transcoder: for what the transcoder declines, and to test it against.
    pub fn decode_slowly(&self, desc: &MessageDescriptor, bytes: &[u8], text: bool) -> Result<(Json, usize), String> {
        let (msg, unknown) = self.parse(desc, bytes)?;
        let maps = self.holds_maps(&msg, 0);
        if !text || maps {
            // Maps are sorted in a tree (the decoder's order is a hash map's).
            return Ok((Json::Tree(self.tree(desc, &msg, maps)?), unknown));
        }
        let raw = serde_json::value::to_raw_value(&Proto3Json(&msg))
            .map_err(|e| format!("{} cannot be shown as JSON: {e}", desc.full_name()))?;
        Ok((Json::Text(raw), unknown))
    }

    /// `bytes` parsed as `desc`, with the count of fields outside the
    /// schema; refused when its Any values nest too deep to render.
    fn parse(&self, desc: &MessageDescriptor, bytes: &[u8]) -> Result<(DynamicMessage, usize), String> {
        let msg = DynamicMessage::decode(desc.clone(), bytes)
            .map_err(|e| format!("does not parse as {}: {e}", desc.full_name()))?;
        let unknown = count_unknown(&msg);
        // The JSON mapping unpacks Any recursively; an Any of an Any ... a
        // thousand deep would take the stack with it.
        if let Some(depth) = self.any_nesting_beyond(&msg, 0) {
            return Err(format!(
                "google.protobuf.Any nested deeper than {} levels (at least {depth}): not rendered",
                super::budget::MAX_NESTING
            ));
        }
        Ok((msg, unknown))
    }

    /// [`Schema::decode_as`] within a rendering budget: when the message
    /// would render to more than is left, the top-level fields that fit are
    /// decoded, and the third value says where it was cut.
    pub fn decode_within(
        &self,
        desc: &MessageDescriptor,
        bytes: &[u8],
        budget: &mut RenderBudget,
        text: bool,
    ) -> Result<(Json, usize, Option<String>), String> {
        let cut = super::budget::schema_prefix(bytes, desc, budget);
        let shown = cut.and_then(|c| bytes.get(..c)).unwrap_or(bytes);
        let (json, unknown) = self.decode_as(desc, shown, text)?;
        Ok((json, unknown, cut.map(|c| budget.truncated(c, bytes.len()))))
    }

    /// How deep Any values nest in `msg` when deeper than the limit
    /// (`None` within it). Bounded: it stops descending at the limit.
    fn any_nesting_beyond(&self, msg: &DynamicMessage, depth: usize) -> Option<usize> {
        if depth > super::budget::MAX_NESTING {
            return Some(depth);
        }
        let visit = |v: &prost_reflect::Value| {
            let m = v.as_message()?;
            // An Any of an Any is unpacked in a loop: only other messages recurse.
            let (mut inner, mut level) = (None, depth);
            while let Some(next) = self.unpack_any(inner.as_ref().unwrap_or(m)) {
                level += 1;
                if level > super::budget::MAX_NESTING {
                    return Some(level);
                }
                inner = Some(next);
            }
            self.any_nesting_beyond(inner.as_ref().unwrap_or(m), level)
        };
        msg.fields().find_map(|(_, v)| match v {
            prost_reflect::Value::List(l) => l.iter().find_map(visit),
            prost_reflect::Value::Map(m) => m.values().find_map(visit),
            other => visit(other),
        })
    }

    /// The message inside `m` when it is a google.protobuf.Any of a known type.
    fn unpack_any(&self, m: &DynamicMessage) -> Option<DynamicMessage> {
        if prost_reflect::ReflectMessage::descriptor(m).full_name() != "google.protobuf.Any" {
            return None;
        }
        let url = m.get_field_by_name("type_url")?;
        let name = url.as_str()?.rsplit('/').next()?.to_string();
        let value = m.get_field_by_name("value")?;
        let desc = self.pool.get_message_by_name(&name)?;
        DynamicMessage::decode(desc, value.as_bytes()?.clone()).ok()
    }

    /// Decodes `grpc-status-details-bin` as google.rpc.Status, with its
    /// details through their type URLs.
    pub fn status_details(&self, bytes: &[u8]) -> Result<Value, String> {
        let desc = self.message("google.rpc.Status").ok_or("google.rpc.Status is not known")?;
        self.decode(&desc, bytes).map(|(v, _)| v)
    }
}

/// Adds one reflected file to `pool`; `false` when it is refused.
///
/// Reflected files are capture bytes. prost-reflect 0.16 indexes
/// `dependency` with `public_dependency` and `weak_dependency` without a
/// check and panics on an index past it (found by fuzzing:
/// fuzz/regressions/protobuf_schema), so such a file is refused here. It
/// also panics labelling an unknown `syntax` (it looks up the file before
/// adding it), so only the syntaxes it knows are let through.
fn add_file(pool: &mut DescriptorPool, fdp: prost_types::FileDescriptorProto) -> bool {
    let imports = fdp.dependency.len();
    let valid = |i: &i32| usize::try_from(*i).is_ok_and(|i| i < imports);
    if !fdp.public_dependency.iter().all(valid) || !fdp.weak_dependency.iter().all(valid) {
        return false;
    }
    if !matches!(fdp.syntax.as_deref(), None | Some("proto2" | "proto3")) {
        return false;
    }
    pool.add_file_descriptor_proto(fdp).is_ok()
}

/// Fields a message (and its sub-messages) carried that its schema does not define.
/// A message in the canonical proto3 JSON mapping, for any serializer.
struct Proto3Json<'a>(&'a DynamicMessage);

impl serde::Serialize for Proto3Json<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_with_options(s, &SerializeOptions::new())
    }
}

/// Sorts every object's keys in `v` (a Struct's JSON: all its objects are
/// maps), within the nesting limit.
fn sort_all_objects(v: &mut Value, depth: usize) {
    if depth > super::budget::MAX_NESTING {
        return;
    }
    match v {
        Value::Object(m) => {
            m.sort_keys();
            m.values_mut().for_each(|x| sort_all_objects(x, depth + 1));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| sort_all_objects(x, depth + 1)),
        _ => {}
    }
}

fn count_unknown(msg: &DynamicMessage) -> usize {
    let mut n = msg.unknown_fields().count();
    for (_, v) in msg.fields() {
        n += match v {
            prost_reflect::Value::Message(m) => count_unknown(m),
            prost_reflect::Value::List(l) => l.iter().filter_map(|x| x.as_message()).map(count_unknown).sum(),
            _ => 0,
        };
    }
    n
}

/// The import name of `--proto` file `p`: as given when relative, else
/// relative to the proto path that contains it.
fn relative_name(p: &Path, roots: &[PathBuf]) -> PathBuf {
    if p.is_relative() && !p.exists() {
        return p.to_path_buf();
    }
    for r in roots {
        if let Ok(rel) = p.strip_prefix(r) {
            return rel.to_path_buf();
        }
    }
    p.to_path_buf()
}

/// Every .proto file under `root`, as import names, sorted.
fn proto_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "proto") {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures_schema() -> Schema {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protos");
        Schema::load(&SchemaSources { proto_paths: vec![root], ..Default::default() }).unwrap()
    }

    #[test]
    fn a_proto_directory_is_discovered_and_methods_resolve() {
        let s = fixtures_schema();
        let (input, output) = s.method("/grpcscope.fixtures.v1.Inventory/Watch").unwrap();
        assert_eq!(
            (input.full_name(), output.full_name()),
            ("grpcscope.fixtures.v1.WatchRequest", "grpcscope.fixtures.v1.Part")
        );
        assert!(s.method("/grpcscope.fixtures.v1.Inventory/Nope").is_none());
        assert!(s.method("garbage").is_none());
        assert!(s.has_user_services());
        assert!(!Schema::builtin().has_user_services());
    }

    #[test]
    fn reflected_files_prost_reflect_would_panic_on_are_refused() {
        let mut pool = Schema::builtin().pool.clone();
        let file = |syntax: Option<&str>, public: Vec<i32>| prost_types::FileDescriptorProto {
            name: Some("x.proto".into()),
            syntax: syntax.map(str::to_owned),
            public_dependency: public,
            ..Default::default()
        };
        assert!(!add_file(&mut pool, file(Some(""), vec![])));
        assert!(!add_file(&mut pool, file(Some("editions"), vec![])));
        assert!(!add_file(&mut pool, file(None, vec![0])));
        assert!(add_file(&mut pool, file(Some("proto3"), vec![])));
    }

    #[test]
    fn decoding_uses_the_canonical_json_mapping() {
        let s = fixtures_schema();
        let desc = s.message("grpcscope.fixtures.v1.GetPartRequest").unwrap();
        // sku = "a", delay_ms = 5, plus an unknown field 9.
        let (json, unknown) = s.decode(&desc, &[0x0a, 1, b'a', 0x10, 5, 0x48, 1]).unwrap();
        assert_eq!(json, serde_json::json!({"sku": "a", "delayMs": 5}));
        assert_eq!(unknown, 1);
        assert!(s
            .decode(&desc, &[0x0a, 9])
            .unwrap_err()
            .contains("does not parse as grpcscope.fixtures.v1.GetPartRequest"));
    }

    /// As text (for the JSON writer) a message renders exactly as its tree
    /// would, without the tree.
    #[test]
    fn text_rendering_is_the_tree_serialized() {
        let s = fixtures_schema();
        let desc = s.message("grpcscope.fixtures.v1.GetPartRequest").unwrap();
        let bytes = [0x0a, 1, b'a', 0x10, 5];
        let (text, _) = s.decode_as(&desc, &bytes, true).unwrap();
        assert!(matches!(text, Json::Text(_)));
        assert_eq!(text.to_string(), s.decode(&desc, &bytes).unwrap().0.to_string());
        assert_eq!(text.to_string(), r#"{"sku":"a","delayMs":5}"#);
    }

    /// Map keys come out sorted, every time, as text or tree: the decoder
    /// holds maps in hash maps whose order changes from run to run (and
    /// from one hash map to the next).
    #[test]
    fn map_keys_are_sorted() {
        let s = fixtures_schema();
        let desc = s.message("grpcscope.fixtures.v1.Part").unwrap();
        let mut bytes = vec![0x0a, 1, b'p'];
        for k in (0..12u8).rev() {
            // bins (field 9) entry: key (1) "kNN", value (2) k.
            bytes.extend([0x4a, 7, 0x0a, 3, b'k', b'0' + k / 10, b'0' + k % 10, 0x10, k]);
        }
        let sorted: Vec<String> = (0..12).map(|k| format!("k{k:02}")).collect();
        for text in [true, false].repeat(10) {
            let (json, _) = s.decode_as(&desc, &bytes, text).unwrap();
            let keys: Vec<String> = json.tree()["bins"].as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys, sorted);
            assert_eq!(json.tree()["sku"], "p", "the message's own fields stay in their order");
        }
    }

    #[test]
    fn compile_errors_name_file_line_and_column() {
        let dir = std::env::temp_dir().join(format!("grpcscope-bad-proto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bad.proto"), "syntax = \"proto3\";\nmessage M {\n  strin x = 1;\n}\n").unwrap();
        let err = Schema::load(&SchemaSources {
            proto_paths: vec![dir.clone()],
            protos: vec!["bad.proto".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.starts_with("bad.proto:3:"), "{err}");
        // Discovered (not named) files that do not compile are skipped with the same message.
        let s = Schema::load(&SchemaSources { proto_paths: vec![dir], ..Default::default() }).unwrap();
        assert!(s.skipped[0].starts_with("bad.proto:3:"), "{:?}", s.skipped);
    }

    #[test]
    fn both_reflection_versions_are_built_in() {
        let s = Schema::builtin();
        for v in ["v1", "v1alpha"] {
            let (i, o) = s.method(&format!("/grpc.reflection.{v}.ServerReflection/ServerReflectionInfo")).unwrap();
            assert_eq!(o.full_name(), format!("grpc.reflection.{v}.ServerReflectionResponse"));
            assert_eq!(i.full_name(), format!("grpc.reflection.{v}.ServerReflectionRequest"));
        }
    }

    #[test]
    fn reflection_descriptors_are_learned_in_dependency_order() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protos");
        let fds = protox::compile(["grpcscope/fixtures/v1/inventory.proto"], [root]).unwrap();
        let encoded: Vec<bytes::Bytes> =
            fds.file.iter().rev().map(|f| prost::Message::encode_to_vec(f).into()).collect();
        let mut s = Schema::builtin();
        assert!(s.method("/grpcscope.fixtures.v1.Inventory/GetPart").is_none());
        assert!(s.learn(&encoded) >= 1);
        assert!(s.method("/grpcscope.fixtures.v1.Inventory/GetPart").is_some());
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn any_nested_a_thousand_deep_is_refused_not_recursed() {
        let s = Schema::builtin();
        let e = s.status_details(&crate::synth::hostile::deep_any_status()).unwrap_err();
        assert!(e.contains("nested deeper than 32"), "{e}");
    }
}
