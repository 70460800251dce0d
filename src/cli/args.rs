//! Argument definitions. Flags follow tcpdump and tshark where they overlap
//! (`-r`, `-i`, `-f`, `-w`, `-c`, `-s`, `-D`, `-Z`).

use crate::output::Format;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "A gRPC wire analyzer: every call, frame and connection in a capture or on an interface";

const LONG_ABOUT: &str = "\
grpcscope reads a capture file (pcap or pcapng, optionally gzip- or zstd-compressed) \
or a live interface, reassembles TCP, decodes HTTP/2 and HPACK, and shows the gRPC \
calls inside: method, messages, status, latency, and whether a failure came from the \
application or from the transport (a proxy's 503, a RST_STREAM, a GOAWAY, a dropped \
connection).";

const EXAMPLES: &str = "\
Examples:
  grpcscope conns capture.pcap             TCP connections, one line each
  grpcscope conns -r capture.pcap.gz --format json
  tcpdump -w - -i lo port 50051 | grpcscope conns -
";

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// When standard output is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// grpcscope's command line.
#[derive(Debug, Parser)]
#[command(name = "grpcscope", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    /// What to show.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// gRPC calls: method, messages (decoded), status, where a failure came from, timing.
    #[command(after_help = "\
Examples:
  grpcscope calls capture.pcap                                   one line per call
  grpcscope calls --proto-path protos/ capture.pcap              decode messages with your .proto files
  grpcscope calls --descriptor-set api.protoset -v capture.pcap  headers, every message as JSON, trailers, status details
  grpcscope calls --format json capture.pcap | jq 'select(.error_origin == \"transport\")'

Status is coloured by where a failure came from: yellow when the application chose a grpc-status,
red when the transport failed the call (a proxy's non-200 :status, RST_STREAM, GOAWAY, missing
trailers, a connection that closed). A capture holding a gRPC server reflection exchange decodes its
other calls without any schema option. Without a schema, messages are shown field by field by number
and wire type, never presented as a schema decode.")]
    Calls(CallsArgs),

    /// Statistics: calls, errors by status and origin, latency percentiles, traffic; per method,
    /// server, client→server edge or connection; an error timeline; failures followed across proxies.
    #[command(after_help = "\
Examples:
  grpcscope stats capture.pcap                       per method: calls, OK, errors by origin, p50/p90/p99/max
  grpcscope stats --by edge capture.pcap             the service graph: client host -> server endpoint
  grpcscope stats --filter 'origin == transport' --by server capture.pcap
  grpcscope stats --format json capture.pcap | jq 'select(.section == \"hop\")'

When a capture holds several legs of a proxied call (client -> sidecar -> server), the legs are
paired by x-request-id, traceparent or B3 ids (else by method and identical request within 2 s) and
each failed call says which hop failed first and how the status changed on the way back.")]
    Stats(StatsArgs),

    /// TCP connections: endpoints, handshake, packets and bytes each way, gaps, how each ended.
    #[command(after_help = "\
Examples:
  grpcscope conns capture.pcap                        connections grouped by channel, with reconnects
  grpcscope conns -v capture.pcap                     plus handshake ladder, SETTINGS, PING round trips
  grpcscope conns --format json capture.pcapng | jq 'select(.reconnect_of != null)'
  grpcscope conns --filter 'transport_errors > 0' capture.pcap

Connection ids count from 1 in order of first packet; every command prints the same ids. A channel is
one client host talking to one server endpoint; a connection that replaces one that ended (FIN, RST,
GOAWAY, or silence) is a reconnect.")]
    Conns(ConnsArgs),

    /// HTTP/2 frames: one line per frame with its stream, type, flags, length and decoded content.
    #[command(after_help = "\
Examples:
  grpcscope frames capture.pcap
  grpcscope frames --conn 1 --stream 3 -v capture.pcap     HPACK encoding of every header, windows, stream states
  grpcscope frames --h2-port 8443 mid-connection.pcap      force HTTP/2 on a port whose preface was not captured
  grpcscope frames --format json capture.pcap | jq 'select(.type == \"GOAWAY\")'

HTTP/2 is recognised by the client preface on any port. When a capture starts mid-connection,
frame boundaries are found again from well-formed frames; header fields that refer to HPACK
dynamic-table entries inserted before the capture began are shown as unknown, never guessed.")]
    Frames(FramesArgs),
}

/// Where packets come from.
#[derive(Debug, Args, Clone, Default)]
pub struct InputArgs {
    /// Capture file to read (pcap, pcapng, gzip- or zstd-compressed; `-` for standard input).
    #[arg(value_name = "FILE", conflicts_with = "read")]
    pub file: Option<PathBuf>,

    /// Capture file to read (same as the FILE argument, as in tcpdump).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,
}

impl InputArgs {
    /// The capture file named by `-r` or the positional argument.
    pub fn path(&self) -> Option<&PathBuf> {
        self.read.as_ref().or(self.file.as_ref())
    }
}

/// How to decode.
#[derive(Debug, Args, Clone, Default)]
pub struct DecodeArgs {
    /// Treat this TCP port as an HTTP/2 server even without a captured preface (repeatable).
    #[arg(long = "h2-port", value_name = "PORT")]
    pub h2_ports: Vec<u16>,

    /// Bytes buffered ahead of a hole per direction before the hole is reported as a gap.
    #[arg(long, value_name = "BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_reassembly_buffer: usize,
}

/// What every decoding command takes: a source, decoding options, a format.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show only what matches EXPR, e.g. 'status != OK', 'origin == transport', 'method ~ "Cart"',
    /// 'duration > 100ms', 'header["x-request-id"] == "abc"' (see docs/filters.md).
    #[arg(long, short = 'Y', value_name = "EXPR")]
    pub filter: Option<String>,
}

/// Where schemas come from.
#[derive(Debug, Args, Clone, Default)]
pub struct SchemaArgs {
    /// Directory of .proto files (an import root); without --proto, every .proto under it is loaded. Repeatable.
    #[arg(long = "proto-path", short = 'I', value_name = "DIR")]
    pub proto_paths: Vec<PathBuf>,
    /// A .proto file to load (relative to a --proto-path). Repeatable.
    #[arg(long = "proto", value_name = "FILE")]
    pub protos: Vec<PathBuf>,
    /// A binary FileDescriptorSet (protoc -o / --descriptor_set_out, grpcurl -protoset). Repeatable.
    #[arg(long = "descriptor-set", value_name = "FILE")]
    pub descriptor_sets: Vec<PathBuf>,
}

/// Limits on what one call may cost.
#[derive(Debug, Args, Clone)]
pub struct MessageArgs {
    /// Largest message kept; longer ones are reported with their length only.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_message_size: usize,
    /// Largest size a compressed message may decompress to (the compression-bomb guard).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_decompressed_size: usize,
    /// Message bytes kept per call; past it messages keep their length, not their bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_call_bytes: usize,
}

/// `grpcscope calls`.
#[derive(Debug, Args)]
pub struct CallsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub messages: MessageArgs,
    /// Print each call in full: headers, every message as a JSON tree, trailers, status details.
    #[arg(short, long)]
    pub verbose: bool,
    /// Colour the status column (text output).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `grpcscope frames`.
#[derive(Debug, Args)]
pub struct FramesArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only frames of this connection (the id `conns` prints).
    #[arg(long, value_name = "ID")]
    pub conn: Option<u64>,
    /// Only frames of this stream.
    #[arg(long, value_name = "N")]
    pub stream: Option<u32>,
    /// Also show each header field's HPACK encoding, the dynamic tables, windows and stream states.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `grpcscope conns`.
#[derive(Debug, Args)]
pub struct ConnsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Also show each connection's handshake ladder, SETTINGS, PING round trips and problems.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `grpcscope stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The breakdown: per method, per server endpoint, per client→server edge, or per connection.
    #[arg(long, value_enum, default_value_t = crate::output::stats::By::Method)]
    pub by: crate::output::stats::By,
}
