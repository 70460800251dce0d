//! A call's messages decoded for display: schema, JSON (`+json`
//! calls), or the schemaless fallback; decompressed first.

use crate::grpc::message::{decompress, Codec};
use crate::grpc::{Call, Message};
use crate::proto::budget::RenderBudget;
use crate::proto::{schemaless, Json, Schema};
use prost_reflect::MessageDescriptor;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// How a call's messages are shown.
pub struct Decoder {
    /// The schemas given (`--proto`, `--descriptor-set`, `--reflect`) and the built-in ones.
    pub schema: Schema,
    /// Schemas learned from reflection traffic in the capture, by the
    /// server that answered: each applies to that server's calls only
    /// (with the given ones), never to another server's.
    pub learned: BTreeMap<SocketAddr, Schema>,
    /// Largest decompressed message.
    pub max_decompressed: usize,
    /// `--redact-field`: message fields hashed as messages are rendered.
    pub redact: Option<std::sync::Arc<crate::analysis::redact::Redactor>>,
    /// `--max-rendered-size`: rendered JSON per call (or per message shown alone).
    pub max_rendered: usize,
    /// Render schema decodes as JSON text rather than trees: for a writer
    /// of JSON that walks nothing (field redaction still needs trees).
    pub json_text: bool,
}

/// A message decoded for output.
pub struct Decoded {
    /// Fully-qualified type used.
    pub type_name: Option<String>,
    /// Where the type comes from, when not from the schemas given.
    pub type_source: Option<String>,
    /// Schema decode.
    pub json: Option<Json>,
    /// Schemaless decode.
    pub fields: Option<Value>,
    /// Why it was not decoded (or decoded only partly).
    pub error: Option<String>,
    /// Fields outside the schema.
    pub unknown_fields: usize,
    /// Size after decompression, when compressed.
    pub decompressed: Option<usize>,
    /// Where rendering stopped when the budget ran out.
    pub truncated: Option<String>,
}

impl Decoder {
    /// A decoder with `schema` and nothing learned yet.
    pub fn new(
        schema: Schema,
        max_decompressed: usize,
        redact: Option<std::sync::Arc<crate::analysis::redact::Redactor>>,
        max_rendered: usize,
    ) -> Self {
        Decoder { schema, learned: BTreeMap::new(), max_decompressed, redact, max_rendered, json_text: false }
    }

    /// Takes in the files `server` sent over reflection; how many were added.
    pub fn learn(&mut self, server: SocketAddr, files: &[bytes::Bytes]) -> usize {
        let base = &self.schema;
        self.learned.entry(server).or_insert_with(|| base.clone()).learn(files)
    }

    /// The schema that applies to calls to `server`.
    pub fn schema_for(&self, server: SocketAddr) -> &Schema {
        self.learned.get(&server).unwrap_or(&self.schema)
    }

    /// The request and response types of `call`'s method, and where they
    /// come from when not from the schemas given: `reflection from SERVER`.
    pub fn method_types(&self, call: &Call) -> Option<(MessageDescriptor, MessageDescriptor, Option<String>)> {
        let (path, _) = call.resolved_method()?;
        if let Some((i, o)) = self.schema.method(&path) {
            return Some((i, o, None));
        }
        let (i, o) = self.learned.get(&call.server)?.method(&path)?;
        Some((i, o, Some(format!("reflection from {}", call.server))))
    }

    /// A rendering budget for one record (`--max-rendered-size`).
    pub fn budget(&self) -> RenderBudget {
        RenderBudget::new(self.max_rendered)
    }

    /// Decodes message `m` of `call`, from the client when `request`, with
    /// a budget of its own.
    pub fn message(&self, call: &Call, m: &Message, request: bool) -> Decoded {
        self.message_within(call, m, request, &mut self.budget())
    }

    /// A call's first request on one line, for the lists: JSON with a
    /// schema, `protoc --decode_raw` style without, the error otherwise;
    /// empty when there was no request. A line of `chars` needs little of
    /// the message rendered, so the budget is small whatever the message.
    pub fn first_request(&self, call: &Call, chars: usize) -> String {
        const SUMMARY_RENDER_BYTES: usize = 64 << 10;
        let Some(m) = call.requests.first() else { return String::new() };
        let d = self.message_within(call, m, true, &mut RenderBudget::new(SUMMARY_RENDER_BYTES));
        match (&d.json, &d.fields, &d.error) {
            (Some(j), _, _) => j.to_string(),
            (None, Some(f), _) => format!("(no schema) {}", super::raw_text::one_line(f, chars)),
            (None, None, Some(e)) => format!("({e})"),
            _ => String::new(),
        }
    }

    /// Decodes message `m` spending from `budget`, which the messages of
    /// one record share.
    pub fn message_within(&self, call: &Call, m: &Message, request: bool, budget: &mut RenderBudget) -> Decoded {
        let mut d = self.decode_message(call, m, request, budget);
        if let Some(r) = self.redact.as_ref().filter(|r| r.has_fields()) {
            if let Some(Json::Tree(j)) = &mut d.json {
                r.json(j);
            }
            if d.fields.take().is_some() {
                // Without a schema there are no names to find the fields by.
                d.error = Some("withheld by --redact-field: no schema gives this message's field names".into());
            }
        }
        d
    }

    /// The bytes of message `m` as sent before compression: decompressed
    /// when its prefix says so, within the size limit.
    pub fn plain_bytes(&self, call: &Call, m: &Message, request: bool) -> Result<(Vec<u8>, Option<usize>), String> {
        let Some(raw) = &m.data else {
            return Err(m.error.clone().unwrap_or_else(|| "not captured".into()));
        };
        if !m.compressed {
            return Ok((raw.to_vec(), None));
        }
        let enc = call.encoding(request);
        match enc.as_deref().and_then(Codec::from_header) {
            Some(c) => match decompress(c, raw, self.max_decompressed) {
                Ok(b) => {
                    let n = b.len();
                    Ok((b, Some(n)))
                }
                Err(e) => Err(format!("{} decompression failed: {e}", enc.unwrap_or_default())),
            },
            None => Err(match enc {
                Some(e) => format!("compressed with unsupported grpc-encoding {e:?}"),
                None => "the compressed flag is set but no grpc-encoding header says how".into(),
            }),
        }
    }

    fn decode_message(&self, call: &Call, m: &Message, request: bool, budget: &mut RenderBudget) -> Decoded {
        let types = self.method_types(call);
        let type_source = types.as_ref().and_then(|(_, _, s)| s.clone());
        let desc = types.map(|(i, o, _)| if request { i } else { o });
        let schema = self.schema_for(call.server);
        let mut d = Decoded {
            type_name: desc.as_ref().map(|x| x.full_name().to_string()),
            type_source,
            json: None,
            fields: None,
            error: m.error.clone(),
            unknown_fields: 0,
            decompressed: None,
            truncated: None,
        };
        let bytes = match self.plain_bytes(call, m, request) {
            Ok((b, decompressed)) => {
                d.decompressed = decompressed;
                b
            }
            Err(e) => {
                d.error = Some(e);
                return d;
            }
        };
        if call.content_type().is_some_and(|ct| ct.contains("+json")) {
            // JSON renders to about its own size.
            if !budget.spend(bytes.len()) {
                d.truncated = Some(budget.truncated(0, bytes.len()));
                return d;
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => d.json = Some(Json::Tree(v)),
                Err(e) => d.error = Some(format!("application/grpc+json message is not JSON: {e}")),
            }
            return d;
        }
        let before = budget.left();
        // Redaction walks trees: text only when no field is to be hashed.
        let text = self.json_text && self.redact.as_ref().is_none_or(|r| !r.has_fields());
        if let Some(desc) = &desc {
            match schema.decode_within(desc, &bytes, budget, text) {
                Ok((v, unknown, truncated)) => {
                    d.json = Some(v);
                    d.unknown_fields = unknown;
                    d.truncated = truncated;
                    return d;
                }
                Err(e) => {
                    d.error = Some(e);
                    budget.restore(before);
                }
            }
        }
        match schemaless::decode_within(&bytes, budget) {
            Ok((f, truncated)) => {
                d.fields = Some(f);
                d.truncated = truncated;
            }
            // The schema's complaint, when there was one, says more.
            Err(e) if desc.is_none() => d.error = Some(e),
            Err(_) => {}
        }
        d
    }
}
