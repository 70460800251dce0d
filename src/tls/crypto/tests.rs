use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// RFC 8448 §3 (simple 1-RTT handshake): the server handshake traffic
/// secret and the write key and IV derived from it.
#[test]
fn rfc8448_server_handshake_key_and_iv() {
    let secret =
        unhex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38");
    let suite = Suite::Aes128GcmSha256;
    assert_eq!(
        expand_label(suite, &secret, b"key", &[], 16).unwrap(),
        unhex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
    );
    assert_eq!(expand_label(suite, &secret, b"iv", &[], 12).unwrap(), unhex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
}

/// A record sealed with RustCrypto's AES-GCM under TLS 1.3's nonce and
/// additional data opens, with its inner type and padding stripped; a
/// flipped bit is an authentication failure; the sequence number advances.
#[test]
fn tls13_records_open_in_sequence() {
    let secret = [7u8; 32];
    let suite = Suite::Aes128GcmSha256;
    let key = expand_label(suite, &secret, b"key", &[], 16).unwrap();
    let iv: [u8; 12] = expand_label(suite, &secret, b"iv", &[], 12).unwrap().try_into().unwrap();
    let cipher = Aes128Gcm::new_from_slice(&key).unwrap();
    let seal = |seq: u64, inner: &[u8]| {
        let header = [23u8, 3, 3, 0, (inner.len() + TAG_LEN) as u8];
        let mut buf = inner.to_vec();
        let nonce = aes_gcm::aead::Nonce::<Aes128Gcm>::try_from(&xor_seq(&iv, seq)[..]).unwrap();
        let tag = cipher.encrypt_inout_detached(&nonce, &header, buf.as_mut_slice().into()).unwrap();
        buf.extend_from_slice(&tag);
        (header, buf)
    };
    let mut keys = RecordKeys::tls13(suite, &secret).unwrap();
    for (seq, text) in [(0u64, &b"hello"[..]), (1, b"world")] {
        let (header, mut body) = seal(seq, &[text, &[23, 0, 0]].concat());
        let (range, kind) = keys.open(&header, &mut body).unwrap();
        assert_eq!((&body[range], kind), (text, Some(23)));
    }
    let (header, mut body) = seal(2, b"x\x17");
    body[0] ^= 1;
    assert_eq!(keys.open(&header, &mut body), Err(OpenError::Authentication));
    let (header, mut body) = seal(2, b"x\x17");
    assert!(keys.open(&header, &mut body).is_ok(), "a failed record does not advance the sequence");
}

/// TLS 1.2 AES-GCM: the explicit nonce in the record, the sequence number
/// and plaintext length in the additional data.
#[test]
fn tls12_gcm_records_open() {
    let suite = Suite::Aes256GcmSha384;
    let (client, server_random) = ([1u8; 32], [2u8; 32]);
    let master = [9u8; 48];
    let (mut c, _) = RecordKeys::tls12(suite, &master, &client, &server_random).unwrap();
    let block = prf12(suite, &master, b"key expansion", &[&server_random[..], &client[..]].concat(), 72).unwrap();
    let cipher = Aes256Gcm::new_from_slice(&block[..32]).unwrap();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&block[64..68]);
    nonce[4..].copy_from_slice(&[5; 8]);
    let text = b"PRI * HTTP/2.0";
    let mut aad = vec![0u8; 8];
    aad.extend_from_slice(&[23, 3, 3, 0, text.len() as u8]);
    let mut sealed = text.to_vec();
    let n = aes_gcm::aead::Nonce::<Aes256Gcm>::try_from(&nonce[..]).unwrap();
    let tag = cipher.encrypt_inout_detached(&n, &aad, sealed.as_mut_slice().into()).unwrap();
    let mut body = [&[5u8; 8][..], &sealed, &tag].concat();
    let header = [23u8, 3, 3, 0, body.len() as u8];
    let (range, kind) = c.open(&header, &mut body).unwrap();
    assert_eq!((&body[range], kind), (&text[..], None));
}

/// RFC 5246's PRF, checked against the published P_SHA256 test vector
/// (the IETF TLS list's, used by many implementations).
#[test]
fn prf_sha256_vector() {
    let secret = unhex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
    let seed = unhex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
    let out = prf12(Suite::Aes128GcmSha256, &secret, b"test label", &seed, 16).unwrap();
    assert_eq!(out, unhex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53"));
}
