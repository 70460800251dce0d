//! Live capture with libpcap: an interface, a BPF filter, an optional copy
//! of every packet to a pcap file (`-w`), and the kernel's drop counters.

use super::writer::{PcapWriter, PcapngWriter};
use super::{LinkType, Packet};
use crate::time::Timestamp;
use bytes::Bytes;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

/// What to capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Interface name (`any` for all, on Linux).
    pub interface: String,
    /// BPF capture filter, as in tcpdump.
    pub bpf: String,
    /// Bytes kept of each packet.
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Kernel buffer size in bytes.
    pub buffer_bytes: u32,
    /// Write every captured packet to this pcap file too.
    pub write: Option<PathBuf>,
    /// Write that file as pcapng, with the TLS key log lines handed to
    /// [`LiveCapture::write_key_log`] in Decryption Secrets Blocks.
    pub write_keys: bool,
}

/// The `-w` copy: pcap, or pcapng when it carries TLS secrets.
enum Tee {
    Pcap(PcapWriter<BufWriter<File>>),
    Pcapng(PcapngWriter<BufWriter<File>>),
}

impl Tee {
    fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        match self {
            Tee::Pcap(w) => w.write_packet(ts, data, orig_len),
            Tee::Pcapng(w) => w.write_packet(ts, data, orig_len),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Tee::Pcap(w) => w.flush(),
            Tee::Pcapng(w) => w.flush(),
        }
    }
}

/// Why a live capture could not start (or went on).
#[derive(Debug)]
pub enum LiveError {
    /// No interface of that name; the ones that exist.
    NoSuchInterface {
        /// Asked for.
        name: String,
        /// Present.
        available: Vec<String>,
    },
    /// Not allowed to capture.
    Permission {
        /// The interface.
        name: String,
        /// Promiscuous mode was asked for (needs CAP_NET_ADMIN too).
        promisc: bool,
        /// libpcap's words.
        detail: String,
    },
    /// The BPF filter does not compile.
    Filter {
        /// The expression.
        expr: String,
        /// libpcap's words.
        detail: String,
    },
    /// The -w file cannot be written.
    Write {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Anything else libpcap reported.
    Other(String),
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveError::NoSuchInterface { name, available } => write!(
                f,
                "no interface named {name:?}; interfaces here: {} (`grpcscope -D` lists them)",
                if available.is_empty() { "none visible".into() } else { available.join(", ") }
            ),
            LiveError::Permission { name, promisc, detail } => {
                let caps = if *promisc { "CAP_NET_RAW and CAP_NET_ADMIN (promiscuous mode)" } else { "CAP_NET_RAW" };
                write!(
                    f,
                    "not permitted to capture on {name} ({detail}): capturing needs {caps}. Run as root, or grant the binary the \
                     capability once (`sudo setcap cap_net_raw,cap_net_admin=eip $(command -v grpcscope)`), or in Kubernetes add \
                     it to the container: securityContext.capabilities.add: [\"NET_RAW\"{}] (see docs/debug-pod.md)",
                    if *promisc { ", \"NET_ADMIN\"" } else { "" }
                )
            }
            LiveError::Filter { expr, detail } => write!(f, "the capture filter {expr:?} does not compile: {detail} (it uses tcpdump's BPF syntax, e.g. 'tcp port 50051')"),
            LiveError::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            LiveError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LiveError {}

/// Kernel and libpcap counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Packets the filter passed.
    pub received: u64,
    /// Dropped by the kernel (buffer full): lost to this capture.
    pub dropped: u64,
    /// Dropped by the interface or its driver.
    pub if_dropped: u64,
}

impl DropStats {
    /// Whether anything was lost.
    pub fn lost(&self) -> bool {
        self.dropped + self.if_dropped > 0
    }
}

/// Interfaces libpcap can capture on: (name, description).
pub fn list_interfaces() -> Result<Vec<(String, String)>, LiveError> {
    let devices = pcap::Device::list().map_err(|e| LiveError::Other(format!("cannot list interfaces: {e}")))?;
    Ok(devices
        .into_iter()
        .map(|d| {
            let mut flags = Vec::new();
            if d.flags.is_up() {
                flags.push("Up");
            }
            if d.flags.is_running() {
                flags.push("Running");
            }
            if d.flags.is_loopback() {
                flags.push("Loopback");
            }
            let mut desc = format!("[{}]", flags.join(", "));
            if let Some(x) = d.desc {
                desc = format!("({x}) {desc}");
            }
            (d.name, desc)
        })
        .collect())
}

/// A running live capture.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    fd: RawFd,
    link: LinkType,
    nanos: bool,
    tee: Option<Tee>,
    number: u64,
    /// What is being captured, for messages.
    pub description: String,
}

fn classify(name: &str, promisc: bool, e: pcap::Error) -> LiveError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        return LiveError::Permission { name: name.into(), promisc, detail: text };
    }
    if lower.contains("no such device") || lower.contains("doesn't exist") || lower.contains("not found") {
        let available = list_interfaces().map(|l| l.into_iter().map(|(n, _)| n).collect()).unwrap_or_default();
        return LiveError::NoSuchInterface { name: name.into(), available };
    }
    LiveError::Other(format!("cannot capture on {name}: {text}"))
}

impl LiveCapture {
    /// Opens the interface, applies the filter, opens the -w file.
    pub fn open(opts: &LiveOptions) -> Result<LiveCapture, LiveError> {
        let name = opts.interface.as_str();
        let activate = |nanos: bool| {
            let precision = if nanos { pcap::Precision::Nano } else { pcap::Precision::Micro };
            pcap::Capture::from_device(name)
                .and_then(|c| {
                    c.snaplen(opts.snaplen as i32)
                        .promisc(opts.promisc)
                        // Not immediate mode: libpcap then uses TPACKET_V3's
                        // variable-sized blocks. Immediate mode falls back to
                        // fixed slots of snaplen bytes, so a 256 MB buffer held
                        // only 1,024 packets and bursts were dropped. Blocks are
                        // handed over at least every 50 ms, which bounds latency.
                        .timeout(50)
                        .buffer_size(opts.buffer_bytes as i32)
                        .precision(precision)
                        .open()
                })
                .map_err(|e| classify(name, opts.promisc, e))
        };
        // Nanosecond timestamps where the kernel offers them.
        let (cap, nanos) = match activate(true) {
            Ok(c) => (c, true),
            Err(LiveError::Other(_)) => (activate(false)?, false),
            Err(e) => return Err(e),
        };
        let mut cap = cap.setnonblock().map_err(|e| classify(name, opts.promisc, e))?;
        cap.filter(&opts.bpf, true).map_err(|e| LiveError::Filter { expr: opts.bpf.clone(), detail: e.to_string() })?;
        let link = LinkType(cap.get_datalink().0 as u32);
        let tee = match &opts.write {
            Some(path) => {
                let file = File::create(path).map_err(|source| LiveError::Write { path: path.clone(), source })?;
                let out = BufWriter::with_capacity(1 << 20, file);
                let w = if opts.write_keys {
                    PcapngWriter::new(out, link).map(Tee::Pcapng)
                } else {
                    PcapWriter::new(out, link, opts.snaplen).map(Tee::Pcap)
                };
                Some(w.map_err(|source| LiveError::Write { path: path.clone(), source })?)
            }
            None => None,
        };
        let fd = cap.as_raw_fd();
        let description = format!("{name} ({link}), filter {:?}, snaplen {}", opts.bpf, opts.snaplen);
        Ok(LiveCapture { cap, fd, link, nanos, tee, number: 0, description })
    }

    /// The interface's link type.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The next packet, waiting at most `wait_ms` for one; `None` if none came.
    pub fn next(&mut self, wait_ms: i32) -> Result<Option<Packet>, LiveError> {
        loop {
            match self.cap.next_packet() {
                Ok(p) => {
                    let frac = if self.nanos { p.header.ts.tv_usec } else { p.header.ts.tv_usec * 1_000 };
                    let ts = Timestamp::from_parts(p.header.ts.tv_sec, frac);
                    if let Some(w) = &mut self.tee {
                        // The -w copy is best effort per packet; a failure is reported at finish.
                        let _ = w.write_packet(ts, p.data, p.header.len);
                    }
                    self.number += 1;
                    let data = Bytes::copy_from_slice(p.data);
                    return Ok(Some(Packet {
                        number: self.number,
                        ts,
                        link: self.link,
                        data,
                        orig_len: p.header.len,
                        interface: 0,
                    }));
                }
                Err(pcap::Error::TimeoutExpired) => {
                    if !wait(self.fd, wait_ms) {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(LiveError::Other(format!("capture failed: {e}"))),
            }
        }
    }

    /// Adds TLS key log lines to the -w file when it is written with keys
    /// (`--write-keys`); otherwise they are not written anywhere.
    pub fn write_key_log(&mut self, lines: &[u8]) -> Result<(), LiveError> {
        if let Some(Tee::Pcapng(w)) = &mut self.tee {
            w.write_key_log(lines).map_err(|source| LiveError::Write { path: PathBuf::from("-w file"), source })?;
        }
        Ok(())
    }

    /// With `--write-keys`, the key log files as far as they were read when
    /// the capture started (what is appended later comes through
    /// [`LiveCapture::write_key_log`]).
    pub fn write_key_files(&mut self, files: &[(PathBuf, u64)]) -> Result<(), LiveError> {
        if !matches!(self.tee, Some(Tee::Pcapng(_))) {
            return Ok(());
        }
        for (path, read) in files {
            let text = std::fs::read(path).unwrap_or_default();
            let upto = usize::try_from(*read).unwrap_or(usize::MAX).min(text.len());
            self.write_key_log(text.get(..upto).unwrap_or_default())?;
        }
        Ok(())
    }

    /// Flushes the -w file so that it is complete and valid as of now.
    pub fn flush(&mut self) -> Result<(), LiveError> {
        if let Some(w) = &mut self.tee {
            w.flush().map_err(|source| LiveError::Write { path: PathBuf::from("-w file"), source })?;
        }
        Ok(())
    }

    /// The kernel's counters.
    pub fn drops(&mut self) -> Option<DropStats> {
        self.cap.stats().ok().map(|s| DropStats {
            received: u64::from(s.received),
            dropped: u64::from(s.dropped),
            if_dropped: u64::from(s.if_dropped),
        })
    }
}

/// Waits until the capture descriptor is readable, at most `ms`.
fn wait(fd: RawFd, ms: i32) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: `pfd` is a valid pollfd for the duration of the call, and the
    // count passed is 1.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n > 0
}

/// Drops root privileges to `user` after the capture handle is open (`-Z`).
pub fn drop_privileges(user: &str) -> Result<(), String> {
    let cname = std::ffi::CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we read
    // the two ids out of it immediately.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(cname.as_ptr());
        if pw.is_null() {
            return Err(format!("-Z {user}: no such user"));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    // SAFETY: plain system calls with valid arguments; their results are checked.
    let ok = unsafe { libc::setgroups(0, std::ptr::null()) == 0 && libc::setgid(gid) == 0 && libc::setuid(uid) == 0 };
    if !ok {
        return Err(format!("-Z {user}: cannot switch to it: {}", io::Error::last_os_error()));
    }
    // SAFETY: getuid cannot fail.
    if unsafe { libc::getuid() } != uid {
        return Err(format!("-Z {user}: the switch did not take effect"));
    }
    Ok(())
}
