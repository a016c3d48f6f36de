//! `usermode-test`: the programs that exercise afunix-rs from user mode.
//!
//! Each subcommand is one check; it prints what it did and exits non-zero when the check
//! fails, so the Wine harness and CI can run it directly.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod async_bench;
mod cancel;
mod conformance;
mod driver;
mod faults;
mod messages;
mod overload;
mod programs;
mod progress;
mod rights;
mod shares;
mod smoke;
mod tokio_echo;
#[cfg(windows)]
mod wsp;

/// The provider is a Windows DLL: elsewhere its commands say so and fail.
#[cfg(not(windows))]
mod wsp {
    use std::path::{Path, PathBuf};

    const WINDOWS_ONLY: &str =
        "the Winsock provider is a Windows DLL: run the Windows build (under Wine here)";

    pub fn default_dll() -> PathBuf {
        PathBuf::from(afunix_proto::names::PROVIDER_FILE)
    }

    pub fn run(_dll: &Path, _only: Option<&str>, _trace: Option<&Path>) -> Result<(), String> {
        Err(WINDOWS_ONLY.into())
    }

    pub fn server(_dll: &Path, _path: &Path, _connections: usize) -> Result<(), String> {
        Err(WINDOWS_ONLY.into())
    }

    pub fn client(_dll: &Path, _path: &Path, _message: &str) -> Result<(), String> {
        Err(WINDOWS_ONLY.into())
    }
}

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
    /// Run the conformance scenarios on Linux AF_UNIX and on the engine, and compare.
    Conformance(conformance::Args),
    /// Check the library against the driver (Windows, or Wine): each behaviour a program
    /// would notice, one line each.
    Driver {
        /// Run only the checks whose name contains this.
        #[arg(long)]
        only: Option<String>,
    },
    /// Bind PATH and answer each line of each of N connections in upper case.
    Server {
        path: std::path::PathBuf,
        #[arg(long, default_value_t = 1)]
        connections: usize,
    },
    /// Connect to PATH, send each word of MESSAGE as a line, check the answers.
    Client {
        path: std::path::PathBuf,
        #[arg(long, default_value = "hello from the client")]
        message: String,
    },
    /// Concurrent connections moving data in random-size chunks, checksummed.
    Stress {
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 16)]
        megabytes: usize,
        /// The driver refuses allocations on purpose (its low-resources mode): a call
        /// refused with ENOBUFS or ENOMEM is made again, every accepted byte must arrive, and
        /// STATS must end at zero.
        #[arg(long)]
        faults: bool,
    },
    /// Throughput and round-trip time through `Net::system()`.
    Bench,
    /// The async sockets beside the blocking library: echo requests per second and
    /// throughput (a table; not a pass/fail test).
    BenchAsync,
    /// Pending reads cancelled with CancelIoEx; then STATS must be back to zero.
    Cancel {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// As for `stress --faults`.
        #[arg(long)]
        faults: bool,
    },
    /// The driver's caps reached: its whole socket cap, then one more (EMFILE); then its
    /// global cap on buffered bytes by many connections, each drained and checked. Needs
    /// the driver loaded with `Parameters\UserShareDivisor` 1.
    Overload {
        #[arg(long, default_value_t = 400)]
        connections: usize,
    },
    /// One user at its share of sockets and of pending requests gets EMFILE and ENOBUFS, and
    /// works again once it lets go; STATS must start and end at zero.
    Shares,
    /// A child process holding pending reads is killed; then STATS must be back to zero.
    Hold {
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
    /// As an unprivileged user: bind in READ_ONLY_DIR and connect to a read-only socket file
    /// in WORK_DIR are refused with EACCES.
    Permissions {
        read_only_dir: std::path::PathBuf,
        work_dir: std::path::PathBuf,
    },
    /// The Winsock provider DLL loaded directly (LoadLibrary + WSPStartup with this
    /// program's upcall table) and driven through its SPI entry points against the driver;
    /// then, with --replay, the recorded Linux scenarios through it.
    Wsp {
        /// The provider DLL (default: afunixwsp.dll next to this program).
        #[arg(long)]
        dll: Option<std::path::PathBuf>,
        /// Run only the checks whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// A conformance trace recorded on Linux, replayed through the provider.
        #[arg(long)]
        replay: Option<std::path::PathBuf>,
    },
    /// `server` through the Winsock provider.
    WspServer {
        path: std::path::PathBuf,
        #[arg(long, default_value_t = 1)]
        connections: usize,
        #[arg(long)]
        dll: Option<std::path::PathBuf>,
    },
    /// `client` through the Winsock provider.
    WspClient {
        path: std::path::PathBuf,
        #[arg(long, default_value = "hello from the client")]
        message: String,
        #[arg(long)]
        dll: Option<std::path::PathBuf>,
    },
    /// Datagram and seqpacket sockets between two processes (socket files and abstract
    /// names), a full receiver holding its sender, cancelled RECVFROMs; then STATS at zero.
    Messages,
    /// The child of `messages`.
    #[command(hide = true)]
    MessagesChild {
        role: messages::Role,
        #[arg(long)]
        path: Option<std::path::PathBuf>,
        #[arg(long = "abstract")]
        abstract_name: Option<String>,
    },
    /// Handles passed (SCM_RIGHTS) to another process: a file, a pipe and a listening
    /// socket; too small a control buffer; sockets sent over themselves; STATS back to zero.
    Rights,
    /// The child of `rights`.
    #[command(hide = true)]
    RightsChild { meet: std::path::PathBuf },
    /// A tokio echo server and N concurrent clients through `afunix::tokio`, checksummed;
    /// then the same with every task dropped at random points; then STATS must be zero.
    TokioEcho(tokio_echo::Args),
    /// The child of `hold`.
    #[command(hide = true)]
    HoldChild {
        #[arg(long)]
        count: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::enable();
    let result = match cli.command {
        Command::Smoke => smoke::run(),
        Command::Conformance(args) => conformance::run(&args),
        Command::Driver { only } => driver::run(only.as_deref()),
        Command::Server { path, connections } => programs::server(&path, connections),
        Command::Client { path, message } => programs::client(&path, &message),
        Command::Stress {
            connections,
            megabytes,
            faults,
        } => programs::stress(connections, megabytes, faults),
        Command::Bench => programs::bench(),
        Command::BenchAsync => async_bench::run(),
        Command::Cancel { count, faults } => cancel::cancel(count, faults),
        Command::Overload { connections } => overload::run(connections),
        Command::Hold { count } => cancel::hold(count),
        Command::Shares => shares::run(),
        Command::HoldChild { count } => cancel::hold_child(count),
        Command::Messages => messages::run(),
        Command::TokioEcho(args) => tokio_echo::run(&args),
        Command::Rights => rights::run(),
        Command::RightsChild { meet } => rights::child(&meet),
        Command::MessagesChild {
            role,
            path,
            abstract_name,
        } => messages::child(role, path.as_deref(), abstract_name.as_deref()),
        Command::Permissions {
            read_only_dir,
            work_dir,
        } => programs::permissions(&read_only_dir, &work_dir),
        Command::Wsp { dll, only, replay } => wsp::run(
            &dll.unwrap_or_else(wsp::default_dll),
            only.as_deref(),
            replay.as_deref(),
        ),
        Command::WspServer {
            path,
            connections,
            dll,
        } => wsp::server(&dll.unwrap_or_else(wsp::default_dll), &path, connections),
        Command::WspClient { path, message, dll } => {
            wsp::client(&dll.unwrap_or_else(wsp::default_dll), &path, &message)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("usermode-test: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
