//! Writing packets to a classic pcap file (for `-w` and for fixtures).

use super::pcap_format::{encode_global_header, encode_record_header};
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
}
