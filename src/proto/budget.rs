//! What rendering a message may cost. A few kilobytes of gzip inflate to
//! 60 MiB of two-byte fields, which as JSON trees are gigabytes: the size
//! limit on a message does not bound what showing it takes. A budget does:
//! an estimate of the memory its rendering takes (the JSON tree and its
//! text), counted on the wire before anything is built, shared by every
//! message of one record.

use super::wire::{self, Value, WireType};
use prost_reflect::{Kind, MessageDescriptor};

/// The default budget: 64 MiB per call.
pub const DEFAULT_RENDER_BYTES: usize = 64 << 20;

/// Nesting deeper than this is not descended into (shown as bytes or not
/// decoded, never a stack overflow): deeper JSON also breaks its readers
/// (Python's json module stops near 1,000 levels).
pub const MAX_NESTING: usize = 32;

/// Memory one rendered schemaless field takes beyond its strings (a JSON
/// object of five members), measured on json_amplification.pcap.gz.
const SCHEMALESS_FIELD_COST: usize = 1024;
/// Memory one value of a schema decode takes (the message's value and its JSON).
const SCHEMA_VALUE_COST: usize = 96;

/// Rendering left for one record (`--max-rendered-size`).
#[derive(Debug, Clone)]
pub struct RenderBudget {
    left: usize,
    limit: usize,
}

impl RenderBudget {
    /// A budget of `limit` bytes of rendered output.
    pub fn new(limit: usize) -> Self {
        RenderBudget { left: limit, limit }
    }

    /// Spends `cost`; `false` (nothing spent) when that would overdraw it.
    pub fn spend(&mut self, cost: usize) -> bool {
        match self.left.checked_sub(cost) {
            Some(left) => {
                self.left = left;
                true
            }
            None => false,
        }
    }

    /// What is left.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Puts back what an abandoned attempt spent (a nested reading that did not parse).
    pub fn restore(&mut self, left: usize) {
        self.left = left.min(self.limit);
    }

    /// The limit, for the marker that says it was reached.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The marker for output cut at byte `at` of `total`.
    pub fn truncated(&self, at: usize, total: usize) -> String {
        format!(
            "rendered up to byte {at} of {total}: the call's rendered messages reached --max-rendered-size ({} bytes)",
            self.limit
        )
    }
}

/// The cost of rendering one schemaless field whose strings take `len` bytes.
pub fn schemaless_cost(len: usize) -> usize {
    SCHEMALESS_FIELD_COST + len.saturating_mul(2)
}

/// How much of `bytes` (a `desc`) fits the budget: the length of the
/// longest prefix of whole top-level fields whose rendering it pays for
/// (spent from `budget`), or `None` when the message fits whole. Counted on
/// the wire, before anything is decoded: packed numbers count one value
/// each, nested messages their own fields, strings their length.
pub fn schema_prefix(bytes: &[u8], desc: &MessageDescriptor, budget: &mut RenderBudget) -> Option<usize> {
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let Some((number, wt, value)) = wire::field(bytes, &mut at) else {
            // Malformed: the decoder says so; the budget has nothing to add.
            return None;
        };
        let kind = desc.get_field(number).map(|f| f.kind());
        if !budget.spend(field_cost(wt, value, kind.as_ref())) {
            return Some(start);
        }
    }
    None
}

/// The rendering cost of one field of `kind` (unknown: `None`).
fn field_cost(wt: WireType, value: Value<'_>, kind: Option<&Kind>) -> usize {
    match (value, kind) {
        (Value::Len(inner), Some(Kind::Message(m))) => message_cost(inner, m),
        _ => flat_cost(wt, value, kind),
    }
}

/// The cost of a field not descended into (a message counts as its bytes).
fn flat_cost(wt: WireType, value: Value<'_>, kind: Option<&Kind>) -> usize {
    match (value, kind) {
        (Value::Len(inner), Some(k)) if wt == WireType::Len && is_packable(k) => {
            packed_count(inner, k) * SCHEMA_VALUE_COST
        }
        (Value::Len(inner), _) => SCHEMA_VALUE_COST + inner.len().saturating_mul(2),
        _ => SCHEMA_VALUE_COST,
    }
}

/// The cost of a nested message, walked with an explicit stack so that
/// depth costs no native stack; below [`MAX_NESTING`] levels a message
/// costs what its bytes would as base64.
fn message_cost(bytes: &[u8], desc: &MessageDescriptor) -> usize {
    let mut total = SCHEMA_VALUE_COST;
    let mut stack: Vec<(&[u8], MessageDescriptor, usize)> = vec![(bytes, desc.clone(), 0)];
    while let Some((b, d, mut at)) = stack.pop() {
        while at < b.len() {
            let Some((number, wt, value)) = wire::field(b, &mut at) else { break };
            let kind = d.get_field(number).map(|f| f.kind());
            match (value, kind) {
                (Value::Len(inner), Some(Kind::Message(m))) if stack.len() < MAX_NESTING => {
                    total = total.saturating_add(SCHEMA_VALUE_COST);
                    stack.push((b, d.clone(), at));
                    stack.push((inner, m, 0));
                    break;
                }
                (v, k) => total = total.saturating_add(flat_cost(wt, v, k.as_ref())),
            }
        }
    }
    total
}

fn is_packable(k: &Kind) -> bool {
    !matches!(k, Kind::String | Kind::Bytes | Kind::Message(_))
}

/// Values in a packed field of `kind`.
fn packed_count(b: &[u8], k: &Kind) -> usize {
    match k {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => b.len() / 8,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => b.len() / 4,
        // Each varint ends at a byte without the continuation bit.
        _ => b.iter().filter(|x| **x & 0x80 == 0).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_stops_before_overdrawing_and_restores() {
        let mut b = RenderBudget::new(100);
        assert!(b.spend(60));
        assert!(!b.spend(50));
        assert_eq!(b.left(), 40);
        b.restore(100);
        assert_eq!(b.left(), 100);
        assert!(b.truncated(3, 9).contains("byte 3 of 9"));
    }
}
