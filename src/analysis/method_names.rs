//! One shared allocation per method name, for analyses that keep many calls.

use std::sync::Arc;

use ahash::AHashMap;

use crate::grpc::Call;

/// Distinct method names shared at most (hostile input can invent a path per call).
const MAX_METHODS: usize = 10_000;

/// Interns method names so a million calls to one method hold one string.
#[derive(Debug, Default)]
pub struct MethodNames {
    names: AHashMap<String, Arc<str>>,
}

impl MethodNames {
    /// The call's method (its lossy rendering when not UTF-8), shared with every
    /// earlier call of the same name while fewer than [`MAX_METHODS`] are known.
    pub fn of(&mut self, call: &Call) -> Option<Arc<str>> {
        let Some(m) = call.method_str() else { return call.method().map(Arc::from) };
        if let Some(shared) = self.names.get(m) {
            return Some(shared.clone());
        }
        let shared: Arc<str> = Arc::from(m);
        if self.names.len() < MAX_METHODS {
            self.names.insert(m.to_string(), shared.clone());
        }
        Some(shared)
    }
}
