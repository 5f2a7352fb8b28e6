//! The `onroll` binary: everything lives in the library so that tests, the
//! simulator-backed demo and benchmarks link the same code.

/// mimalloc rather than the system's malloc: building an answer allocates a
/// value per field, and under load glibc's allocator took a quarter of the
/// server's CPU (issue 15's profile; the side-by-side since is in
/// bench/postgraphile/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    onroll::cli::main()
}
