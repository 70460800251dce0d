//! Methods of calls whose `:path` is an HPACK entry inserted before the
//! capture, recovered from evidence and labelled by it (calls JSON
//! `method_source`), never guessed:
//!
//! - **peer**: the same request bytes were seen on another connection of
//!   the capture whose `:path` was decoded (a proxy's other leg, another
//!   connection of the same client);
//! - **schema**: of the schema's methods exactly one fits every call that
//!   shares the `:path` entry: its input type parses every request and its
//!   output type every response with matching wire types and no unknown
//!   field, and its streaming kind allows the message counts. When several
//!   fit, they are all listed and the method stays unknown.
//!
//! Calls sharing an entry called the same method ([`MethodKey`]), so the
//! evidence of one call holds for the group. The resolver only learns from
//! calls it is shown: a printer that holds the group's calls until the end
//! of the capture gives every call the whole group's evidence.

use super::message::Decoder;
use crate::grpc::{Call, MethodInference, MethodKey, MethodSource};
use crate::proto::MethodInfo;
use crate::tcp::ConnId;
use ahash::AHashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;

/// Request fingerprints remembered for peer evidence, at most.
const MAX_PEER_REQUESTS: usize = 1_000_000;

/// Groups of calls that share a `:path` entry remembered, at most.
const MAX_GROUPS: usize = 100_000;

/// What the calls of one group have shown so far.
#[derive(Debug, Clone, Default)]
struct Group {
    /// Schema methods that fit every call seen; `None` before the first.
    fitting: Option<Vec<usize>>,
    /// The method peers named for a request of the group; `Err` when two disagreed.
    peer: Option<Result<String, ()>>,
}

/// Learns from calls and resolves the methods of those without `:path`.
pub struct MethodResolver {
    /// The methods of the schemas given; `learned`: of each server that
    /// answered reflection (with the given ones).
    methods: Vec<MethodInfo>,
    learned: AHashMap<SocketAddr, Vec<MethodInfo>>,
    groups: AHashMap<(ConnId, MethodKey), Group>,
    /// First request's bytes (fingerprint) -> (method, connection), from calls whose `:path` was decoded.
    peers: AHashMap<u64, (String, ConnId)>,
}

impl MethodResolver {
    /// A resolver for the methods `decoder`'s schema knows now.
    pub fn new(decoder: &Decoder) -> Self {
        MethodResolver {
            methods: decoder.schema.methods(),
            learned: learned_methods(decoder),
            groups: AHashMap::new(),
            peers: AHashMap::new(),
        }
    }

    /// The methods a call to `server` may have called.
    fn methods_for(&self, server: SocketAddr) -> &[MethodInfo] {
        self.learned.get(&server).unwrap_or(&self.methods)
    }

    /// The schema grew (reflection traffic): its methods are candidates too.
    /// What was learned about the groups so far no longer covers them all.
    pub fn refresh(&mut self, decoder: &Decoder) {
        let methods = decoder.schema.methods();
        let learned = learned_methods(decoder);
        let count = |l: &AHashMap<SocketAddr, Vec<MethodInfo>>| l.values().map(Vec::len).sum::<usize>();
        if methods.len() != self.methods.len() || count(&learned) != count(&self.learned) {
            self.methods = methods;
            self.learned = learned;
            for g in self.groups.values_mut() {
                g.fitting = None;
            }
        }
    }

    /// Takes in the evidence of one call.
    pub fn observe(&mut self, decoder: &Decoder, call: &Call) {
        if let Some(path) = call.method_str() {
            if let Some(fp) = first_request(decoder, call) {
                if self.peers.len() < MAX_PEER_REQUESTS {
                    self.peers.entry(fp).or_insert_with(|| (path.to_string(), call.conn));
                }
            }
            return;
        }
        let Some(key) = call.method_key() else { return };
        if !self.groups.contains_key(&(call.conn, key.clone())) && self.groups.len() >= MAX_GROUPS {
            return;
        }
        let peer = first_request(decoder, call)
            .and_then(|fp| self.peers.get(&fp))
            .filter(|(_, conn)| *conn != call.conn)
            .map(|(m, _)| m.clone());
        let group = (call.conn, key);
        // Only the methods still in the running are tried again.
        let before = self.groups.get(&group).and_then(|g| g.fitting.clone());
        let tried: Vec<usize> = before.unwrap_or_else(|| (0..self.methods_for(call.server).len()).collect());
        let fits: Vec<usize> = tried.into_iter().filter(|&i| self.fits(decoder, call, i)).collect();
        let g = self.groups.entry(group).or_default();
        g.fitting = Some(fits);
        if let Some(m) = peer {
            g.peer = match g.peer.take() {
                None => Some(Ok(m)),
                Some(Ok(before)) if before == m => Some(Ok(before)),
                Some(_) => Some(Err(())),
            };
        }
    }

    /// What the evidence says about `call`'s method; `None` when its
    /// `:path` was decoded or nothing is known.
    pub fn resolve(&self, call: &Call) -> Option<MethodInference> {
        let key = call.method_key()?;
        let g = self.groups.get(&(call.conn, key))?;
        if let Some(Ok(m)) = &g.peer {
            return Some(MethodInference {
                method: Some(m.clone()),
                source: MethodSource::Peer,
                candidates: Vec::new(),
            });
        }
        let fitting = g.fitting.as_ref()?;
        let methods = self.methods_for(call.server);
        let names: Vec<String> = fitting.iter().filter_map(|&i| methods.get(i)).map(|m| m.path.clone()).collect();
        match names.as_slice() {
            [] => None,
            [only] => Some(MethodInference {
                method: Some(only.clone()),
                source: MethodSource::Schema,
                candidates: Vec::new(),
            }),
            _ => Some(MethodInference { method: None, source: MethodSource::Schema, candidates: names }),
        }
    }

    /// Whether method `i` fits every message of `call` and its counts.
    fn fits(&self, decoder: &Decoder, call: &Call, i: usize) -> bool {
        let Some(m) = self.methods_for(call.server).get(i) else { return false };
        let schema = decoder.schema_for(call.server);
        if (!m.client_streaming && call.requests.len() > 1) || (!m.server_streaming && call.responses.len() > 1) {
            return false;
        }
        let all = |msgs: &[crate::grpc::Message], request: bool, desc: &prost_reflect::MessageDescriptor| {
            msgs.iter().all(|msg| match decoder.plain_bytes(call, msg, request) {
                Ok((bytes, _)) => schema.fits(desc, &bytes),
                // A message not captured whole is no evidence either way.
                Err(_) => true,
            })
        };
        all(&call.requests, true, &m.input) && all(&call.responses, false, &m.output)
    }
}

/// The methods of each server's learned schema.
fn learned_methods(decoder: &Decoder) -> AHashMap<SocketAddr, Vec<MethodInfo>> {
    decoder.learned.iter().map(|(server, schema)| (*server, schema.methods())).collect()
}

/// A fingerprint of a call's first request message as sent.
fn first_request(decoder: &Decoder, call: &Call) -> Option<u64> {
    let m = call.requests.first()?;
    let hash = |bytes: &[u8]| {
        // An empty message is what every method may send: no evidence.
        (!bytes.is_empty()).then(|| {
            let mut h = ahash::RandomState::with_seeds(5, 6, 7, 8).build_hasher();
            h.write(bytes);
            h.finish()
        })
    };
    match &m.data {
        // Hashed where it lies: most messages are not compressed.
        Some(raw) if !m.compressed => hash(raw),
        _ => hash(&decoder.plain_bytes(call, m, true).ok()?.0),
    }
}
