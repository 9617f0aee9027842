//! The `mimecast-collector` binary: all logic lives in the library; this only hands over.

fn main() -> std::process::ExitCode {
    mimecast_collector::cli::main()
}
