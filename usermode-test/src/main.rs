//! `usermode-test`: the programs that exercise afunix-rs from user mode.
//!
//! Each subcommand is one check; it prints what it did and exits non-zero when the check
//! fails, so the Wine harness and CI can run it directly.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod smoke;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the driver's device, read STATS, and check the reply and the device's security.
    Smoke,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Smoke => smoke::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("usermode-test: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
