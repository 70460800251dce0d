//! The `grpcscope` binary: everything lives in the library's `cli` module.

fn main() {
    std::process::exit(grpcscope::cli::main());
}
