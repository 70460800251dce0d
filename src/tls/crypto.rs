//! Keys from secrets, and record decryption: the TLS 1.3 key schedule's
//! HKDF-Expand-Label (RFC 8446 §7.1), the TLS 1.2 PRF (RFC 5246 §5), and
//! the AEAD ciphers HTTP/2 permits. Every primitive is RustCrypto's
//! (aes-gcm, chacha20poly1305, hkdf, hmac, sha2); nothing here is our own
//! cryptography, only the TLS framing around it.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// The cipher suites decrypted: TLS 1.3's three and TLS 1.2's ECDHE AEAD
/// suites (RFC 7540 §9.2.2 forbids the rest for HTTP/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// TLS 1.3 or a TLS 1.2 ECDHE suite with AES-128-GCM and SHA-256.
    Aes128GcmSha256,
    /// AES-256-GCM with SHA-384.
    Aes256GcmSha384,
    /// ChaCha20-Poly1305 with SHA-256.
    ChaCha20Poly1305Sha256,
}

impl Suite {
    /// The suite a ServerHello chose, if it is one we decrypt.
    pub fn from_id(id: u16) -> Option<Suite> {
        Some(match id {
            0x1301 | 0xc02b | 0xc02f => Suite::Aes128GcmSha256,
            0x1302 | 0xc02c | 0xc030 => Suite::Aes256GcmSha384,
            0x1303 | 0xcca8 | 0xcca9 => Suite::ChaCha20Poly1305Sha256,
            _ => return None,
        })
    }

    /// The AEAD key's length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Suite::Aes128GcmSha256 => 16,
            Suite::Aes256GcmSha384 | Suite::ChaCha20Poly1305Sha256 => 32,
        }
    }

    fn sha384(self) -> bool {
        self == Suite::Aes256GcmSha384
    }

    /// TLS 1.2 AES-GCM carries an 8-byte explicit nonce in each record
    /// (RFC 5288); ChaCha20-Poly1305 does not (RFC 7905).
    fn tls12_explicit_nonce(self) -> bool {
        self != Suite::ChaCha20Poly1305Sha256
    }
}

/// The cipher, keyed.
enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Aead {
    fn new(suite: Suite, key: &[u8]) -> Option<Aead> {
        Some(match suite {
            Suite::Aes128GcmSha256 => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            Suite::Aes256GcmSha384 => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            Suite::ChaCha20Poly1305Sha256 => Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?)),
        })
    }

    /// Decrypts `buf` (ciphertext then a 16-byte tag) in place; the plaintext length.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<usize> {
        let n = buf.len().checked_sub(TAG_LEN)?;
        let (text, tag) = buf.split_at_mut(n);
        let ok = match self {
            Aead::Aes128(c) => open_with(c.as_ref(), nonce, aad, text, tag),
            Aead::Aes256(c) => open_with(c.as_ref(), nonce, aad, text, tag),
            Aead::ChaCha(c) => open_with(c.as_ref(), nonce, aad, text, tag),
        };
        ok.then_some(n)
    }
}

fn open_with<A: AeadInOut>(cipher: &A, nonce: &[u8; 12], aad: &[u8], text: &mut [u8], tag: &[u8]) -> bool {
    let (Ok(nonce), Ok(tag)) =
        (aes_gcm::aead::Nonce::<A>::try_from(&nonce[..]), aes_gcm::aead::Tag::<A>::try_from(tag))
    else {
        return false;
    };
    cipher.decrypt_inout_detached(&nonce, aad, text.into(), &tag).is_ok()
}

/// Bytes of the AEAD tag every suite here appends.
pub const TAG_LEN: usize = 16;

/// The TLS version a direction's records are protected by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Tls12,
    Tls13,
}

/// One direction's record protection: the keyed cipher, its IV and the
/// record sequence number.
pub struct RecordKeys {
    aead: Aead,
    iv: [u8; 12],
    seq: u64,
    suite: Suite,
    version: Version,
    /// TLS 1.3: the traffic secret, for KeyUpdate.
    secret: Vec<u8>,
}

/// Why a record could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than its nonce and tag.
    TooShort,
    /// The tag did not verify: a wrong key, or bytes damaged or missing.
    Authentication,
}

impl RecordKeys {
    /// TLS 1.3 keys from a traffic secret (RFC 8446 §7.3).
    pub fn tls13(suite: Suite, secret: &[u8]) -> Option<RecordKeys> {
        let key = expand_label(suite, secret, b"key", &[], suite.key_len())?;
        let iv: [u8; 12] = expand_label(suite, secret, b"iv", &[], 12)?.try_into().ok()?;
        Some(RecordKeys {
            aead: Aead::new(suite, &key)?,
            iv,
            seq: 0,
            suite,
            version: Version::Tls13,
            secret: secret.to_vec(),
        })
    }

    /// The keys after a KeyUpdate (RFC 8446 §7.2): the next traffic secret's.
    pub fn updated(&self) -> Option<RecordKeys> {
        let len = if self.suite.sha384() { 48 } else { 32 };
        let next = expand_label(self.suite, &self.secret, b"traffic upd", &[], len)?;
        RecordKeys::tls13(self.suite, &next)
    }

    /// TLS 1.2 keys of both directions from the master secret (RFC 5246
    /// §6.3): (client's, server's).
    pub fn tls12(
        suite: Suite,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Option<(RecordKeys, RecordKeys)> {
        let (key_len, iv_len) = (suite.key_len(), if suite.tls12_explicit_nonce() { 4 } else { 12 });
        let seed = [&server_random[..], &client_random[..]].concat();
        let block = prf12(suite, master, b"key expansion", &seed, 2 * (key_len + iv_len))?;
        let (client_key, rest) = block.split_at(key_len);
        let (server_key, rest) = rest.split_at(key_len);
        let (client_iv, server_iv) = rest.split_at(iv_len);
        let keys = |key: &[u8], salt: &[u8]| {
            let mut iv = [0u8; 12];
            iv.get_mut(..salt.len())?.copy_from_slice(salt);
            Some(RecordKeys {
                aead: Aead::new(suite, key)?,
                iv,
                seq: 0,
                suite,
                version: Version::Tls12,
                secret: Vec::new(),
            })
        };
        Some((keys(client_key, client_iv)?, keys(server_key, server_iv)?))
    }

    /// Decrypts one record's body in place. `header` is its 5-byte header.
    /// Returns the range of the plaintext in `body`, and for TLS 1.3 the
    /// inner content type (the padding stripped).
    pub fn open(
        &mut self,
        header: &[u8; 5],
        body: &mut [u8],
    ) -> Result<(std::ops::Range<usize>, Option<u8>), OpenError> {
        let seq = self.seq;
        let result = match self.version {
            Version::Tls13 => self.open13(header, body),
            Version::Tls12 => self.open12(header, body),
        };
        if result.is_ok() {
            self.seq = seq.wrapping_add(1);
        }
        result
    }

    fn open13(&self, header: &[u8; 5], body: &mut [u8]) -> Result<(std::ops::Range<usize>, Option<u8>), OpenError> {
        if body.len() <= TAG_LEN {
            return Err(OpenError::TooShort);
        }
        let nonce = xor_seq(&self.iv, self.seq);
        let n = self.aead.open(&nonce, header, body).ok_or(OpenError::Authentication)?;
        // TLSInnerPlaintext: content, the real type, then zero padding.
        let end = body.get(..n).and_then(|p| p.iter().rposition(|b| *b != 0)).ok_or(OpenError::Authentication)?;
        Ok((0..end, body.get(end).copied()))
    }

    fn open12(&self, header: &[u8; 5], body: &mut [u8]) -> Result<(std::ops::Range<usize>, Option<u8>), OpenError> {
        let explicit = if self.suite.tls12_explicit_nonce() { 8 } else { 0 };
        let text_len = body.len().checked_sub(explicit + TAG_LEN).ok_or(OpenError::TooShort)?;
        let nonce = if explicit == 8 {
            let mut n = self.iv;
            n.get_mut(4..12).ok_or(OpenError::TooShort)?.copy_from_slice(body.get(..8).ok_or(OpenError::TooShort)?);
            n
        } else {
            xor_seq(&self.iv, self.seq)
        };
        // additional_data: seq_num, type, version, plaintext length.
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&self.seq.to_be_bytes());
        aad[8..11].copy_from_slice(&header[..3]);
        aad[11..].copy_from_slice(&(text_len as u16).to_be_bytes());
        let sealed = body.get_mut(explicit..).ok_or(OpenError::TooShort)?;
        self.aead.open(&nonce, &aad, sealed).ok_or(OpenError::Authentication)?;
        Ok((explicit..explicit + text_len, None))
    }
}

fn xor_seq(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut nonce = *iv;
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

/// HKDF-Expand-Label(secret, label, context, len) with the suite's hash.
pub fn expand_label(suite: Suite, secret: &[u8], label: &[u8], context: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut info = Vec::with_capacity(4 + 6 + label.len() + context.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(6 + label.len()).ok()?);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(u8::try_from(context.len()).ok()?);
    info.extend_from_slice(context);
    let mut out = vec![0u8; len];
    if suite.sha384() {
        hkdf::Hkdf::<Sha384>::from_prk(secret).ok()?.expand(&info, &mut out).ok()?;
    } else {
        hkdf::Hkdf::<Sha256>::from_prk(secret).ok()?.expand(&info, &mut out).ok()?;
    }
    Some(out)
}

/// The TLS 1.2 PRF: P_SHA256 or P_SHA384 (the suite's) of `label || seed`.
pub fn prf12(suite: Suite, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    if suite.sha384() {
        p_hash::<Hmac<Sha384>>(secret, &[label, seed].concat(), len)
    } else {
        p_hash::<Hmac<Sha256>>(secret, &[label, seed].concat(), len)
    }
}

fn p_hash<M: Mac + hmac::digest::KeyInit + Clone>(secret: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    let keyed = <M as hmac::digest::KeyInit>::new_from_slice(secret).ok()?;
    let mut out = Vec::with_capacity(len + 64);
    let mut a = seed.to_vec();
    while out.len() < len {
        let mut m = keyed.clone();
        m.update(&a);
        a = m.finalize().into_bytes().to_vec();
        let mut m = keyed.clone();
        m.update(&a);
        m.update(seed);
        out.extend_from_slice(&m.finalize().into_bytes());
    }
    out.truncate(len);
    Some(out)
}

#[cfg(test)]
mod tests;
