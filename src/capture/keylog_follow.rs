//! Following key log files during a live capture: TLS libraries append a
//! connection's secrets as its handshake happens, so the file grows while
//! grpcscope captures. Records that arrived before their keys wait in the
//! TLS layer (bounded) and are decrypted when the keys are read here.

use super::SecretsSink;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Bytes read from one file per poll at most: a runaway writer cannot make
/// one poll take long or hold much memory.
const MAX_READ_PER_POLL: u64 = 1 << 20;

/// A partial last line kept between polls at most (a key log line is under 300 bytes).
const MAX_PARTIAL_LINE: usize = 4096;

/// One followed file: where we are in it and the line not yet finished.
struct Followed {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

/// The key log files of `--tls-keylog` and SSLKEYLOGFILE, read as they grow.
pub struct KeyLogFollower {
    files: Vec<Followed>,
}

impl KeyLogFollower {
    /// Follows `files` from the offsets already read.
    pub fn new(files: &[(PathBuf, u64)]) -> Self {
        KeyLogFollower {
            files: files
                .iter()
                .map(|(path, offset)| Followed { path: path.clone(), offset: *offset, partial: Vec::new() })
                .collect(),
        }
    }

    /// Reads what was appended since the last poll into `store`; returns
    /// the whole lines read (for a `-w` file that keeps them). A file that
    /// shrank was rewritten: it is read again from its start. Unreadable
    /// files are skipped (they may appear later).
    pub fn poll(&mut self, store: &dyn SecretsSink) -> Vec<u8> {
        let mut read = Vec::new();
        for f in &mut self.files {
            let Ok(len) = std::fs::metadata(&f.path).map(|m| m.len()) else { continue };
            if len < f.offset {
                f.offset = 0;
                f.partial.clear();
            }
            if len == f.offset {
                continue;
            }
            let Ok(mut file) = std::fs::File::open(&f.path) else { continue };
            if file.seek(SeekFrom::Start(f.offset)).is_err() {
                continue;
            }
            let mut chunk = Vec::new();
            let Ok(n) = file.take((len - f.offset).min(MAX_READ_PER_POLL)).read_to_end(&mut chunk) else { continue };
            f.offset += n as u64;
            f.partial.extend_from_slice(&chunk);
            // Only whole lines: the writer may be in the middle of one.
            let Some(end) = f.partial.iter().rposition(|b| *b == b'\n') else {
                if f.partial.len() > MAX_PARTIAL_LINE {
                    f.partial.clear();
                }
                continue;
            };
            let lines: Vec<u8> = f.partial.drain(..=end).collect();
            store.add_key_log(&String::from_utf8_lossy(&lines));
            read.extend_from_slice(&lines);
        }
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::KeyStore;

    const LINE: &str = "CLIENT_RANDOM 1111111111111111111111111111111111111111111111111111111111111111 \
                        cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n";

    #[test]
    fn appended_lines_are_read_once_and_half_lines_wait() {
        let dir = std::env::temp_dir().join(format!("grpcscope-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.log");
        std::fs::write(&path, "").unwrap();
        let store = KeyStore::default();
        let mut follow = KeyLogFollower::new(&[(path.clone(), 0)]);
        assert!(follow.poll(&store).is_empty());
        let (head, tail) = LINE.split_at(40);
        std::fs::write(&path, head).unwrap();
        assert!(follow.poll(&store).is_empty(), "half a line waits");
        std::fs::write(&path, LINE).unwrap();
        assert_eq!(follow.poll(&store), LINE.as_bytes(), "the line completed by {tail:?}");
        assert!(follow.poll(&store).is_empty(), "read once");
        assert!(store.get(&[0x11; 32]).is_some());
        // Rewritten shorter: read again from the start.
        std::fs::write(&path, "# comment\n").unwrap();
        assert_eq!(follow.poll(&store), b"# comment\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
