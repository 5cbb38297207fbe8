//! The `loadgen` binary; its command line is [`loadgen::cli`].

fn main() -> std::process::ExitCode {
    loadgen::cli::main()
}
