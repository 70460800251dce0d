//! Writing packets to a classic pcap file (for `-w` and for fixtures), or
//! to pcapng when TLS secrets go with them (`-w FILE --write-keys`).

use super::pcap_format::{encode_global_header, encode_record_header};
use super::pcapng::{encode_enhanced_packet, encode_secrets, encode_section};
use super::LinkType;
use crate::time::Timestamp;
use std::io::{self, Write};

/// Writes a little-endian pcap file with nanosecond timestamps.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Starts a file of packets of link type `link`, cut at `snaplen` bytes.
    pub fn new(mut out: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        out.write_all(&encode_global_header(link, snaplen, true))?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| io::Error::other("packet too large"))?;
        self.out.write_all(&encode_record_header(ts, len, orig_len.max(len), true))?;
        self.out.write_all(data)
    }

    /// Flushes buffered packets to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Writes a little-endian pcapng file: one interface with nanosecond
/// timestamps, its packets, and Decryption Secrets Blocks of TLS key log
/// lines wherever they are added (before the records they decrypt, when
/// they arrive in time).
pub struct PcapngWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapngWriter<W> {
    /// Starts a section with one interface of link type `link`.
    pub fn new(mut out: W, link: LinkType) -> io::Result<Self> {
        out.write_all(&encode_section(&[(link, 9)]))?;
        Ok(PcapngWriter { out })
    }

    /// Appends one packet (a time before 1970 is written as 1970).
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| io::Error::other("packet too large"))?;
        let nanos = u64::try_from(ts.0).unwrap_or(0);
        self.out.write_all(&encode_enhanced_packet(0, nanos, data, orig_len.max(len)))
    }

    /// Appends a Decryption Secrets Block of NSS key log `lines`.
    pub fn write_key_log(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.out.write_all(&encode_secrets(lines))
    }

    /// Flushes buffered blocks to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::packets_from_bytes;

    #[test]
    fn written_files_read_back() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 262_144).unwrap();
        w.write_packet(Timestamp::from_parts(1, 2), b"hello", 60).unwrap();
        let (pkts, warnings) = packets_from_bytes(&w.into_inner()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!((pkts[0].ts, &pkts[0].data[..], pkts[0].orig_len), (Timestamp::from_parts(1, 2), &b"hello"[..], 60));
    }

    #[test]
    fn pcapng_with_secrets_reads_back_packets_and_keys() {
        let line = "CLIENT_RANDOM 2222222222222222222222222222222222222222222222222222222222222222 \
                    dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\n";
        let mut w = PcapngWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
        w.write_key_log(line.as_bytes()).unwrap();
        w.write_packet(Timestamp::from_parts(1_796_223_562, 123_456_789), b"hello", 60).unwrap();
        let bytes = w.into_inner();
        let (pkts, warnings) = packets_from_bytes(&bytes).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(pkts[0].ts, Timestamp::from_parts(1_796_223_562, 123_456_789), "nanoseconds kept");
        assert_eq!((&pkts[0].data[..], pkts[0].orig_len), (&b"hello"[..], 60));
        // The key log reaches a key store through the file reader.
        let dir = std::env::temp_dir().join(format!("grpcscope-pcapng-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.pcapng");
        std::fs::write(&path, &bytes).unwrap();
        let store = std::sync::Arc::new(crate::tls::KeyStore::default());
        let mut cap = crate::capture::FileCapture::open(&path).unwrap().with_key_store(store.clone());
        while cap.next_packet().is_some() {}
        assert!(store.get(&[0x22; 32]).is_some_and(|s| s.master.is_some()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
