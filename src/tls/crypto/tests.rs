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

/// RFC 8448 §3's traffic secrets, as a key log would carry them under the
/// four TLS 1.3 labels.
const RFC8448_SERVER_HANDSHAKE: &str =
    "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38";
const RFC8448_CLIENT_HANDSHAKE: &str =
    "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21";
const RFC8448_CLIENT_TRAFFIC_0: &str =
    "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5";
const RFC8448_SERVER_TRAFFIC_0: &str =
    "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43";

/// RFC 8448 §3's "complete record" bytes.
const RFC8448_SERVER_FLIGHT: &str = "
    17 03 03 02 a2 d1 ff 33 4a 56 f5 bf f6 59 4a 07 cc 87 b5 80 23 3f 50 0f 45 e4 89 e7 f3 3a f3 5e
    df 78 69 fc f4 0a a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96 0b 40 68 90 51 23 ea 78
    b1 11 b4 29 ba 91 91 cd 05 d2 a3 89 28 0f 52 61 34 aa dc 7f c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b
    d9 ae fb 0e 57 f2 71 58 5b 8e a9 bb 35 5c 7c 79 02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57 a6 b9
    d7 47 76 09 ae e6 e1 22 a4 cf 51 42 73 25 25 0c 7d 0e 50 92 89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e
    d6 5b 0e 3c dd 0c ba e8 bf 2d 0b 22 78 12 cb b3 60 98 72 55 cc 74 41 10 c4 53 ba a4 fc d6 10 92
    8d 80 98 10 e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6 a7 3b 70 a2 55 9c 09 ea d6 86 94
    5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d e3 fc f2 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19 05 79 b3 68
    45 96 c9 60 bd 59 6e ea 52 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63 d3 e6 88 61 1e a5 e2 2f
    44 15 cf 95 38 d5 1a 20 0c 27 03 42 72 96 8a 26 4e d6 54 0c 84 83 8d 89 f7 2c 24 46 1a ad 6d 26
    f5 9e ca ba 9a cb bb 31 7b 66 d9 02 f4 f2 92 a3 6a c1 b6 39 c6 37 ce 34 31 17 b6 59 62 22 45 31
    7b 49 ee da 0c 62 58 f1 00 d7 d9 61 ff b1 38 64 7e 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e
    1b 7a 6c 71 78 af 36 87 90 18 e3 f2 52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b f3 02 44 da
    8c 87 c8 43 f5 e5 6e b4 c5 e8 28 0a 2b 48 05 2c f9 3b 16 49 9a 66 db 7c ca 71 e4 59 94 26 f7 d4
    61 e6 6f 99 88 2b d8 9f c5 08 00 be cc a6 2d 6c 74 11 6d bd 29 72 fd a1 fa 80 f8 5d f8 81 ed be
    5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa 48 a1 81 d6 b6 fa 4f 9d 62 d5 13 af bb
    99 2f 2b 99 2f 67 f8 af e6 7f 76 91 3f a3 88 cb 56 30 c8 ca 01 e0 c6 5d 11 c6 6a 1e 2a c4 c8 59
    77 b7 c7 a6 99 9b bf 10 dc 35 ae 69 f5 51 56 14 63 6c 0b 9b 68 c1 9e d2 e3 1c 0b 3b 66 76 30 38
    eb ba 42 f3 b3 8e dc 03 99 f3 a9 f2 3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50 4d e9 3b 5b 84
    5e 27 55 92 c1 23 35 ee 34 0b bc 4f dd d5 02 78 40 16 e4 b3 be 7e f0 4d da 49 f4 b4 40 a3 0c b5
    d2 af 93 98 28 fd 4a e3 79 4e 44 f9 4d f5 a6 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e
    75 0e dc 53 37 0d 2b";
const RFC8448_CLIENT_FINISHED: &str = "
    17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f e9 b9 3c 7a 4b fc
    44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46";
const RFC8448_CLIENT_APPLICATION_DATA: &str = "
    17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc ab 3f
    2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6
    3a ee bb 21 69 49 15 e4";
const RFC8448_SERVER_APPLICATION_DATA: &str = "
    17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa 1b 36
    e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54
    0d d0 32 e1 67 c2 95 5d";

/// Opens one RFC 8448 record with keys derived from its traffic secret at
/// sequence number `seq`: its plaintext and inner content type.
fn open_rfc8448(secret: &str, seq: u64, record: &str) -> Result<(Vec<u8>, Option<u8>), OpenError> {
    let mut keys = RecordKeys::tls13(Suite::Aes128GcmSha256, &unhex(secret)).unwrap();
    keys.seq = seq;
    let record = unhex(record);
    let header: [u8; 5] = record[..5].try_into().unwrap();
    assert_eq!(usize::from(u16::from_be_bytes([header[3], header[4]])), record.len() - 5);
    let mut body = record[5..].to_vec();
    let (range, kind) = keys.open(&header, &mut body)?;
    Ok((body[range].to_vec(), kind))
}

/// The handshake message types in a run of handshake messages.
fn handshake_types(mut messages: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while messages.len() >= 4 {
        let len = usize::from(messages[1]) << 16 | usize::from(messages[2]) << 8 | usize::from(messages[3]);
        types.push(messages[0]);
        messages = &messages[(4 + len).min(messages.len())..];
    }
    types
}

/// RFC 8448 §3, the whole 1-RTT trace from the four secrets a key log
/// carries: the server's encrypted flight (EncryptedExtensions, Certificate,
/// CertificateVerify, Finished in one 674-byte record, long enough to span
/// many AES blocks), the client's Finished, and both sides' application
/// data, the server's at sequence 1 after its NewSessionTicket (at sequence
/// 0 the nonce is the bare IV, so only this one proves the sequence XOR).
#[test]
fn rfc8448_simple_1rtt_trace_decrypts_from_its_key_log_secrets() {
    let (flight, kind) = open_rfc8448(RFC8448_SERVER_HANDSHAKE, 0, RFC8448_SERVER_FLIGHT).unwrap();
    assert_eq!((flight.len(), kind), (657, Some(22)));
    assert_eq!(handshake_types(&flight), [8, 11, 15, 20]);

    let (finished, kind) = open_rfc8448(RFC8448_CLIENT_HANDSHAKE, 0, RFC8448_CLIENT_FINISHED).unwrap();
    assert_eq!((&finished[..4], finished.len(), kind), (&[20u8, 0, 0, 32][..], 36, Some(22)));

    let payload: Vec<u8> = (0u8..=0x31).collect();
    let client = open_rfc8448(RFC8448_CLIENT_TRAFFIC_0, 0, RFC8448_CLIENT_APPLICATION_DATA).unwrap();
    assert_eq!(client, (payload.clone(), Some(23)));
    let server = open_rfc8448(RFC8448_SERVER_TRAFFIC_0, 1, RFC8448_SERVER_APPLICATION_DATA).unwrap();
    assert_eq!(server, (payload, Some(23)));
}

/// The same records refuse the wrong sequence number and the other
/// direction's secret: an authentication failure, never garbage plaintext.
#[test]
fn rfc8448_records_refuse_the_wrong_sequence_or_direction() {
    for seq in [1, 2, 256, u64::MAX] {
        let opened = open_rfc8448(RFC8448_CLIENT_TRAFFIC_0, seq, RFC8448_CLIENT_APPLICATION_DATA);
        assert_eq!(opened, Err(OpenError::Authentication), "sequence {seq}");
    }
    let opened = open_rfc8448(RFC8448_SERVER_TRAFFIC_0, 0, RFC8448_CLIENT_APPLICATION_DATA);
    assert_eq!(opened, Err(OpenError::Authentication));
    let opened = open_rfc8448(RFC8448_SERVER_TRAFFIC_0, 0, RFC8448_SERVER_APPLICATION_DATA);
    assert_eq!(opened, Err(OpenError::Authentication), "the server's record is at sequence 1");
}
