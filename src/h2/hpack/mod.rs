//! HPACK (RFC 7541): decoding header blocks, keeping for every field how it
//! was encoded, so `frames -v`, the UI and `explain` can show it.

pub mod table;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use serde::Serialize;
use std::ops::Range;
pub use table::{DynamicTable, Entry, Lookup, Slot, STATIC, STATIC_LEN};

/// How a field was represented (RFC 7541 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Representation {
    /// §6.1: the whole field is a table index.
    Indexed,
    /// §6.2.1: a literal, added to the dynamic table.
    IncrementalIndexing,
    /// §6.2.2: a literal, not added to the table.
    WithoutIndexing,
    /// §6.2.3: a literal that intermediaries must never index (sensitive).
    NeverIndexed,
}

impl Representation {
    /// The RFC's name for it.
    pub fn describe(self) -> &'static str {
        match self {
            Representation::Indexed => "indexed",
            Representation::IncrementalIndexing => "literal with incremental indexing",
            Representation::WithoutIndexing => "literal without indexing",
            Representation::NeverIndexed => "literal never indexed",
        }
    }
}

/// How a string literal was encoded (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StringRepr {
    /// Huffman-coded.
    pub huffman: bool,
    /// Bytes on the wire (after the length prefix).
    pub encoded_len: usize,
    /// Bytes once decoded.
    pub decoded_len: usize,
}

/// Everything about how one field was encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldRepr {
    /// The representation.
    pub kind: Representation,
    /// The table index used for the whole field (Indexed) or for its name.
    pub index: Option<u32>,
    /// Whether that index is in the dynamic table (> 61).
    pub dynamic: bool,
    /// The literal name's encoding, when the name was a literal.
    pub name_literal: Option<StringRepr>,
    /// The literal value's encoding, when the value was a literal.
    pub value_literal: Option<StringRepr>,
    /// Entries evicted from the dynamic table by this field's insertion.
    pub evicted: usize,
}

/// One decoded header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// The name, or `None` when it refers to a dynamic entry never seen.
    pub name: Option<Bytes>,
    /// The value, or `None` when it refers to a dynamic entry never seen.
    pub value: Option<Bytes>,
    /// How it was encoded.
    pub repr: FieldRepr,
    /// Its bytes within the header block.
    pub range: Range<usize>,
    /// The entry inserted before the capture that the unknown name (and,
    /// for an indexed field, value) belongs to.
    pub slot: Option<Slot>,
}

impl HeaderField {
    /// The name as text: the unknown entry's slot (`?dyn#3`) when unknown.
    pub fn name_str(&self) -> String {
        match (&self.name, self.slot) {
            (Some(n), _) => String::from_utf8_lossy(n).into_owned(),
            (None, Some(slot)) => slot.to_string(),
            (None, None) => format!("<unknown #{}>", self.repr.index.unwrap_or(0)),
        }
    }

    /// The value as text: the unknown entry's slot when unknown.
    pub fn value_str(&self) -> String {
        match (&self.value, self.slot) {
            (Some(v), _) => String::from_utf8_lossy(v).into_owned(),
            (None, Some(slot)) => slot.to_string(),
            (None, None) => "<unknown>".to_string(),
        }
    }

    /// Whether any part of the field could not be recovered.
    pub fn is_unknown(&self) -> bool {
        self.name.is_none() || self.value.is_none()
    }
}

/// A dynamic table size update found at the start of a block (§6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeUpdate {
    /// The new maximum size.
    pub max_size: u32,
    /// Entries evicted by it.
    pub evicted: usize,
}

/// The result of decoding one header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedBlock {
    /// Fields in wire order (possibly cut short by `error` or the size limit).
    pub fields: Vec<HeaderField>,
    /// Dynamic table size updates at its start.
    pub size_updates: Vec<SizeUpdate>,
    /// Fields that refer to dynamic entries never seen.
    pub unknown: usize,
    /// Fields decoded but not kept because the header list exceeded the limit.
    pub dropped: usize,
    /// Header list size by RFC 7541 §4.1 (names + values + 32 per field).
    pub list_size: usize,
    /// What the kept fields cost in memory: names, values and
    /// [`FIELD_MEMORY`] each (what --max-open-headers counts).
    pub kept_memory: usize,
    /// Why decoding stopped early, if it did.
    pub error: Option<BlockError>,
}

/// What is wrong with an HPACK representation (RFC 7541).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ended inside a representation.
    UnexpectedEnd,
    /// The block ended inside an integer (§5.1).
    IntegerCut,
    /// An integer past 2^32 - 1.
    IntegerOverflow,
    /// An integer encoded in more than 5 bytes.
    IntegerTooLong,
    /// The block ended inside a string literal's length (§5.2).
    StringCut,
    /// A string literal longer than what is left of the block.
    StringPastBlock {
        /// Its declared length.
        len: usize,
    },
    /// A Huffman string that does not decode (§5.2: EOS, bad padding).
    Huffman,
    /// A dynamic table size update after the first field (§4.2).
    SizeUpdateNotFirst {
        /// The size it asked for.
        size: u32,
    },
    /// A size update above the decoder's SETTINGS_HEADER_TABLE_SIZE (§6.3).
    SizeUpdateOverLimit {
        /// The size it asked for.
        size: u32,
        /// The limit.
        limit: usize,
    },
    /// An indexed field whose index is in neither table (§6.1).
    IndexOutsideTable {
        /// The index.
        index: u32,
        /// Dynamic entries there were.
        dynamic_entries: usize,
    },
    /// A literal whose name index is in neither table (§6.2).
    NameIndexOutsideTable {
        /// The index.
        index: u32,
    },
}

impl std::fmt::Display for HpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HpackError::UnexpectedEnd => f.write_str("unexpected end"),
            HpackError::IntegerCut => f.write_str("unexpected end in an integer"),
            HpackError::IntegerOverflow => f.write_str("integer larger than 2^32"),
            HpackError::IntegerTooLong => f.write_str("integer encoding longer than 5 bytes"),
            HpackError::StringCut => f.write_str("unexpected end in a string"),
            HpackError::StringPastBlock { len } => write!(f, "string of {len} bytes runs past the block"),
            HpackError::Huffman => f.write_str("invalid Huffman code (or EOS / bad padding)"),
            HpackError::SizeUpdateNotFirst { size } => {
                write!(f, "dynamic table size update ({size}) after the first field (RFC 7541 §4.2)")
            }
            HpackError::SizeUpdateOverLimit { size, limit } => {
                write!(f, "dynamic table size update to {size} exceeds SETTINGS_HEADER_TABLE_SIZE {limit}")
            }
            HpackError::IndexOutsideTable { index, dynamic_entries } => {
                write!(f, "index {index} is outside the table ({dynamic_entries} dynamic entries)")
            }
            HpackError::NameIndexOutsideTable { index } => write!(f, "name index {index} is outside the table"),
        }
    }
}

/// Where in a header block decoding stopped, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockError {
    /// Offset in the block of the representation that failed.
    pub at: usize,
    /// What was wrong.
    pub error: HpackError,
}

impl std::fmt::Display for BlockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HPACK decoding error at byte {} of the block: {}", self.at, self.error)
    }
}

/// Memory one kept header field takes beyond its name and value: the
/// decoded field, the exchange's copy and the call's (measured on
/// header_amplification.pcap.gz).
pub const FIELD_MEMORY: usize = 256;

/// Memory limits of the decoder.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest dynamic table honoured, whatever a size update asks for.
    pub max_table_size: usize,
    /// Largest header list kept per block; fields past it are counted, not kept.
    pub max_header_list: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_table_size: 64 * 1024, max_header_list: 1024 * 1024 }
    }
}

/// The HPACK decoder of one direction of a connection.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// Its dynamic table.
    pub table: DynamicTable,
    /// SETTINGS_HEADER_TABLE_SIZE of the decoding endpoint: size updates may not exceed it.
    settings_limit: Option<usize>,
    limits: Limits,
    huffman: HuffmanMemo,
}

/// Recently decoded Huffman strings. Encoders that never index a field
/// (h2 never indexes `:path`) send the same Huffman bytes call after call;
/// remembering them turns a decode and an allocation into a lookup.
#[derive(Debug, Clone, Default)]
struct HuffmanMemo {
    slots: Vec<Option<(Bytes, Bytes)>>,
}

impl HuffmanMemo {
    const SLOTS: usize = 64;
    /// Longer strings are rarely repeated and would make the memo large.
    const MAX_LEN: usize = 128;

    fn slot(raw: &[u8]) -> usize {
        let mut h: u32 = 2_166_136_261;
        for b in raw {
            h = (h ^ u32::from(*b)).wrapping_mul(16_777_619);
        }
        h as usize % Self::SLOTS
    }

    /// Decodes `raw`, from the memo when it was seen.
    fn decode(&mut self, raw: &Bytes) -> Result<Bytes, HpackError> {
        let cacheable = raw.len() <= Self::MAX_LEN;
        let slot = Self::slot(raw);
        if cacheable {
            if let Some(Some((k, v))) = self.slots.get(slot) {
                if k == raw {
                    return Ok(v.clone());
                }
            }
        }
        let mut dst = Vec::with_capacity(raw.len() * 8 / 5 + 1);
        httlib_huffman::decode(raw, &mut dst, httlib_huffman::DecoderSpeed::FiveBits)
            .map_err(|_| HpackError::Huffman)?;
        let value = Bytes::from(dst);
        if cacheable {
            if self.slots.is_empty() {
                self.slots = vec![None; Self::SLOTS];
            }
            if let Some(s) = self.slots.get_mut(slot) {
                // Copied: the key must not keep the packet buffer alive.
                *s = Some((Bytes::copy_from_slice(raw), value.clone()));
            }
        }
        Ok(value)
    }
}

/// Default SETTINGS_HEADER_TABLE_SIZE.
pub const DEFAULT_TABLE_SIZE: usize = 4096;

impl Decoder {
    /// A decoder; `complete` when the connection was seen from its start.
    pub fn new(complete: bool, limits: Limits) -> Self {
        // A table that predates the capture may have any size: our own
        // limit bounds it until a size update says.
        let max = if complete { DEFAULT_TABLE_SIZE.min(limits.max_table_size) } else { limits.max_table_size };
        Decoder {
            table: DynamicTable::new(max, complete),
            settings_limit: complete.then_some(DEFAULT_TABLE_SIZE),
            limits,
            huffman: HuffmanMemo::default(),
        }
    }

    /// The decoding endpoint announced SETTINGS_HEADER_TABLE_SIZE = `n`.
    pub fn set_settings_limit(&mut self, n: u32) {
        let n = n as usize;
        self.settings_limit = Some(n);
        if self.table.max_size() > n {
            self.table.set_max_size(n);
        }
    }

    /// Bytes were lost: entries may have been inserted that we did not see.
    pub fn lose_track(&mut self) {
        self.table.lose_track();
        self.settings_limit = None;
    }

    /// Decodes a complete header block.
    pub fn decode(&mut self, block: &Bytes) -> DecodedBlock {
        self.decode_keeping(block, usize::MAX)
    }

    /// Decodes a complete header block, keeping fields while the list is
    /// within --max-header-list and their memory within `memory` bytes;
    /// the rest are decoded (the table needs them) and counted, not kept.
    pub fn decode_keeping(&mut self, block: &Bytes, memory: usize) -> DecodedBlock {
        let mut out = DecodedBlock::default();
        let mut at = 0usize;
        while at < block.len() {
            let start = at;
            match self.field(block, &mut at, out.fields.is_empty() && out.dropped == 0) {
                Ok(Step::SizeUpdate(u)) => out.size_updates.push(u),
                Ok(Step::Field(mut f)) => {
                    f.range = start..at;
                    if f.is_unknown() {
                        out.unknown += 1;
                    }
                    let size = f.name.as_ref().map_or(0, |n| n.len())
                        + f.value.as_ref().map_or(0, |v| v.len())
                        + table::ENTRY_OVERHEAD;
                    out.list_size = out.list_size.saturating_add(size);
                    let cost = size - table::ENTRY_OVERHEAD + FIELD_MEMORY;
                    if out.list_size > self.limits.max_header_list || out.kept_memory + cost > memory || out.dropped > 0
                    {
                        out.dropped += 1;
                    } else {
                        out.kept_memory += cost;
                        out.fields.push(f);
                    }
                }
                Err(e) => {
                    out.error = Some(BlockError { at: start, error: e });
                    // Whatever the rest of the block inserted is unknown now.
                    self.lose_track();
                    break;
                }
            }
        }
        out
    }

    fn field(&mut self, b: &Bytes, at: &mut usize, at_block_start: bool) -> Result<Step, HpackError> {
        let first = *b.get(*at).ok_or(HpackError::UnexpectedEnd)?;
        if first & 0x80 != 0 {
            let index = integer(b, at, 7)?;
            return self.indexed(index).map(Step::Field);
        }
        if first & 0xc0 == 0x40 {
            return self.literal(b, at, 6, Representation::IncrementalIndexing).map(Step::Field);
        }
        if first & 0xe0 == 0x20 {
            let size = integer(b, at, 5)?;
            if !at_block_start {
                return Err(HpackError::SizeUpdateNotFirst { size });
            }
            return self.size_update(size).map(Step::SizeUpdate);
        }
        let kind = if first & 0xf0 == 0x10 { Representation::NeverIndexed } else { Representation::WithoutIndexing };
        self.literal(b, at, 4, kind).map(Step::Field)
    }

    fn indexed(&self, index: u32) -> Result<HeaderField, HpackError> {
        let repr = FieldRepr {
            kind: Representation::Indexed,
            index: Some(index),
            dynamic: index > STATIC_LEN,
            name_literal: None,
            value_literal: None,
            evicted: 0,
        };
        let (name, value, slot) = match self.table.get(index) {
            Lookup::Static(n, v) => {
                (Some(Bytes::from_static(n.as_bytes())), Some(Bytes::from_static(v.as_bytes())), None)
            }
            Lookup::Dynamic(e) => (e.name, Some(e.value), e.name_of),
            Lookup::Unknown(slot) => (None, None, Some(slot)),
            Lookup::Invalid => {
                return Err(HpackError::IndexOutsideTable { index, dynamic_entries: self.table.entries().count() })
            }
        };
        Ok(HeaderField { name, value, repr, range: 0..0, slot })
    }

    fn literal(
        &mut self,
        b: &Bytes,
        at: &mut usize,
        prefix: u8,
        kind: Representation,
    ) -> Result<HeaderField, HpackError> {
        let name_index = integer(b, at, prefix)?;
        let (name, name_literal, slot) = if name_index == 0 {
            let (s, r) = string(b, at, &mut self.huffman)?;
            (Some(s), Some(r), None)
        } else {
            let (name, slot) = match self.table.get(name_index) {
                Lookup::Static(n, _) => (Some(Bytes::from_static(n.as_bytes())), None),
                Lookup::Dynamic(e) => (e.name, e.name_of),
                Lookup::Unknown(slot) => (None, Some(slot)),
                Lookup::Invalid => return Err(HpackError::NameIndexOutsideTable { index: name_index }),
            };
            (name, None, slot)
        };
        let (value, value_literal) = string(b, at, &mut self.huffman)?;
        let mut evicted = 0;
        if kind == Representation::IncrementalIndexing {
            // Copy: the entry outlives the packet buffer the block came from.
            let entry = Entry {
                name: name.as_ref().map(|n| Bytes::copy_from_slice(n)),
                value: Bytes::copy_from_slice(&value),
                name_of: slot,
            };
            evicted = self.table.insert(entry);
        }
        let repr = FieldRepr {
            kind,
            index: (name_index != 0).then_some(name_index),
            dynamic: name_index > STATIC_LEN,
            name_literal,
            value_literal: Some(value_literal),
            evicted,
        };
        Ok(HeaderField { name, value: Some(value), repr, range: 0..0, slot })
    }

    fn size_update(&mut self, size: u32) -> Result<SizeUpdate, HpackError> {
        if let Some(limit) = self.settings_limit {
            if size as usize > limit {
                return Err(HpackError::SizeUpdateOverLimit { size, limit });
            }
        }
        // Memory stays bounded whatever the peer asks for.
        let honoured = (size as usize).min(self.limits.max_table_size);
        let evicted = self.table.set_max_size(honoured);
        Ok(SizeUpdate { max_size: size, evicted })
    }
}

enum Step {
    Field(HeaderField),
    SizeUpdate(SizeUpdate),
}

/// Encodes an integer with an `n`-bit prefix (§5.1); `high` holds the
/// representation's pattern bits above the prefix. Mirrors [`integer`].
pub fn emit_integer(n: u8, high: u8, value: u64) -> Vec<u8> {
    let max = (1u64 << n) - 1;
    if value < max {
        return vec![high | value as u8];
    }
    let mut out = vec![high | max as u8];
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
    out
}

/// A raw (not Huffman-coded) string literal (§5.2).
pub fn emit_string(s: &[u8]) -> Vec<u8> {
    let mut out = emit_integer(7, 0, s.len() as u64);
    out.extend_from_slice(s);
    out
}

/// A literal field with a new name, not indexed (§6.2.2), raw strings:
/// the simplest encoding every decoder accepts.
pub fn literal_without_indexing(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend(emit_string(name));
    out.extend(emit_string(value));
    out
}

/// Decodes an integer with an `n`-bit prefix (§5.1), at most 2^32 - 1.
pub fn integer(b: &[u8], at: &mut usize, n: u8) -> Result<u32, HpackError> {
    let mask: u32 = (1u32 << n) - 1;
    let first = u32::from(*b.get(*at).ok_or(HpackError::IntegerCut)?);
    *at += 1;
    let mut value = first & mask;
    if value < mask {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*at).ok_or(HpackError::IntegerCut)?;
        *at += 1;
        let add = u64::from(byte & 0x7f) << shift;
        let sum = u64::from(value) + add;
        value = u32::try_from(sum).map_err(|_| HpackError::IntegerOverflow)?;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::IntegerTooLong);
        }
    }
}

/// Decodes a string literal (§5.2).
fn string(b: &Bytes, at: &mut usize, memo: &mut HuffmanMemo) -> Result<(Bytes, StringRepr), HpackError> {
    let huffman = b.get(*at).ok_or(HpackError::StringCut)? & 0x80 != 0;
    let len = integer(b, at, 7)? as usize;
    let end = at.checked_add(len).filter(|e| *e <= b.len()).ok_or(HpackError::StringPastBlock { len })?;
    let raw = b.slice(*at..end);
    *at = end;
    let value = if huffman { memo.decode(&raw)? } else { raw };
    let repr = StringRepr { huffman, encoded_len: len, decoded_len: value.len() };
    Ok((value, repr))
}
