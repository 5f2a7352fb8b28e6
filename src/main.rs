//! The `onroll` binary: everything lives in the library so that tests, the
//! simulator-backed demo and benchmarks link the same code.

fn main() -> std::process::ExitCode {
    onroll::cli::main()
}
