//! Live capture of the scenario's traffic with libpcap, written with
//! grpcscope's own pcap writer.

use grpcscope::capture::writer::PcapWriter;
use grpcscope::capture::LinkType;
use grpcscope::time::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Captured packets: (time, bytes, length on the wire).
pub struct Recording {
    pub link: LinkType,
    pub packets: Vec<(Timestamp, Vec<u8>, u32)>,
}

/// A capture running on `lo` in a thread until stopped.
pub struct Recorder {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Recording>,
}

impl Recorder {
    /// Starts capturing on loopback with BPF `filter`; returns once libpcap is ready.
    pub fn start(filter: &str) -> Recorder {
        let mut cap = pcap::Capture::from_device("lo")
            .unwrap()
            .immediate_mode(true)
            .snaplen(262_144)
            .buffer_size(64 << 20)
            .timeout(50)
            .open()
            .expect("open lo for capture (run as root or with CAP_NET_RAW)")
            // libpcap's read timeout does not fire on an idle Linux socket in
            // immediate mode; polling a non-blocking handle lets stop() work.
            .setnonblock()
            .unwrap();
        cap.filter(filter, true).unwrap();
        let link = LinkType(cap.get_datalink().0 as u32);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut packets = Vec::new();
            loop {
                match cap.next_packet() {
                    Ok(p) => {
                        let ts = Timestamp::from_parts(p.header.ts.tv_sec, p.header.ts.tv_usec * 1_000);
                        packets.push((ts, p.data.to_vec(), p.header.len));
                    }
                    Err(pcap::Error::TimeoutExpired) => {
                        if flag.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    Err(e) => panic!("capture failed: {e}"),
                }
            }
            let stats = cap.stats().unwrap();
            assert_eq!(stats.dropped, 0, "the kernel dropped packets; regenerate");
            Recording { link, packets }
        });
        Recorder { stop, handle }
    }

    /// Stops and returns what was captured.
    pub fn stop(self) -> Recording {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

/// Writes a recording as a pcap file.
pub fn write_pcap(path: &std::path::Path, rec: &Recording) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = PcapWriter::new(file, rec.link, 262_144).unwrap();
    for (ts, data, len) in &rec.packets {
        w.write_packet(*ts, data, *len).unwrap();
    }
    w.flush().unwrap();
}
