//! `-w OUT.pcap` on a capture file: an extract of the matching calls for
//! a ticket. The first pass is the command's own (the plan watches it,
//! [`crate::analysis::extract`]); this second pass reads the capture again
//! and writes the packets the plan keeps, their sequence numbers moved
//! back over what was left out.

use super::read::{open_capture, Failure};
use crate::analysis::extract::{Decision, Selection};
use crate::analysis::PipelineConfig;
use crate::capture::writer::PcapWriter;
use crate::net::rewrite::{shift_back, tcp_view};
use std::io::BufWriter;
use std::path::Path;

/// What the extract came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    /// Packets written.
    pub packets: u64,
    /// Packets of the capture.
    pub read: u64,
}

/// Writes the packets `sel` keeps from the capture at `source` to `out`.
pub fn write(source: &Path, out: &Path, mut sel: Selection, cfg: &PipelineConfig) -> Result<Written, Failure> {
    let cannot = |e: std::io::Error| Failure::BadInput(format!("cannot write {}: {e}", out.display()));
    let mut cap = open_capture(source, cfg)?;
    let mut writer: Option<PcapWriter<BufWriter<std::fs::File>>> = None;
    let mut link = None;
    let mut w = Written::default();
    while let Some(p) = cap.next_packet() {
        w.read += 1;
        let Some(view) = tcp_view(p.link, &p.data) else { continue };
        let decision = sel.decide(p.number, view.src, view.dst, view.payload_len);
        if decision == Decision::Skip {
            continue;
        }
        if link.is_some_and(|l| l != p.link) {
            return Err(Failure::BadInput(format!(
                "{}: the calls' packets come from interfaces of different link types, which one pcap file cannot hold; \
                 split the capture by interface first (tshark -r IN -Y 'frame.interface_id == 0' -w part.pcap)",
                source.display()
            )));
        }
        if writer.is_none() {
            let file = std::fs::File::create(out).map_err(cannot)?;
            writer = Some(PcapWriter::new(BufWriter::new(file), p.link, 262_144).map_err(cannot)?);
            link = Some(p.link);
        }
        let Some(wr) = writer.as_mut() else { continue };
        match decision {
            Decision::Shift { seq_back, ack_back } => {
                wr.write_packet(p.ts, &shift_back(&p.data, &view, seq_back, ack_back), p.orig_len).map_err(cannot)?
            }
            _ => wr.write_packet(p.ts, &p.data, p.orig_len).map_err(cannot)?,
        }
        w.packets += 1;
    }
    match writer {
        Some(mut wr) => wr.flush().map_err(cannot)?,
        None => {
            return Err(Failure::BadInput(format!(
                "no call matched: nothing to write to {} (grpcscope calls without -w lists them)",
                out.display()
            )))
        }
    }
    Ok(w)
}
