//! The `grpcscope` binary: everything lives in the library's `cli` module.

/// mimalloc: the pipeline allocates a call on one thread and the renderer
/// frees it on another, where glibc's malloc contends on its arenas; and it
/// is faster on the many small per-call allocations (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(grpcscope::cli::main());
}
