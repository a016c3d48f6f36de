//! `afunixctl`: the afunix-rs service, seen from the command line.
//!
//! `afunixctl status` prints the driver service's state in the manner of `sc query afunixrs`,
//! then the driver's own statistics; it exits non-zero, saying why, when the service is
//! missing or stopped or the driver does not answer.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Manage and inspect the afunix-rs driver (afunixrs.sys)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the service's state (as `sc query afunixrs` would) and the driver's statistics.
    Status {
        /// Print the same facts as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Status { json } => status(json),
    }
}

#[cfg(windows)]
fn status(json: bool) -> ExitCode {
    let report = gather::report();
    if json {
        println!("{}", report.render_json());
    } else {
        print!("{}", report.render_text());
    }
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(1))
}

#[cfg(not(windows))]
fn status(_json: bool) -> ExitCode {
    eprintln!(
        "afunixctl: the afunixrs service exists only on Windows; run the Windows build of afunixctl there (or under Wine)"
    );
    ExitCode::from(2)
}

#[cfg(windows)]
mod gather {
    use afunix::status::{DriverReport, SERVICE_RUNNING, StatusReport, state_name};
    use afunix::sys::device::Device;
    use afunix::sys::scm::{self, Query};
    use afunix_proto::names::{SERVICE_NAME, USER_DEVICE_PATH};

    pub fn report() -> StatusReport {
        let service = match scm::query(SERVICE_NAME) {
            Err(e) => {
                return failed(
                    None,
                    format!("cannot query the Service Control Manager: {e}"),
                );
            }
            Ok(Query::Missing) => {
                return failed(None, format!("the service {SERVICE_NAME} is not installed"));
            }
            Ok(Query::Found(service)) => service,
        };
        if service.state != SERVICE_RUNNING {
            let message = format!(
                "the service {SERVICE_NAME} is {}; start it with `sc start {SERVICE_NAME}`",
                state_name(service.state)
            );
            return failed(Some(service), message);
        }
        let driver = Device::open().and_then(|device| {
            let stats = device.stats()?;
            // Empty under Wine, which keeps the device's descriptor apart from its handles.
            let sddl = device.dacl_sddl().ok().filter(|s| !s.is_empty());
            Ok(DriverReport::new(USER_DEVICE_PATH, &stats, sddl))
        });
        match driver {
            Ok(driver) => StatusReport {
                service: Some(service),
                driver: Some(driver),
                error: None,
            },
            Err(e) => failed(
                Some(service),
                format!(
                    "the service runs but the driver did not answer on {USER_DEVICE_PATH}: {e}"
                ),
            ),
        }
    }

    fn failed(service: Option<afunix::status::ServiceStatus>, message: String) -> StatusReport {
        StatusReport {
            service,
            driver: None,
            error: Some(message),
        }
    }
}
