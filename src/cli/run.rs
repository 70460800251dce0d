//! Running a command: open the source, build the pipeline, print.

use super::args::{
    CallsArgs, Cli, ColorChoice, Command, ConnsArgs, DecodeArgs, FramesArgs, InputArgs, SchemaArgs, StatsArgs,
};
use crate::analysis::{Pipeline, PipelineConfig, Sink};
use crate::capture::FileCapture;
use crate::filter::{FieldSet, Filter};
use crate::grpc::MessageLimits;
use crate::h2::H2Config;
use crate::output::calls::{CallsPrinter, Decoder};
use crate::output::conns::ConnsPrinter;
use crate::output::frames::{FrameSelection, FramesPrinter};
use crate::proto::{Schema, SchemaSources};
use crate::tcp::TcpConfig;
use clap::Parser;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

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

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The input cannot be used; the message says why and what to do.
    BadInput(String),
    /// Writing output failed.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Some(Command::Calls(args)) => calls(args),
        Some(Command::Conns(args)) => conns(args),
        Some(Command::Stats(args)) => stats(args),
        Some(Command::Frames(args)) => frames(args),
        None => Err(Failure::BadInput("no command given; try `grpcscope conns FILE` or `grpcscope --help`".into())),
    }
}

/// Loads the schemas the options name (and the built-in ones).
fn load_schema(args: &SchemaArgs) -> Result<Schema, Failure> {
    let sources = SchemaSources {
        proto_paths: args.proto_paths.clone(),
        protos: args.protos.clone(),
        descriptor_sets: args.descriptor_sets.clone(),
    };
    let schema = Schema::load(&sources).map_err(|e| Failure::BadInput(format!("cannot load the schemas: {e}")))?;
    for skipped in &schema.skipped {
        eprintln!("grpcscope: warning: skipped a .proto that does not compile: {skipped}");
    }
    Ok(schema)
}

/// Whether to colour output that goes to standard output.
fn use_color(choice: ColorChoice) -> bool {
    use std::io::IsTerminal;
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn calls(args: CallsArgs) -> Result<(), Failure> {
    let schema = load_schema(&args.schema)?;
    let out = BufWriter::new(io::stdout().lock());
    let decoder = Decoder { schema, max_decompressed: args.messages.max_decompressed_size };
    let mut printer = CallsPrinter::new(out, args.common.format, args.verbose, use_color(args.color), true, decoder);
    if let Some(f) = compile_filter(&args.common.filter, &crate::filter::CALL_FIELDS)? {
        printer.filter = Some(Box::new(move |c| f.matches(c)));
    }
    let mut cfg = pipeline_config(&args.common.decode);
    cfg.messages = MessageLimits {
        max_message: args.messages.max_message_size,
        max_decompressed: args.messages.max_decompressed_size,
        keep_payloads: true,
    };
    cfg.max_call_bytes = args.messages.max_call_bytes;
    let mut p = drive_with(&args.common.input, cfg, printer)?;
    p.sink.flush();
    if let Some(e) = p.sink.error.take() {
        return Err(e.into());
    }
    p.sink.into_inner().flush()?;
    Ok(())
}

fn frames(args: FramesArgs) -> Result<(), Failure> {
    let out = BufWriter::new(io::stdout().lock());
    let select = FrameSelection { conn: args.conn, stream: args.stream };
    let mut printer = FramesPrinter::new(out, args.common.format, args.verbose, select);
    printer.filter = compile_filter(&args.common.filter, &crate::filter::FRAME_FIELDS)?;
    let mut cfg = pipeline_config(&args.common.decode);
    cfg.h2.snapshot_tables = args.verbose;
    let mut p = drive_with(&args.common.input, cfg, printer)?;
    p.sink.footer();
    if let Some(e) = p.sink.error.take() {
        return Err(e.into());
    }
    p.sink.into_inner().flush()?;
    Ok(())
}

fn pipeline_config(decode: &DecodeArgs) -> PipelineConfig {
    PipelineConfig {
        tcp: TcpConfig {
            max_buffered_per_direction: decode.max_reassembly_buffer,
            server_ports: decode.h2_ports.clone(),
            ..TcpConfig::default()
        },
        h2: H2Config { h2_ports: decode.h2_ports.clone(), ..H2Config::default() },
        ..PipelineConfig::new()
    }
}

fn open_capture(input: &InputArgs) -> Result<FileCapture, Failure> {
    let Some(path) = input.path() else {
        return Err(Failure::BadInput(
            "no capture given: name a file (or `-` for standard input), e.g. `grpcscope conns capture.pcap`".into(),
        ));
    };
    FileCapture::open(path).map_err(|e| Failure::BadInput(e.to_string()))
}

/// Feeds every packet of the capture through a pipeline ending in `sink`,
/// then prints the capture's warnings on stderr.
fn drive<S: Sink>(input: &InputArgs, decode: &DecodeArgs, sink: S) -> Result<Pipeline<S>, Failure> {
    drive_with(input, pipeline_config(decode), sink)
}

fn drive_with<S: Sink>(input: &InputArgs, cfg: PipelineConfig, sink: S) -> Result<Pipeline<S>, Failure> {
    let mut cap = open_capture(input)?;
    let mut pipeline = Pipeline::new(cfg, sink);
    while let Some(pkt) = cap.next_packet() {
        pipeline.packet(&pkt);
    }
    pipeline.finish();
    for w in cap.warnings() {
        eprintln!("grpcscope: warning: {}: {w}", display_name(input.path()));
    }
    Ok(pipeline)
}

fn display_name(p: Option<&PathBuf>) -> String {
    p.map_or_else(|| "<stdin>".into(), |p| p.display().to_string())
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

fn conns(args: ConnsArgs) -> Result<(), Failure> {
    let out = BufWriter::new(io::stdout().lock());
    let mut printer = ConnsPrinter::new(out, args.common.format, args.verbose, false);
    printer.filter = compile_filter(&args.common.filter, &crate::filter::CONN_FIELDS)?;
    let mut p = drive(&args.common.input, &args.common.decode, printer)?;
    let counters = p.counters.clone();
    p.sink.finish(&counters);
    if let Some(e) = p.sink.error.take() {
        return Err(e.into());
    }
    p.sink.into_inner().flush()?;
    Ok(())
}

fn stats(args: StatsArgs) -> Result<(), Failure> {
    let filter = compile_filter(&args.common.filter, &crate::filter::CALL_FIELDS)?;
    let mut cfg = pipeline_config(&args.common.decode);
    // Statistics need lengths and counts, not message bytes, except the first
    // request of each call, which pairs proxied legs: keep payloads small.
    cfg.max_call_bytes = 64 * 1024;
    let sink = crate::analysis::stats::Stats { filter, ..Default::default() };
    let mut p = drive_with(&args.common.input, cfg, sink)?;
    p.sink.capture = p.counters.clone();
    let mut out = BufWriter::new(io::stdout().lock());
    crate::output::stats::print(&mut out, &p.sink, args.by, args.common.format)?;
    out.flush()?;
    Ok(())
}
