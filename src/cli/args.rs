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
  grpcscope calls capture.pcap                        every gRPC call: method, status, latency
  grpcscope calls --proto-path protos/ -v capture.pcap
  grpcscope calls -i lo -f 'tcp port 50051'            live, a call per line as each ends (root or CAP_NET_RAW)
  grpcscope calls -i any -w incident.pcap              live, and keep the packets for a ticket
  grpcscope stats --by edge capture.pcap.gz           the service graph and its errors
  grpcscope conns capture.pcapng                      connections, channels, reconnects
  grpcscope frames --conn 1 -v capture.pcap           HTTP/2 frames with their HPACK encoding
  tcpdump -w - -i lo port 50051 | grpcscope calls -

Guides: docs/incident.md (a pcap from a ticket), docs/debug-pod.md (live, in Kubernetes),
docs/workshop.md (teaching gRPC internals).
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
#[command(name = "grpcscope", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to show. Without a command, `grpcscope FILE` or `grpcscope -i IFACE` opens the
    /// terminal UI (on a terminal; otherwise it prints the calls).
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub ui: UiArgs,

    /// List the interfaces that can be captured on, and exit (as tcpdump -D).
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,
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
  grpcscope calls -Y 'status == UNAVAILABLE' -w failed.pcap capture.pcap
                                                                 an extract of those calls, for a ticket
  grpcscope calls --format grpcurl -I protos/ -Y 'status != OK' capture.pcap > replay.sh
                                                                 a grpcurl command per failed call
  grpcscope calls --format ghz -I protos/ -Y 'method ~ \"GetItem\"' -o data.json capture.pcap
                                                                 a ghz data file of captured requests

Status is coloured by where a failure came from: yellow when the application chose a grpc-status,
red when the transport failed the call (a proxy's non-200 :status, RST_STREAM, GOAWAY, missing
trailers, a connection that closed). A capture holding a gRPC server reflection exchange decodes its
other calls without any schema option. Without a schema, messages are shown field by field by number
and wire type, never presented as a schema decode.")]
    Calls(CallsArgs),

    /// Findings an SRE can act on: which hop failed and why, each with its evidence (calls,
    /// connections, packets), an explanation and what to change.
    #[command(after_help = "\
Examples:
  grpcscope doctor capture.pcap                          findings, most severe first
  grpcscope doctor --tls-keylog keys.log capture.pcap    TLS connections decrypted first
  grpcscope doctor -i any                                live: findings when you stop with Ctrl-C
  grpcscope doctor --format json capture.pcap | jq 'select(.severity == \"error\")'

Each finding names its rule (see docs/doctor.md for every rule and its thresholds), its severity
(error: calls failed because of it; warning: calls at risk; info: what the capture could not show),
the calls (numbers as `calls` lists them and `explain --call N` takes them), connections and packets
that show it, why it happens and what to change. A finding that rests on an inference says so.
--filter limits the calls examined. The exit status is 0 whatever was found.")]
    Doctor(DoctorArgs),

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
    #[command(mut_arg("filter", |a| a.help(CONNS_FILTER_HELP)))]
    Conns(ConnsArgs),

    /// HTTP/2 frames: one line per frame with its stream, type, flags, length and decoded content.
    #[command(after_help = "\
Examples:
  grpcscope frames capture.pcap
  grpcscope frames --conn 1 --stream 3 -v capture.pcap     HPACK encoding of every header, windows, stream states
  grpcscope frames --h2-port 8443 mid-connection.pcap      force HTTP/2 on a port whose preface was not captured
  grpcscope frames -t r capture.pcap                       times as seconds since the first packet (tshark's -t)
  grpcscope frames --format json capture.pcap | jq 'select(.type == \"GOAWAY\")'

HTTP/2 is recognised by the client preface on any port. When a capture starts mid-connection,
frame boundaries are found again from well-formed frames; header fields that refer to HPACK
dynamic-table entries inserted before the capture began are shown as unknown, never guessed.")]
    #[command(mut_arg("filter", |a| a.help(FRAMES_FILTER_HELP)))]
    Frames(FramesArgs),

    /// A narrated walkthrough of one connection or call, step by step: the TCP handshake, the
    /// preface, SETTINGS, each header's HPACK encoding, gRPC's message prefix, flow control,
    /// trailers and what the status means, resets, GOAWAY and the reconnect, with RFC sections.
    #[command(after_help = "\
Examples:
  grpcscope explain fixtures/unary.pcap                     the first connection, from SYN to FIN
  grpcscope explain --call 3 fixtures/errors.pcap           only the third call (as `calls` numbers them)
  grpcscope explain --conn 2 fixtures/reconnect.pcap        the connection after a server restart
  grpcscope explain fixtures/unary.pcap | less

Made for teaching: every step says what the bytes mean and where the RFC says so (RFC 9293 for TCP,
RFC 9113 for HTTP/2, RFC 7541 for HPACK, and gRPC's PROTOCOL-HTTP2 document). `grpcscope frames -v`
shows the same frames one line each, with the HPACK dynamic tables; in the terminal UI, `e` shows
the explanation of the selected frame.")]
    Explain(ExplainArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "\
Examples:
  grpcscope completions bash > /etc/bash_completion.d/grpcscope
  grpcscope completions zsh > \"${fpath[1]}/_grpcscope\"
  grpcscope completions fish > ~/.config/fish/completions/grpcscope.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Write the man pages (grpcscope.1 and one per command, grpcscope-calls.1 ...) into DIR.
    #[command(after_help = "\
Examples:
  grpcscope man target/man && man -l target/man/grpcscope-calls.1
  sudo grpcscope man /usr/local/share/man/man1")]
    Man {
        /// Where to write them (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Where packets come from: a capture file, or a live interface.
#[derive(Debug, Args, Clone, Default)]
pub struct InputArgs {
    /// Capture file to read (pcap, pcapng, gzip- or zstd-compressed; `-` for standard input).
    /// `stats` takes several, a glob ('captures/*.pcap') or a directory, and merges them.
    #[arg(value_name = "FILE", conflicts_with_all = ["read", "interface"])]
    pub file: Vec<PathBuf>,

    /// Capture file to read (same as the FILE argument, as in tcpdump; repeatable for `stats`).
    #[arg(short = 'r', long = "read", value_name = "FILE", conflicts_with = "interface")]
    pub read: Vec<PathBuf>,

    /// No progress bar (shown on a terminal while reading more than 100 MB of captures).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Capture live on this interface (`lo`, `eth0`, `any`); needs CAP_NET_RAW. Ctrl-C stops cleanly.
    #[arg(short = 'i', long = "interface", value_name = "IFACE", help_heading = "Live capture")]
    pub interface: Option<String>,

    /// BPF capture filter, in tcpdump's syntax.
    #[arg(
        short = 'f',
        long = "capture-filter",
        value_name = "BPF",
        default_value = "tcp",
        help_heading = "Live capture"
    )]
    pub bpf: String,

    /// Bytes kept of each packet.
    #[arg(
        short = 's',
        long = "snaplen",
        value_name = "BYTES",
        default_value_t = 262_144,
        help_heading = "Live capture"
    )]
    pub snaplen: u32,

    /// Live: also write every captured packet to this pcap file (the file to attach to a ticket).
    /// On a capture file (`calls` only): write an extract of the calls that match --filter, which
    /// decodes on its own in grpcscope and tshark (see --write-scope).
    #[arg(short = 'w', long = "write", value_name = "FILE", help_heading = "Live capture")]
    pub write: Option<PathBuf>,

    /// What an extract (-w on a capture file) holds: `call`, the matching calls' packets with the
    /// handshake and the frames that carry the HPACK state they need; `conn`, their whole
    /// connections.
    #[arg(long = "write-scope", value_enum, default_value_t = crate::analysis::extract::WriteScope::Call, requires = "write", help_heading = "Live capture")]
    pub write_scope: crate::analysis::extract::WriteScope,

    /// Write the -w file as pcapng with the TLS key log inside (Decryption Secrets Blocks, as
    /// `editcap --inject-secrets tls,FILE` writes), so it decrypts anywhere with no key file.
    /// Off by default: whoever holds such a file can read the traffic.
    #[arg(long = "write-keys", requires = "write", requires = "interface", help_heading = "Live capture")]
    pub write_keys: bool,

    /// Stop after this many packets.
    #[arg(short = 'c', long = "count", value_name = "COUNT", requires = "interface", help_heading = "Live capture")]
    pub count: Option<u64>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", requires = "interface", help_heading = "Live capture")]
    pub duration: Option<f64>,

    /// Put the interface in promiscuous mode (off by default; needs CAP_NET_ADMIN too).
    #[arg(long, requires = "interface", help_heading = "Live capture")]
    pub promisc: bool,

    /// Kernel capture buffer, in bytes: raise it if packets are dropped.
    #[arg(short = 'B', long = "buffer-size", value_name = "BYTES", default_value_t = 32 << 20, help_heading = "Live capture")]
    pub buffer_bytes: u32,

    /// After opening the interface, drop root privileges to this user (as tcpdump -Z).
    #[arg(
        short = 'Z',
        long = "relinquish-privileges",
        value_name = "USER",
        requires = "interface",
        help_heading = "Live capture"
    )]
    pub user: Option<String>,
}

impl InputArgs {
    /// The capture file named by `-r` or the positional argument.
    pub fn path(&self) -> Option<&PathBuf> {
        self.read.first().or(self.file.first())
    }

    /// Every capture named, with globs and directories expanded (in name
    /// order), for the commands that merge several captures.
    pub fn paths(&self) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        for p in self.read.iter().chain(&self.file) {
            out.extend(expand_capture_path(p)?);
        }
        Ok(out)
    }

    /// Whether packets come from a live interface.
    pub fn is_live(&self) -> bool {
        self.interface.is_some()
    }
}

/// File names a directory's captures have.
const CAPTURE_SUFFIXES: [&str; 9] =
    [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz", ".pcap.zst", ".pcapng.zst", ".cap.zst"];

/// A path as given, the files a glob matches (when the shell left it
/// quoted), or the capture files of a directory.
fn expand_capture_path(p: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    if p.is_dir() {
        let entries = std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                let name = f.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
                f.is_file() && CAPTURE_SUFFIXES.iter().any(|s| name.ends_with(s))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!(
                "{}: a directory with no capture file in it (*.pcap, *.pcapng, .gz, .zst)",
                p.display()
            ));
        }
        return Ok(files);
    }
    let text = p.to_string_lossy();
    if p.exists() || !text.contains(['*', '?', '[']) {
        return Ok(vec![p.to_path_buf()]);
    }
    let matches = glob::glob(&text).map_err(|e| format!("{text}: not a valid glob: {e}"))?;
    let mut files: Vec<PathBuf> = matches.filter_map(Result::ok).filter(|f| f.is_file()).collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{text}: no file matches"));
    }
    Ok(files)
}

/// How to decode.
#[derive(Debug, Args, Clone, Default)]
pub struct DecodeArgs {
    /// Treat this TCP port as an HTTP/2 server even without a captured preface (repeatable).
    #[arg(long = "h2-port", value_name = "PORT")]
    pub h2_ports: Vec<u16>,

    /// Bytes buffered ahead of a hole per direction before the hole is reported as a gap.
    #[arg(long, value_name = "BYTES", default_value_t = crate::tcp::TcpConfig::default().max_buffered_per_direction, help_heading = "Limits")]
    pub max_reassembly_buffer: usize,

    /// A segment that acknowledges bytes of the other direction not captured yet (a response
    /// captured before its request: -i any, multi-queue NICs, merged files) is held until they
    /// arrive, up to this many bytes per connection; past it, it is processed anyway (hold_expired).
    #[arg(long, value_name = "BYTES", default_value_t = crate::tcp::TcpConfig::default().max_hold_bytes, help_heading = "Limits")]
    pub max_reorder_hold: usize,

    /// How long (capture time, milliseconds) such a segment is held at most.
    #[arg(long, value_name = "MS", default_value_t = crate::tcp::TcpConfig::default().max_hold_nanos / 1_000_000, help_heading = "Limits")]
    pub reorder_hold_time: i64,

    /// TCP connections tracked at once; past it the least recently active tenth is evicted
    /// (flow_table_full). Each tracked connection costs about 1.5 kB before it carries data.
    #[arg(long, value_name = "N", default_value_t = crate::tcp::TcpConfig::default().max_connections, help_heading = "Limits")]
    pub max_connections: usize,

    /// HTTP/2 streams tracked at once per connection; frames of further streams are
    /// shown but start no call (stream_limit).
    #[arg(long, value_name = "N", default_value_t = crate::h2::H2Config::default().max_streams, help_heading = "Limits")]
    pub max_streams: usize,

    /// Largest HPACK dynamic table kept per direction, whatever a size update asks (hpack_table_limit).
    #[arg(long, value_name = "BYTES", default_value_t = crate::h2::hpack::Limits::default().max_table_size, help_heading = "Limits")]
    pub max_hpack_table: usize,

    /// Decoded header list kept per header block; later fields are counted, not kept (header_list_limit).
    #[arg(long, value_name = "BYTES", default_value_t = crate::h2::hpack::Limits::default().max_header_list, help_heading = "Limits")]
    pub max_header_list: usize,

    /// Header fields kept by all open streams of all connections together, in bytes (names, values and 256 per field); past it fields are counted, not kept (open_headers_limit).
    #[arg(long, value_name = "BYTES", default_value_t = crate::h2::header_budget::DEFAULT_OPEN_HEADERS, help_heading = "Limits")]
    pub max_open_headers: usize,

    /// Largest header block assembled from HEADERS and CONTINUATION frames: the
    /// CONTINUATION-flood guard (continuation_flood).
    #[arg(long, value_name = "BYTES", default_value_t = crate::h2::H2Config::default().max_header_block, help_heading = "Limits")]
    pub max_header_block: usize,

    /// An NSS key log (what SSLKEYLOGFILE writers produce) to decrypt TLS with (repeatable).
    /// SSLKEYLOGFILE itself is read when set, and a pcapng's Decryption Secrets Blocks
    /// (`editcap --inject-secrets tls,FILE`) need no flag. Secrets are never printed.
    #[arg(long = "tls-keylog", value_name = "FILE", help_heading = "TLS")]
    pub tls_keylog: Vec<std::path::PathBuf>,

    /// Name addresses from a hosts file (`/etc/hosts` syntax: ADDRESS NAME...), shown beside
    /// them in conns, stats, doctor and the terminal UI (repeatable). The capture's own DNS
    /// answers name addresses too; a file's name wins over theirs.
    #[arg(long = "names", value_name = "FILE", help_heading = "Names")]
    pub names: Vec<std::path::PathBuf>,

    /// Name pods and services from the JSON of `kubectl get pods,services -A -o json > FILE`:
    /// a pod's IP gets its name, namespace, node and the services selecting it, a service's
    /// cluster IP the service's name (repeatable; wins over --names and DNS).
    #[arg(long = "k8s", value_name = "FILE", help_heading = "Names")]
    pub k8s: Vec<std::path::PathBuf>,

    /// Replace the values of sensitive headers (authorization, proxy-authorization, cookie,
    /// set-cookie, x-api-key, and metadata keys matching --redact-headers) with
    /// `<redacted N bytes #hash>` in every output, raw header bytes zeroed: for pasting into a ticket.
    #[arg(long, help_heading = "Redaction")]
    pub redact: bool,

    /// Metadata keys to redact besides the fixed list (a regular expression; implies --redact).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex, help_heading = "Redaction",
          default_value = crate::analysis::redact::DEFAULT_PATTERN)]
    pub redact_headers: String,

    /// A message field to redact wherever it appears, by its name in the schema (repeatable;
    /// implies --redact). Messages without a schema are then withheld whole.
    #[arg(long = "redact-field", value_name = "NAME", help_heading = "Redaction")]
    pub redact_fields: Vec<String>,

    /// Under redaction, show in clear the values of headers whose name is an HPACK entry from
    /// before the capture (by default they are redacted: the name might be authorization).
    #[arg(long, help_heading = "Redaction")]
    pub redact_keep_unnamed: bool,

    /// Makes the hashes repeatable across runs (by default each run uses a new random key,
    /// so equal values match only within one output).
    #[arg(long, value_name = "STRING", help_heading = "Redaction")]
    pub redact_salt: Option<String>,
}

fn parse_regex(s: &str) -> Result<String, String> {
    regex::Regex::new(s).map(|_| s.to_string()).map_err(|e| e.to_string())
}

impl DecodeArgs {
    /// The pipeline settings these flags ask for; the rest stay at their defaults.
    pub fn pipeline_config(&self) -> crate::analysis::PipelineConfig {
        use crate::analysis::PipelineConfig;
        let mut cfg = PipelineConfig::new();
        cfg.tcp.max_buffered_per_direction = self.max_reassembly_buffer;
        cfg.tcp.max_connections = self.max_connections.max(1);
        cfg.tcp.max_hold_bytes = self.max_reorder_hold;
        cfg.tcp.max_hold_nanos = self.reorder_hold_time.max(0).saturating_mul(1_000_000);
        cfg.tcp.server_ports = self.h2_ports.clone();
        cfg.h2.h2_ports = self.h2_ports.clone();
        cfg.h2.max_streams = self.max_streams;
        cfg.h2.hpack.max_table_size = self.max_hpack_table;
        cfg.h2.hpack.max_header_list = self.max_header_list;
        cfg.h2.open_headers = std::sync::Arc::new(crate::h2::header_budget::HeaderBudget::new(self.max_open_headers));
        cfg.h2.max_header_block = self.max_header_block;
        cfg.redact = self.redactor();
        cfg
    }

    /// The redactor the --redact flags ask for, if any.
    pub fn redactor(&self) -> Option<std::sync::Arc<crate::analysis::redact::Redactor>> {
        use crate::analysis::redact::{Redactor, DEFAULT_PATTERN};
        let asked = self.redact || self.redact_headers != DEFAULT_PATTERN || !self.redact_fields.is_empty();
        if !asked {
            return None;
        }
        // The pattern was checked when the flags were parsed.
        let mut r =
            Redactor::new(Some(&self.redact_headers), self.redact_fields.clone(), self.redact_salt.as_deref()).ok()?;
        r.keep_unnamed = self.redact_keep_unnamed;
        Some(std::sync::Arc::new(r))
    }
}

/// How text output shows times.
#[derive(Debug, Args, Clone, Default)]
pub struct TimeArgs {
    /// Times in text output as tshark's -t: u (UTC time of day, the default), ud (UTC date and
    /// time), udoy (UTC year/day of year), a / ad / adoy (the same in the local zone), r (seconds
    /// since the first packet), d (since the previous record), dd (since the previous one shown),
    /// e (seconds since the epoch). JSON always has epoch seconds.
    #[arg(short = 't', long = "time-format", value_name = "FORMAT", value_parser = parse_time_format, default_value = "u")]
    pub time_format: crate::time::TimeFormat,
}

/// `-t NAME`, or what the names are.
fn parse_time_format(name: &str) -> Result<crate::time::TimeFormat, String> {
    crate::time::TimeFormat::parse(name).ok_or_else(|| {
        let names: Vec<&str> = crate::time::TimeFormat::ALL.iter().map(|(_, n)| *n).collect();
        format!("`{name}` is not a time format: one of {} (as tshark's -t)", names.join(", "))
    })
}

/// The output formats `--format` names; each command takes the ones it can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum FormatChoice {
    /// Aligned lines for a person.
    #[default]
    Text,
    /// One JSON object per line (JSON Lines), for scripts.
    Json,
    /// One grpcurl command per call, to replay it (`calls` only).
    Grpcurl,
    /// A ghz data file with one method's captured requests (`calls` only).
    Ghz,
    /// Apache Parquet, written to `-o PATH` (`calls`, `frames`, `conns`; docs/parquet.md).
    Parquet,
}

impl FormatChoice {
    /// The line format of a command that writes only text and JSON Lines.
    pub fn lines(self, command: &str) -> Result<Format, String> {
        match self {
            FormatChoice::Text => Ok(Format::Text),
            FormatChoice::Json => Ok(Format::Json),
            other => Err(format!(
                "`{command}` writes text or json, not {}: {}",
                other.name(),
                match other {
                    FormatChoice::Parquet => "Parquet tables are written by `calls`, `frames` and `conns`",
                    _ => "grpcurl commands and ghz data files are written by `calls`",
                }
            )),
        }
    }

    /// The name as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            FormatChoice::Text => "text",
            FormatChoice::Json => "json",
            FormatChoice::Grpcurl => "grpcurl",
            FormatChoice::Ghz => "ghz",
            FormatChoice::Parquet => "parquet",
        }
    }
}

/// What every decoding command takes: a source, decoding options, a format.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub time: TimeArgs,
    /// Output format: text for people, json (JSON Lines) for scripts; parquet (with -o) for SQL
    /// engines (calls, frames, conns; docs/parquet.md); for `calls` also grpcurl (one replayable
    /// grpcurl command per call) and ghz (a ghz data file of one method's requests).
    #[arg(long, value_enum, default_value_t = FormatChoice::Text)]
    pub format: FormatChoice,
    /// Write the output to PATH instead of standard output. With --format parquet: a file, or a
    /// directory of capture=NAME/part-0.parquet partitions when several captures are read (or
    /// PATH is a directory).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Show only what matches EXPR, e.g. 'status != OK', 'origin == transport', 'method ~ "Cart"',
    /// 'duration > 100ms', 'header["x-request-id"] == "abc"' (see docs/filters.md).
    #[arg(long, short = 'Y', value_name = "EXPR")]
    pub filter: Option<String>,
}

/// `--filter` of `frames`: examples of the fields frames have.
const FRAMES_FILTER_HELP: &str = "Show only frames that match EXPR, e.g. 'type == RST_STREAM', 'stream == 3', \
'dir == server_to_client', 'error == CANCEL', 'header[\"grpc-status\"] != \"0\"' (see docs/filters.md)";

/// `--filter` of `conns`: examples of the fields connections have.
const CONNS_FILTER_HELP: &str = "Show only connections that match EXPR, e.g. 'end == rst', 'protocol == tls', \
'retransmissions > 0', 'duration > 10s' (see docs/filters.md)";

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
    /// Fetch the schema from a live server's reflection service (plaintext h2c, like
    /// `grpcurl -plaintext HOST:PORT list`), for a debug pod without .proto files. Opt-in:
    /// without it grpcscope never sends a byte. Repeatable.
    #[arg(long = "reflect", value_name = "HOST:PORT")]
    pub reflect: Vec<String>,
}

/// Limits on what one call may cost.
#[derive(Debug, Args, Clone)]
pub struct MessageArgs {
    /// Largest message kept; longer ones are reported with their length only (message_too_large).
    #[arg(long, value_name = "BYTES", default_value_t = crate::grpc::MessageLimits::default().max_message, help_heading = "Limits")]
    pub max_message_size: usize,
    /// Largest size a compressed message may decompress to: the compression-bomb guard (decompression_limit).
    #[arg(long, value_name = "BYTES", default_value_t = crate::grpc::MessageLimits::default().max_decompressed, help_heading = "Limits")]
    pub max_decompressed_size: usize,
    /// Message bytes kept per call; past it messages keep their length, not their bytes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::analysis::PipelineConfig::new().max_call_bytes, help_heading = "Limits")]
    pub max_call_bytes: usize,
    /// Rendered output (JSON bytes, estimated before decoding) of one call's messages; past it they are cut, marked "truncated".
    #[arg(long, value_name = "BYTES", default_value_t = crate::proto::budget::DEFAULT_RENDER_BYTES, help_heading = "Limits")]
    pub max_rendered_size: usize,
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
    /// Also export each call as an OpenTelemetry span to the collector at URL
    /// (http://HOST:4318 for OTLP/HTTP, or http://HOST:4317 with --otlp-protocol grpc); spans
    /// join the application's traces through the calls' traceparent or B3 headers (docs/otel.md).
    #[arg(long = "otlp", value_name = "URL", help_heading = "OpenTelemetry")]
    pub otlp: Option<String>,
    /// How spans travel: http/protobuf (OTLP/HTTP, the default) or grpc (OTLP/gRPC).
    #[arg(long = "otlp-protocol", value_enum, default_value = "http/protobuf", help_heading = "OpenTelemetry")]
    pub otlp_protocol: crate::output::otlp::Protocol,
}

/// The terminal UI's options (no command given).
#[derive(Debug, Args, Clone, Default)]
pub struct UiArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub time: TimeArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    /// A filter for the Calls view to start with.
    #[arg(long, short = 'Y', value_name = "EXPR")]
    pub filter: Option<String>,
    /// Memory the Frames view's rows may take, in bytes (estimated); later frames are counted, not
    /// listed (live: the oldest rows go instead), while calls, statistics and findings see them all.
    #[arg(long, value_name = "BYTES", default_value_t = crate::tui::model::DEFAULT_FRAME_MEMORY, help_heading = "Limits")]
    pub max_frame_memory: usize,
    /// Live: memory for the whole frames and calls kept for the detail and bytes panes, and for the
    /// Calls list, each; the newest are kept. Older details are re-read from the -w file when one is
    /// written, else shown as no longer kept; older calls leave the list (the title counts them).
    /// (A capture file is re-read for details instead: its lists keep summaries of every call.)
    #[arg(long, value_name = "BYTES", default_value_t = crate::tui::model::DEFAULT_WINDOW, help_heading = "Limits")]
    pub window: usize,
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

/// `grpcscope explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub time: TimeArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    /// The connection to walk through (the id `conns` prints).
    #[arg(long, value_name = "ID", default_value_t = 1, conflicts_with = "call")]
    pub conn: u64,
    /// The call to walk through: its number in `calls` order, from 1 (reads the file twice).
    #[arg(long, value_name = "N")]
    pub call: Option<usize>,
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

/// `grpcscope doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `grpcscope stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The breakdown: per method, per server endpoint, per client→server edge, or per connection.
    #[arg(long, value_enum, default_value_t = crate::output::stats::By::Method)]
    pub by: crate::output::stats::By,
    /// With -i: print the statistics every SECS seconds (and at the end).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub interval: f64,
    /// With -i: each print counts only what happened in its interval
    /// (default: everything since the capture started).
    #[arg(long)]
    pub per_interval: bool,
    /// Decoding threads (default: the available cores). Several captures are decoded one per
    /// thread; one capture's connections are split across threads by their addresses and
    /// ports. The figures do not depend on it.
    #[arg(short = 'j', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
}

impl Default for MessageArgs {
    /// The layers' defaults (what the flags default to).
    fn default() -> Self {
        let limits = crate::grpc::MessageLimits::default();
        MessageArgs {
            max_message_size: limits.max_message,
            max_decompressed_size: limits.max_decompressed,
            max_call_bytes: crate::analysis::PipelineConfig::new().max_call_bytes,
            max_rendered_size: crate::proto::budget::DEFAULT_RENDER_BYTES,
        }
    }
}
