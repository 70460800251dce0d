//! A call's messages decoded for display: schema, JSON (`+json`
//! calls), or the schemaless fallback; decompressed first.

use crate::grpc::message::{decompress, Codec};
use crate::grpc::{Call, Message};
use crate::proto::{schemaless, Schema};
use serde_json::Value;

/// How a call's messages are shown.
pub struct Decoder {
    /// Known schemas (grows with reflection traffic).
    pub schema: Schema,
    /// Largest decompressed message.
    pub max_decompressed: usize,
    /// `--redact-field`: message fields hashed as messages are rendered.
    pub redact: Option<std::sync::Arc<crate::analysis::redact::Redactor>>,
}

/// A message decoded for output.
pub struct Decoded {
    /// Fully-qualified type used.
    pub type_name: Option<String>,
    /// Schema decode.
    pub json: Option<Value>,
    /// Schemaless decode.
    pub fields: Option<Value>,
    /// Why it was not decoded (or decoded only partly).
    pub error: Option<String>,
    /// Fields outside the schema.
    pub unknown_fields: usize,
    /// Size after decompression, when compressed.
    pub decompressed: Option<usize>,
}

impl Decoder {
    /// Decodes message `m` of `call`, from the client when `request`.
    pub fn message(&self, call: &Call, m: &Message, request: bool) -> Decoded {
        let mut d = self.decode_message(call, m, request);
        if let Some(r) = self.redact.as_ref().filter(|r| r.has_fields()) {
            if let Some(j) = &mut d.json {
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

    fn decode_message(&self, call: &Call, m: &Message, request: bool) -> Decoded {
        let types = call.resolved_method().and_then(|(p, _)| self.schema.method(&p));
        let desc = types.map(|(i, o)| if request { i } else { o });
        let mut d = Decoded {
            type_name: desc.as_ref().map(|x| x.full_name().to_string()),
            json: None,
            fields: None,
            error: m.error.clone(),
            unknown_fields: 0,
            decompressed: None,
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
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => d.json = Some(v),
                Err(e) => d.error = Some(format!("application/grpc+json message is not JSON: {e}")),
            }
            return d;
        }
        match &desc {
            Some(desc) => match self.schema.decode(desc, &bytes) {
                Ok((v, unknown)) => {
                    d.json = Some(v);
                    d.unknown_fields = unknown;
                }
                Err(e) => {
                    d.error = Some(e);
                    d.fields = schemaless::decode(&bytes).ok();
                }
            },
            None => match schemaless::decode(&bytes) {
                Ok(f) => d.fields = Some(f),
                Err(e) => d.error = Some(e),
            },
        }
        d
    }
}
