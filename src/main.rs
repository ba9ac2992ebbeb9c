//! The `guanxi` binary: parses the command line and hands over to `guanxi_api`.

mod cases;
mod cli;
mod component;
mod plugin;
mod remote;
mod scaffold;

use std::process::ExitCode;

use clap::Parser as _;

/// Many small, short-lived allocations per request (GraphQL values, rows, JSON) made glibc's
/// malloc a third of the server's CPU time; mimalloc serves them from thread-local pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
