//! Running a command: open the source (file or interface), build the
//! pipeline, print.

use super::args::{
    CallsArgs, Cli, ColorChoice, Command, ConnsArgs, DecodeArgs, DoctorArgs, ExplainArgs, FramesArgs, InputArgs,
    SchemaArgs, StatsArgs,
};
use super::args::{CommonArgs, FormatChoice, MessageArgs, UiArgs};
use crate::analysis::{Flow, Pipeline, PipelineConfig, Sink, CONTINUE};
use crate::capture::live::{self, LiveCapture, LiveOptions};
use crate::capture::FileCapture;
use crate::filter::{FieldSet, Filter};
use crate::grpc::MessageLimits;
use crate::output::calls::CallsPrinter;
use crate::output::calls::Export;
use crate::output::conns::ConnsPrinter;
use crate::output::frames::{FrameSelection, FramesPrinter};
use crate::output::offload::CallsOnThread;
use crate::present::Decoder;
use crate::proto::{Schema, SchemaSources};
use clap::Parser;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use super::read::Failure;
use super::read::{drive_path, tls_hint};

/// Exit status for bad input: an unreadable capture, a bad argument.
const EXIT_BAD_INPUT: i32 = 2;

/// Runs grpcscope with the process's arguments; returns the exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(Failure::BadInput(msg)) => {
            eprintln!("grpcscope: error: {msg}");
            EXIT_BAD_INPUT
        }
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(Failure::Io(e)) => {
            eprintln!("grpcscope: error: {e}");
            1
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    if cli.list_interfaces {
        return list_interfaces();
    }
    match cli.command {
        Some(Command::Calls(args)) => calls(args),
        Some(Command::Conns(args)) => conns(args),
        Some(Command::Stats(args)) => stats(args),
        Some(Command::Doctor(args)) => doctor(args),
        Some(Command::Frames(args)) => frames(args),
        Some(Command::Explain(args)) => explain(args),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            // Into memory first: clap_complete panics on a write error, and
            // `completions bash | head -1` closes the pipe early.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "grpcscope", &mut script);
            io::stdout().lock().write_all(&script)?;
            Ok(())
        }
        Some(Command::Man { dir }) => man_pages(&dir),
        None => ui(cli.ui),
    }
}

/// Writes grpcscope.1 and a page per command (grpcscope-calls.1 ...) into `dir`.
fn man_pages(dir: &std::path::Path) -> Result<(), Failure> {
    use clap::CommandFactory;
    let cannot = |e: io::Error| Failure::BadInput(format!("{}: cannot write the man pages: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, dir).map_err(cannot)?;
    eprintln!("grpcscope: man pages written to {}", dir.display());
    Ok(())
}

/// No command: the terminal UI on a terminal, the calls otherwise.
fn ui(args: UiArgs) -> Result<(), Failure> {
    use std::io::IsTerminal;
    if args.input.path().is_none() && !args.input.is_live() {
        return Err(Failure::BadInput(
            "nothing to read: give a capture file (`grpcscope capture.pcap`) or an interface (`grpcscope -i lo`); `grpcscope --help` lists the commands".into(),
        ));
    }
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        let common = CommonArgs {
            input: args.input,
            decode: args.decode,
            time: args.time,
            format: super::args::FormatChoice::Text,
            output: None,
            filter: args.filter,
        };
        let messages = MessageArgs::default();
        let (otlp, otlp_protocol) = (None, crate::output::otlp::Protocol::HttpProtobuf);
        let color = ColorChoice::Never;
        return calls(CallsArgs { common, schema: args.schema, messages, verbose: false, color, otlp, otlp_protocol });
    }
    no_extract(&args.input, "the terminal UI")?;
    let schema = load_schema(&args.schema)?;
    if let Some(f) = &args.filter {
        compile_filter(&Some(f.clone()), &crate::filter::CALL_FIELDS)?;
    }
    let cfg = pipeline_config(&args.decode)?;
    let (source, title, reread) = match &args.input.interface {
        Some(iface) => {
            let cap = open_live(&args.input, iface)?;
            let duration = args.input.duration.map(Duration::from_secs_f64);
            let source = crate::tui::loader::Source::Live { cap, count: args.input.count, duration };
            (source, iface.clone(), args.input.write.clone())
        }
        None => {
            let path = one_capture(&args.input)?;
            let cap = FileCapture::open(&path)
                .map_err(|e| Failure::BadInput(e.to_string()))?
                .with_key_store(cfg.tls_keys.clone());
            let reread = (path.as_os_str() != "-").then(|| path.clone());
            (crate::tui::loader::Source::File(cap), display_name(Some(&path)), reread)
        }
    };
    let decoder = default_decoder(schema, &cfg);
    let opts = crate::tui::Options {
        filter: args.filter,
        frame_memory: args.max_frame_memory,
        window: args.window,
        reread,
        time_format: args.time.time_format,
    };
    crate::tui::run(source, cfg, decoder, title, opts)?;
    Ok(())
}

fn list_interfaces() -> Result<(), Failure> {
    let list = live::list_interfaces().map_err(|e| Failure::BadInput(e.to_string()))?;
    let mut out = io::stdout().lock();
    for (i, (name, desc)) in list.iter().enumerate() {
        writeln!(out, "{}.{name} {desc}", i + 1)?;
    }
    Ok(())
}

fn pipeline_config(decode: &DecodeArgs) -> Result<PipelineConfig, Failure> {
    let mut cfg = decode.pipeline_config();
    load_key_logs(decode, &mut cfg)?;
    load_names(decode, &mut cfg.names)?;
    Ok(cfg)
}

/// Names from `--names` hosts files and `--k8s` kubectl JSON, each given.
fn load_names(decode: &DecodeArgs, names: &mut crate::names::Names) -> Result<(), Failure> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::BadInput(format!("cannot read the {flag} file {}: {e}", path.display())))
    };
    for path in &decode.names {
        let entries = crate::names::hosts::parse(&read("--names", path)?)
            .map_err(|e| Failure::BadInput(format!("--names {}: {e}", path.display())))?;
        names.extend(entries);
    }
    for path in &decode.k8s {
        let entries = crate::names::k8s::parse(&read("--k8s", path)?)
            .map_err(|e| Failure::BadInput(format!("--k8s {}: {e}", path.display())))?;
        names.extend(entries);
    }
    Ok(())
}

/// TLS secrets from `--tls-keylog FILE` (each given) and SSLKEYLOGFILE
/// (when set and readable: a variable left over from another program's
/// session is not worth failing for). A capture's own Decryption Secrets
/// Blocks are added as the file is read.
fn load_key_logs(decode: &DecodeArgs, cfg: &mut PipelineConfig) -> Result<(), Failure> {
    for path in &decode.tls_keylog {
        let text = std::fs::read(path)
            .map_err(|e| Failure::BadInput(format!("cannot read the TLS key log {}: {e}", path.display())))?;
        // An empty file is no mistake (live, its writer appends as connections
        // start); a file of something else is.
        if cfg.tls_keys.add_text(&String::from_utf8_lossy(&text)) == 0 && !text.is_empty() {
            eprintln!(
                "grpcscope: warning: {} holds no TLS secrets (an NSS key log has lines such as `CLIENT_TRAFFIC_SECRET_0 <client random> <secret>`)",
                path.display()
            );
        }
        cfg.tls_key_files.push((path.clone(), text.len() as u64));
    }
    if let Some(path) = std::env::var_os("SSLKEYLOGFILE") {
        let text = std::fs::read(&path).unwrap_or_default();
        cfg.tls_keys.add_text(&String::from_utf8_lossy(&text));
        cfg.tls_key_files.push((path.into(), text.len() as u64));
    }
    Ok(())
}

/// Something to do every so often during a live capture (print statistics).
pub type Tick<'a, S> = (Duration, &'a mut dyn FnMut(&mut Pipeline<S>) -> io::Result<()>);

fn drive_with<S: Sink>(
    input: &InputArgs,
    cfg: PipelineConfig,
    sink: S,
    tick: Option<Tick<'_, S>>,
) -> Result<Pipeline<S>, Failure> {
    match &input.interface {
        Some(iface) => drive_live(input, iface, cfg, sink, tick),
        None => drive_file(input, cfg, sink),
    }
}

fn drive_file<S: Sink>(input: &InputArgs, cfg: PipelineConfig, sink: S) -> Result<Pipeline<S>, Failure> {
    let path = &one_capture(input)?;
    let bar = super::progress::for_files(std::slice::from_ref(path), input.quiet);
    let p = drive_path(path, bar.as_ref(), cfg, sink);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    p
}

/// The one capture file named (a glob or a directory must come to one):
/// only `stats` merges several.
fn one_capture(input: &InputArgs) -> Result<PathBuf, Failure> {
    let mut paths = input.paths().map_err(Failure::BadInput)?;
    match paths.len() {
        1 => Ok(paths.remove(0)),
        0 => Err(Failure::BadInput(
            "no capture given: name a file (or `-` for standard input), or capture live with -i IFACE; e.g. `grpcscope calls capture.pcap`".into(),
        )),
        n => Err(Failure::BadInput(format!(
            "{n} captures given: only `grpcscope stats` merges several; name one, or merge them first \
             (`mergecap -w all.pcap a.pcap b.pcap`)"
        ))),
    }
}

fn display_name(p: Option<&PathBuf>) -> String {
    p.map_or_else(|| "<stdin>".into(), |p| p.display().to_string())
}

/// Set by Ctrl-C (SIGINT) or SIGTERM: stop capturing, finish cleanly.
fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: the user means it.
                std::process::exit(130);
            }
        });
        flag
    })
    .clone()
}

/// Opens a live capture as `input` describes (and drops privileges after).
pub fn open_live(input: &InputArgs, iface: &str) -> Result<LiveCapture, Failure> {
    let opts = LiveOptions {
        interface: iface.to_string(),
        bpf: input.bpf.clone(),
        snaplen: input.snaplen,
        promisc: input.promisc,
        buffer_bytes: input.buffer_bytes,
        write: input.write.clone(),
        write_keys: input.write_keys,
    };
    let cap = LiveCapture::open(&opts).map_err(|e| Failure::BadInput(e.to_string()))?;
    if let Some(user) = &input.user {
        live::drop_privileges(user).map_err(Failure::BadInput)?;
    }
    Ok(cap)
}

fn drive_live<S: Sink>(
    input: &InputArgs,
    iface: &str,
    cfg: PipelineConfig,
    sink: S,
    mut tick: Option<Tick<'_, S>>,
) -> Result<Pipeline<S>, Failure> {
    let mut cap = open_live(input, iface)?;
    let stop = stop_flag();
    eprintln!("grpcscope: capturing on {}; Ctrl-C to stop", cap.description);
    let (keys, mut key_logs) =
        (cfg.tls_keys.clone(), crate::capture::keylog_follow::KeyLogFollower::new(&cfg.tls_key_files));
    cap.write_key_files(&cfg.tls_key_files).map_err(|e| Failure::BadInput(e.to_string()))?;
    let mut last_key_poll = Instant::now();
    let mut pipeline = Pipeline::new(cfg, sink);
    let started = Instant::now();
    let (mut last_flush, mut last_tick) = (Instant::now(), Instant::now());
    let deadline = input.duration.map(Duration::from_secs_f64);
    let mut captured = 0u64;
    let mut failure = None;
    while !stop.load(Ordering::SeqCst)
        && input.count.is_none_or(|c| captured < c)
        && deadline.is_none_or(|d| started.elapsed() < d)
    {
        match cap.next(100) {
            Ok(Some(p)) => {
                captured += 1;
                if pipeline.packet(&p).is_break() {
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        // Key log writers append as handshakes happen; records that came
        // first wait in the TLS layer for these.
        if last_key_poll.elapsed() >= Duration::from_millis(200) {
            let lines = key_logs.poll(&*keys);
            cap.write_key_log(&lines).map_err(|e| Failure::BadInput(e.to_string()))?;
            last_key_poll = Instant::now();
        }
        if last_flush.elapsed() >= Duration::from_secs(1) {
            cap.flush().map_err(|e| Failure::BadInput(e.to_string()))?;
            last_flush = Instant::now();
        }
        if let Some((every, f)) = &mut tick {
            if last_tick.elapsed() >= *every {
                f(&mut pipeline)?;
                last_tick = Instant::now();
            }
        }
    }
    // Calls still open end as incomplete; the -w file is completed. Keys
    // written at the last moment still decrypt the records waiting for them.
    let lines = key_logs.poll(&*keys);
    cap.write_key_log(&lines).map_err(|e| Failure::BadInput(e.to_string()))?;
    pipeline.finish();
    cap.flush().map_err(|e| Failure::BadInput(e.to_string()))?;
    report_drops(&mut cap, captured);
    if let Some(e) = failure {
        eprintln!("grpcscope: warning: the capture stopped: {e}");
    }
    tls_hint(pipeline.counters.tls_undecrypted);
    Ok(pipeline)
}

/// Drop counters at exit, loudly when anything was lost.
fn report_drops(cap: &mut LiveCapture, captured: u64) {
    match cap.drops() {
        Some(d) => {
            eprintln!("grpcscope: {captured} packets captured, {} received by the filter, {} dropped by the kernel, {} dropped by the interface", d.received, d.dropped, d.if_dropped);
            if d.lost() {
                eprintln!(
                    "grpcscope: WARNING: {} PACKETS WERE DROPPED: this capture is INCOMPLETE. Calls, frames and statistics may be missing or \
                     damaged. Raise the buffer with -B, narrow the filter with -f, or write with -w and analyse the file afterwards.",
                    d.dropped + d.if_dropped
                );
            }
        }
        None => eprintln!("grpcscope: {captured} packets captured (the kernel's drop counters are not available)"),
    }
}

/// Compiles `--filter` for records with `fields`; a bad expression is one
/// clear error pointing at the offending character.
fn compile_filter(expr: &Option<String>, fields: &FieldSet) -> Result<Option<Filter>, Failure> {
    match expr {
        None => Ok(None),
        Some(e) => Filter::parse(e, fields)
            .map(Some)
            .map_err(|err| Failure::BadInput(format!("bad --filter for {}s: {err}", fields.kind))),
    }
}

/// Loads the schemas the options name (and the built-in ones).
fn load_schema(args: &SchemaArgs) -> Result<Schema, Failure> {
    let sources = SchemaSources {
        proto_paths: args.proto_paths.clone(),
        protos: args.protos.clone(),
        descriptor_sets: args.descriptor_sets.clone(),
    };
    let mut schema = Schema::load(&sources).map_err(|e| Failure::BadInput(format!("cannot load the schemas: {e}")))?;
    for skipped in &schema.skipped {
        eprintln!("grpcscope: warning: skipped a .proto that does not compile: {skipped}");
    }
    for target in &args.reflect {
        let files = crate::reflect::fetch(target, std::time::Duration::from_secs(10)).map_err(|e| {
            Failure::BadInput(format!(
                "--reflect {target}: {e}. Check that the server is reachable from here and serves gRPC \
                 reflection in clear text, or give the schema with --proto-path/--descriptor-set"
            ))
        })?;
        let added = schema.learn(&files);
        eprintln!("grpcscope: --reflect {target}: {added} schema file(s) learned");
    }
    Ok(schema)
}

/// Whether to colour output that goes to standard output.
/// The width of the terminal standard output goes to, or `None` when it
/// goes to a pipe or a file (where text is never cut to fit).
fn terminal_columns() -> Option<usize> {
    use std::io::IsTerminal;
    io::stdout().is_terminal().then(|| ratatui::crossterm::terminal::size().map_or(80, |(w, _)| usize::from(w)))
}

fn use_color(choice: ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Where a command's output goes: `-o PATH`, or standard output.
fn output_writer(output: &Option<PathBuf>) -> Result<Box<dyn Write + Send>, Failure> {
    match output {
        None => Ok(Box::new(io::stdout())),
        Some(p) => std::fs::File::create(p)
            .map(|f| Box::new(f) as Box<dyn Write + Send>)
            .map_err(|e| Failure::BadInput(format!("cannot write {}: {e}", p.display()))),
    }
}

/// How grpcurl and ghz are to find the schema grpcscope was given.
fn replay_schema(args: &SchemaArgs) -> crate::output::replay::ReplaySchema {
    crate::output::replay::ReplaySchema {
        import_paths: args.proto_paths.clone(),
        protos: args.protos.clone(),
        protosets: args.descriptor_sets.clone(),
    }
}

/// `--format grpcurl` or `--format ghz`: what the printer writes instead of lines.
fn replay_of(args: &CallsArgs) -> Option<Export> {
    let schema = replay_schema(&args.schema);
    match args.common.format {
        FormatChoice::Grpcurl => Some(Export::Grpcurl(schema)),
        FormatChoice::Ghz => Some(Export::Ghz {
            schema,
            data: Default::default(),
            data_path: args.common.output.as_ref().map_or_else(|| "ghz-data.json".into(), |p| p.display().to_string()),
            outcome: None,
        }),
        _ => None,
    }
}

/// The printer `calls` ends with.
type CallsOut = CallsPrinter<BufWriter<Box<dyn Write + Send>>>;

/// What `--format ghz` tells the user at the end: the command to run, the
/// calls left out; an error when no data file could be written.
fn report_ghz(printer: &CallsOut, to_stdout: bool) -> Result<(), Failure> {
    let Some(Export::Ghz { data, outcome, .. }) = &printer.export else { return Ok(()) };
    for (n, why) in &data.skipped {
        eprintln!("grpcscope: call {n} left out of the ghz data: {why}");
    }
    match outcome {
        Some(Ok(command)) => {
            let save = if to_stdout { " (save this output there)" } else { "" };
            eprintln!("grpcscope: ghz data written{save}; run it with:\n  {command}");
            Ok(())
        }
        Some(Err(problem)) => Err(Failure::BadInput(format!("--format ghz: {problem}"))),
        None => Ok(()),
    }
}

/// What `--otlp` did, on standard error; an error when spans were lost.
fn report_spans(r: crate::output::otlp::ExportReport, url: &str, quiet: bool) -> Result<(), Failure> {
    if !quiet || r.failed + r.dropped + r.rejected > 0 {
        eprintln!(
            "grpcscope: {} span(s) exported to {url} in {} request(s); {} rejected by the collector, {} not delivered, {} dropped (queue full)",
            r.exported, r.requests, r.rejected, r.failed, r.dropped
        );
    }
    match r.last_error {
        Some(e) if r.failed > 0 => {
            Err(Failure::Io(io::Error::other(format!("--otlp {url}: {} span(s) not delivered: {e}", r.failed))))
        }
        _ => Ok(()),
    }
}

/// The capture an extract is read from again: a file, not standard input.
fn extract_source(input: &InputArgs, source: Option<&std::path::Path>) -> Result<PathBuf, Failure> {
    let path = match source {
        Some(p) => p.to_path_buf(),
        None => one_capture(input)?,
    };
    if path.as_os_str() == "-" {
        return Err(Failure::BadInput(
            "-w with a capture reads it twice (the calls, then their packets): give a file, not standard input".into(),
        ));
    }
    Ok(path)
}

/// `-w` on a capture file is an extract of calls: only `calls` writes one.
fn no_extract(input: &InputArgs, command: &str) -> Result<(), Failure> {
    match (&input.write, input.is_live()) {
        (Some(_), false) => Err(Failure::BadInput(format!(
            "-w on a capture file writes an extract of calls: use it with `grpcscope calls` (e.g. `grpcscope calls --filter 'status != OK' -w failed.pcap {}`), not with `{command}`",
            input.path().map_or_else(|| "capture.pcap".into(), |p| p.display().to_string())
        ))),
        _ => Ok(()),
    }
}

/// Drives `sink` with the capture at `source`, or with what `input` names
/// (one file with its progress bar, or a live interface) when `None`.
fn drive_source<S: Sink>(
    input: &InputArgs,
    source: Option<&std::path::Path>,
    cfg: PipelineConfig,
    sink: S,
) -> Result<Pipeline<S>, Failure> {
    match source {
        Some(path) => drive_path(path, None, cfg, sink),
        None => drive_with(input, cfg, sink, None),
    }
}

fn calls(args: CallsArgs) -> Result<(), Failure> {
    let schema = load_schema(&args.schema)?;
    if args.common.format == FormatChoice::Parquet && args.common.input.write.is_some() && !args.common.input.is_live()
    {
        return Err(Failure::BadInput(
            "-w writes an extract while `calls` prints: run it with the text or json format, then --format parquet"
                .into(),
        ));
    }
    if args.common.format == FormatChoice::Parquet {
        let jobs = super::tables::plan(&args.common)?;
        return super::tables::run(&jobs, args.common.input.quiet, "calls", |job| {
            let table = Box::new(job.table("calls", crate::output::parquet::calls::COLUMNS)?);
            let export = Export::Parquet { table, capture: job.capture.clone() };
            let printer = calls_once(&args, schema.clone(), job.source.as_deref(), Box::new(io::sink()), Some(export))?;
            Ok(match &printer.export {
                Some(Export::Parquet { table, .. }) => table.written,
                _ => 0,
            })
        });
    }
    let out = output_writer(&args.common.output)?;
    let printer = calls_once(&args, schema, None, out, replay_of(&args))?;
    report_ghz(&printer, args.common.output.is_none())
}

/// Decodes one capture's calls into `out` (or `export`), and returns the
/// printer once everything is written.
fn calls_once(
    args: &CallsArgs,
    schema: Schema,
    source: Option<&std::path::Path>,
    out: Box<dyn Write + Send>,
    export: Option<Export>,
) -> Result<CallsOut, Failure> {
    let live = args.common.input.is_live();
    let format = match args.common.format {
        FormatChoice::Json => crate::output::Format::Json,
        _ => crate::output::Format::Text,
    };
    let mut cfg = pipeline_config(&args.common.decode)?;
    let decoder =
        Decoder::new(schema, args.messages.max_decompressed_size, cfg.redact.clone(), args.messages.max_rendered_size);
    // A file prints in start order; live prints each call as it ends.
    let mut printer =
        CallsPrinter::new(BufWriter::new(out), format, args.verbose, use_color(args.color), !live, decoder);
    printer.export = export;
    // Commands and rows carry each message as JSON text.
    printer.decoder.json_text |= printer.export.is_some();
    if let Some(url) = &args.otlp {
        let endpoint = crate::output::otlp::Endpoint::parse(url, args.otlp_protocol)
            .map_err(|e| Failure::BadInput(format!("--otlp {e}")))?;
        let capture = match (source, &args.common.input.interface) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(iface)) => format!("live {iface}"),
            (None, None) => display_name(args.common.input.path()),
        };
        printer.spans = Some(crate::output::otlp::Exporter::start(endpoint, capture, live));
    }
    printer.clock = clock(&args.common.time);
    printer.flush_each = live && printer.export.is_none();
    printer.columns = terminal_columns();
    if let Some(f) = compile_filter(&args.common.filter, &crate::filter::CALL_FIELDS)? {
        printer.filter = Some(Box::new(move |c| f.matches(c)));
    }
    cfg.messages = MessageLimits {
        max_message: args.messages.max_message_size,
        max_decompressed: args.messages.max_decompressed_size,
        keep_payloads: true,
    };
    cfg.max_call_bytes = args.messages.max_call_bytes;
    let extract_to = args.common.input.write.clone().filter(|_| !live);
    let extract_from = match &extract_to {
        Some(_) => Some(extract_source(&args.common.input, source)?),
        None => None,
    };
    let reread_cfg = cfg.clone();
    // Bodies are decoded and printed on the second core.
    let offloaded = if live { CallsOnThread::spawn_batched(printer, 1) } else { CallsOnThread::spawn(printer) };
    let (offloaded, plan) = match extract_to {
        None => (drive_source(&args.common.input, source, cfg, offloaded)?.sink, None),
        Some(_) => {
            let matches: Box<dyn Fn(&crate::grpc::Call) -> bool + Send> =
                match compile_filter(&args.common.filter, &crate::filter::CALL_FIELDS)? {
                    Some(f) => Box::new(move |c| f.matches(c)),
                    None => Box::new(|_| true),
                };
            let plan = crate::analysis::extract::ExtractPlan::new(args.common.input.write_scope);
            let sink = crate::analysis::extract::Extracting { inner: offloaded, plan, matches };
            let p = drive_source(&args.common.input, source, cfg, sink)?;
            (p.sink.inner, Some(p.sink.plan))
        }
    };
    let mut printer = offloaded.finish().ok_or_else(|| io::Error::other("the output thread failed"))?;
    printer.flush();
    if let Some(e) = printer.error.take() {
        return Err(e.into());
    }
    printer.out_mut().flush()?;
    if let Some(spans) = printer.spans.take() {
        report_spans(spans.finish(), args.otlp.as_deref().unwrap_or_default(), args.common.input.quiet)?;
    }
    if let (Some(plan), Some(from), Some(to)) = (plan, extract_from, &args.common.input.write) {
        let selection = plan.finish();
        let (conns, whole, brought) = (selection.connections(), selection.whole().len(), selection.brought_along());
        let w = super::extract::write(&from, to, selection, &reread_cfg)?;
        if !args.common.input.quiet {
            let whole = match (args.common.input.write_scope, whole) {
                (crate::analysis::extract::WriteScope::Conn, _) | (_, 0) => String::new(),
                (_, n) => format!(
                    "; {n} of them written whole (TLS, retransmissions, reordering or gaps: their packets cannot be told apart by frame)"
                ),
            };
            let brought = match brought {
                0 => String::new(),
                n => format!(" and {n} other call(s) they need (HPACK entries they read, packets they share)"),
            };
            eprintln!(
                "grpcscope: {} of {} packets written to {}: {} matching call(s){brought} on {conns} connection(s){whole}",
                w.packets,
                w.read,
                to.display(),
                printer.printed
            );
        }
    }
    Ok(printer)
}

fn frames(args: FramesArgs) -> Result<(), Failure> {
    no_extract(&args.common.input, "frames")?;
    if args.common.format == FormatChoice::Parquet {
        let jobs = super::tables::plan(&args.common)?;
        return super::tables::run(&jobs, args.common.input.quiet, "frames", |job| {
            let table = Box::new(job.table("frames", crate::output::parquet::frames::COLUMNS)?);
            let mut printer = frames_once(&args, job.source.as_deref(), Some((table, job.capture.clone())))?;
            Ok(printer.finish_table()?)
        });
    }
    frames_once(&args, None, None).map(|_| ())
}

/// Decodes one capture's frames to standard output (or `table`).
fn frames_once(
    args: &FramesArgs,
    source: Option<&std::path::Path>,
    table: Option<(Box<crate::output::parquet::Table>, String)>,
) -> Result<FramesPrinter<BufWriter<io::Stdout>>, Failure> {
    let out = BufWriter::new(io::stdout());
    let select = FrameSelection { conn: args.conn, stream: args.stream };
    let format = match table {
        Some(_) => crate::output::Format::Json,
        None => args.common.format.lines("frames").map_err(Failure::BadInput)?,
    };
    let mut printer = FramesPrinter::new(out, format, args.verbose, select);
    printer.table = table;
    printer.clock = clock(&args.common.time);
    printer.filter = compile_filter(&args.common.filter, &crate::filter::FRAME_FIELDS)?;
    printer.flush_each = args.common.input.is_live() && printer.table.is_none();
    let mut cfg = pipeline_config(&args.common.decode)?;
    cfg.h2.snapshot_tables = args.verbose;
    let mut p = drive_source(&args.common.input, source, cfg, printer)?;
    p.sink.footer();
    if let Some(e) = p.sink.error.take() {
        return Err(e.into());
    }
    let mut printer = p.sink;
    printer.out_mut().flush()?;
    Ok(printer)
}

fn explain(args: ExplainArgs) -> Result<(), Failure> {
    use crate::explain::narrate::{Choice, Narrator};
    no_extract(&args.input, "explain")?;
    if args.input.is_live() {
        return Err(Failure::BadInput(
            "explain walks through a capture file: record one first with -i IFACE -w FILE".into(),
        ));
    }
    let choice = match args.call {
        None => Choice { conn: args.conn, stream: None },
        Some(n) => nth_call(&args, n)?,
    };
    let mut cfg = pipeline_config(&args.decode)?;
    // Each header field's HPACK encoding needs the table as it evolves.
    cfg.h2.snapshot_tables = true;
    let out = BufWriter::new(io::stdout().lock());
    let schema = load_schema(&args.schema)?;
    let decoder = default_decoder(schema, &cfg);
    let mut narrator = Narrator::new(choice, out);
    narrator.clock = clock(&args.time);
    narrator.decoder = Some(decoder);
    let p = drive_with(&args.input, cfg, narrator, None)?;
    let (_, written) = p.sink.finish();
    match written {
        Ok(()) => Ok(()),
        Err(crate::explain::narrate::Unwritten::Io(e)) => Err(e.into()),
        Err(crate::explain::narrate::Unwritten::NoSuchConnection(id)) => Err(Failure::BadInput(format!(
            "connection {id} is not in this capture: `grpcscope conns {}` lists them",
            display_name(args.input.path())
        ))),
    }
}

/// A decoder with the default message limits, for the commands that take
/// no limit flags (the UI, explain).
fn default_decoder(schema: Schema, cfg: &PipelineConfig) -> Decoder {
    let max_decompressed = MessageLimits::default().max_decompressed;
    Decoder::new(schema, max_decompressed, cfg.redact.clone(), crate::proto::budget::DEFAULT_RENDER_BYTES)
}

/// The clock `-t` asks for, with the system's local zone.
fn clock(t: &super::args::TimeArgs) -> crate::time::Clock {
    crate::time::Clock::new(t.time_format, Some(crate::capture::zone::local_offset))
}

/// The connection and stream of call `n` (1-based, in `calls` order): a first pass over the file.
fn nth_call(args: &ExplainArgs, n: usize) -> Result<crate::explain::narrate::Choice, Failure> {
    struct Starts(Vec<(crate::time::Timestamp, u64, u32)>);
    impl Sink for Starts {
        fn grpc_event(&mut self, ev: crate::grpc::GrpcEvent) -> Flow {
            if let crate::grpc::GrpcEvent::Finished(c) = ev {
                self.0.push((c.start, c.conn, c.stream_id));
            }
            CONTINUE
        }
    }
    if args.input.path().is_some_and(|p| p.as_os_str() == "-") {
        return Err(Failure::BadInput("--call reads the capture twice: give a file, not standard input".into()));
    }
    let mut p = drive_with(&args.input, pipeline_config(&args.decode)?, Starts(Vec::new()), None)?;
    p.sink.0.sort();
    let total = p.sink.0.len();
    match n.checked_sub(1).and_then(|i| p.sink.0.get(i)) {
        Some((_, conn, stream)) => Ok(crate::explain::narrate::Choice { conn: *conn, stream: Some(*stream) }),
        None => Err(Failure::BadInput(format!(
            "--call {n}: the capture has {total} call(s), numbered from 1 as `grpcscope calls` lists them"
        ))),
    }
}

fn conns(args: ConnsArgs) -> Result<(), Failure> {
    no_extract(&args.common.input, "conns")?;
    if args.common.format == FormatChoice::Parquet {
        let jobs = super::tables::plan(&args.common)?;
        return super::tables::run(&jobs, args.common.input.quiet, "connections", |job| {
            let table = Box::new(job.table("conns", crate::output::parquet::conns::COLUMNS)?);
            let mut printer = conns_once(&args, job.source.as_deref(), Some((table, job.capture.clone())))?;
            Ok(printer.finish_table()?)
        });
    }
    conns_once(&args, None, None).map(|_| ())
}

/// Decodes one capture's connections to standard output (or `table`).
fn conns_once(
    args: &ConnsArgs,
    source: Option<&std::path::Path>,
    table: Option<(Box<crate::output::parquet::Table>, String)>,
) -> Result<ConnsPrinter<BufWriter<io::Stdout>>, Failure> {
    let out = BufWriter::new(io::stdout());
    let format = match table {
        Some(_) => crate::output::Format::Json,
        None => args.common.format.lines("conns").map_err(Failure::BadInput)?,
    };
    let mut printer = ConnsPrinter::new(out, format, args.verbose, args.common.input.is_live());
    printer.table = table;
    printer.clock = clock(&args.common.time);
    printer.filter = compile_filter(&args.common.filter, &crate::filter::CONN_FIELDS)?;
    let mut p = drive_source(&args.common.input, source, pipeline_config(&args.common.decode)?, printer)?;
    let counters = p.counters.clone();
    p.sink.finish(&counters);
    if let Some(e) = p.sink.error.take() {
        return Err(e.into());
    }
    let mut printer = p.sink;
    printer.out_mut().flush()?;
    Ok(printer)
}

fn stats(args: StatsArgs) -> Result<(), Failure> {
    no_extract(&args.common.input, "stats")?;
    let filter = compile_filter(&args.common.filter, &crate::filter::CALL_FIELDS)?;
    let mut cfg = pipeline_config(&args.common.decode)?;
    // Statistics need lengths and counts, not message bytes, except the first
    // request of each call, which pairs proxied legs: keep payloads small.
    cfg.max_call_bytes = 64 * 1024;
    let format = args.common.format.lines("stats").map_err(Failure::BadInput)?;
    let by = args.by;
    use crate::output::stats::By;
    let breakdowns =
        crate::analysis::stats::Breakdowns { server: by == By::Server, edge: by == By::Edge, conn: by == By::Conn };
    let sink = crate::analysis::stats::Stats { filter, breakdowns, ..Default::default() };
    // Live figures say what they cover: since the start, or one interval.
    let span = if args.per_interval {
        format!("the last {}s", args.interval.max(0.1))
    } else {
        format!("since {}", now_clock())
    };
    let per_interval = args.per_interval;
    let stats_clock = clock(&args.common.time);
    let print_now = |p: &mut Pipeline<crate::analysis::stats::Stats>| -> io::Result<()> {
        p.sink.capture = p.counters.clone();
        p.sink.open_connections = p.open_connections();
        let mut out = io::stdout().lock();
        if format == crate::output::Format::Text {
            writeln!(out, "--- {} ({span}) ---", now_clock())?;
        }
        crate::output::stats::print(&mut out, &p.sink, by, format, terminal_columns(), &stats_clock)?;
        if per_interval {
            // The next print starts from nothing, with the same filter and breakdown.
            let (filter, breakdowns) = (p.sink.filter.take(), p.sink.breakdowns);
            p.sink = crate::analysis::stats::Stats { filter, breakdowns, ..Default::default() };
        }
        out.flush()
    };
    let mut print_tick = print_now;
    let tick: Option<Tick<'_, _>> = args.common.input.is_live().then(|| {
        (
            Duration::from_secs_f64(args.interval.max(0.1)),
            &mut print_tick as &mut dyn FnMut(&mut Pipeline<_>) -> io::Result<()>,
        )
    });
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let input = &args.common.input;
    let paths = if input.is_live() { Vec::new() } else { input.paths().map_err(Failure::BadInput)? };
    let stats = if input.is_live() || (paths.len() == 1 && threads == 1) {
        let mut p = drive_with(input, cfg, sink, tick)?;
        p.sink.capture = p.counters.clone();
        p.sink
    } else {
        let (filter, breakdowns) = (sink.filter, sink.breakdowns);
        let make = move || crate::analysis::stats::Stats { filter: filter.clone(), breakdowns, ..Default::default() };
        let bar = super::progress::for_files(&paths, input.quiet);
        let stats = match paths.as_slice() {
            [] => drive_file(input, cfg, make()).map(|p| p.sink),
            [one] => super::parallel::stats_sharded(one, threads, &cfg, &make, bar.as_ref()),
            many => super::parallel::stats_of_files(many, threads, &cfg, &make, bar.as_ref()),
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        stats?
    };
    let mut out = BufWriter::new(io::stdout().lock());
    crate::output::stats::print(&mut out, &stats, args.by, format, terminal_columns(), &stats_clock)?;
    out.flush()?;
    Ok(())
}

fn doctor(args: DoctorArgs) -> Result<(), Failure> {
    no_extract(&args.common.input, "doctor")?;
    let format = args.common.format.lines("doctor").map_err(Failure::BadInput)?;
    let filter = compile_filter(&args.common.filter, &crate::filter::CALL_FIELDS)?;
    let mut cfg = pipeline_config(&args.common.decode)?;
    // The rules read lengths, statuses and times; the first request pairs proxied legs.
    cfg.max_call_bytes = 64 * 1024;
    let sink = crate::analysis::doctor::Doctor::new(filter);
    let mut p = drive_with(&args.common.input, cfg, sink, None)?;
    p.sink.facts.capture = p.counters.clone();
    let findings = p.sink.findings();
    let name = match &args.common.input.interface {
        Some(iface) => format!("live {iface}"),
        None => display_name(args.common.input.path()),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    crate::output::doctor::print(&mut out, &name, &p.sink.facts, &findings, format)?;
    out.flush()?;
    Ok(())
}

/// The wall clock now, HH:MM:SS (UTC), for live statistics headers.
fn now_clock() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    crate::time::Timestamp::from_parts(now.as_secs() as i64, 0).clock()
}
