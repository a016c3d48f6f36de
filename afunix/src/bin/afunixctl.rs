//! `afunixctl`: the afunix-rs driver and Winsock provider, seen from the command line.
//!
//! `afunixctl status` prints the driver service's state in the manner of `sc query afunixrs`,
//! then the driver's own statistics (only an administrator may read them; anyone else is told
//! so, and a running service still exits 0) and the provider's Winsock catalog entries; it
//! exits non-zero, saying why, when the service is missing or stopped or the driver does not
//! answer.
//! `afunixctl install` and `uninstall` put the driver, its service and the provider in place
//! and take them away again; both can be run any number of times.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Install, remove and inspect the afunix-rs driver (afunixrs.sys) and its Winsock provider (afunixwsp.dll)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the service's state (as `sc query afunixrs` would), the driver's statistics and
    /// the provider's Winsock catalog entries.
    Status {
        /// Print the same facts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install the driver and the Winsock provider (run as Administrator).
    ///
    /// Copies afunixrs.sys to %SystemRoot%\System32\drivers, creates the kernel driver
    /// service afunixrs (demand start) and starts it; copies afunixwsp.dll to
    /// %SystemRoot%\System32 and registers it in the 64-bit Winsock catalog for AF_UNIX
    /// SOCK_STREAM, SOCK_DGRAM and SOCK_SEQPACKET. Only the 64-bit catalog: no 32-bit
    /// provider DLL is built, so 32-bit programs do not see the provider. Whatever is already
    /// in place is left as it is, so install can be run again. By default the new catalog
    /// entries go after every existing
    /// one, so Microsoft's AF_UNIX provider still answers socket(AF_UNIX, ...): see --prefer.
    Install {
        /// The driver to install [default: afunixrs.sys next to afunixctl.exe, or
        /// afunixkm.sys with --kmdf].
        #[arg(long, value_name = "PATH")]
        driver: Option<PathBuf>,
        /// Install the KMDF build of the driver (afunixkm.sys) instead of the WDM one
        /// (afunixrs.sys): the same service, device and sockets, on Microsoft's Kernel-Mode
        /// Driver Framework 1.33. Writes the service's Parameters\Wdf\KmdfLibraryVersion as
        /// its INF would. It needs a KMDF runtime, which Windows has and Wine does not.
        #[arg(long)]
        kmdf: bool,
        /// The provider DLL to install [default: afunixwsp.dll next to afunixctl.exe].
        #[arg(long, value_name = "PATH")]
        provider: Option<PathBuf>,
        /// Install the service but do not start it.
        #[arg(long)]
        no_start: bool,
        /// Also move the provider ahead of every other in the Winsock catalog, so that
        /// socket(AF_UNIX, SOCK_STREAM, 0) picks afunix-rs instead of Microsoft's afunix.sys.
        /// Off by default because it changes socket() for every process on the machine.
        /// `afunixctl uninstall` puts the catalog back in its previous order.
        #[arg(long)]
        prefer: bool,
    },
    /// Remove the provider, the driver service and both files (run as Administrator).
    ///
    /// Removes the provider's Winsock catalog entries (the other entries keep their order),
    /// stops the service and deletes it, and deletes afunixwsp.dll and afunixrs.sys. Running
    /// it again finds nothing to do and succeeds.
    Uninstall,
    /// List the whole Winsock catalog (every protocol entry, in order).
    #[command(hide = true)]
    Catalog {
        /// Print the entries as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Status { json } => status(json),
        Command::Install {
            driver,
            kmdf,
            provider,
            no_start,
            prefer,
        } => install(driver, kmdf, provider, no_start, prefer),
        Command::Uninstall => uninstall(),
        Command::Catalog { json } => catalog(json),
    }
}

#[cfg(windows)]
fn install(
    driver: Option<PathBuf>,
    kmdf: bool,
    provider: Option<PathBuf>,
    no_start: bool,
    prefer: bool,
) -> ExitCode {
    use afunix::sys::setup::{self, InstallOptions};
    let options = InstallOptions {
        driver,
        kmdf,
        provider,
        no_start,
        prefer,
    };
    match setup::install(&options, &mut |line| println!("{line}")) {
        Ok(()) => {
            println!("afunixctl: installed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("afunixctl: install: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(windows)]
fn uninstall() -> ExitCode {
    match afunix::sys::setup::uninstall(&mut |line| println!("{line}")) {
        Ok(true) => {
            println!("afunixctl: uninstalled");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("afunixctl: nothing to do: afunix-rs was not installed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("afunixctl: uninstall: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(windows)]
fn catalog(json: bool) -> ExitCode {
    match afunix::sys::catalog::enumerate(afunix::sys::catalog::Paths::Every) {
        Ok(entries) => {
            if json {
                match serde_json::to_string_pretty(&entries) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("afunixctl: catalog: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", afunix::status::render_catalog_text(&entries));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("afunixctl: catalog: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(windows))]
fn install(_: Option<PathBuf>, _: bool, _: Option<PathBuf>, _: bool, _: bool) -> ExitCode {
    windows_only()
}

#[cfg(not(windows))]
fn uninstall() -> ExitCode {
    windows_only()
}

#[cfg(not(windows))]
fn catalog(_json: bool) -> ExitCode {
    windows_only()
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
    windows_only()
}

#[cfg(not(windows))]
fn windows_only() -> ExitCode {
    eprintln!(
        "afunixctl: the afunixrs service exists only on Windows; run the Windows build of afunixctl there (or under Wine)"
    );
    ExitCode::from(2)
}

#[cfg(windows)]
mod gather {
    use afunix::status::{CatalogReport, DriverReport, SERVICE_RUNNING, StatusReport, state_name};
    use afunix::sys::catalog;
    use afunix::sys::device::Device;
    use afunix::sys::scm::{self, Query};
    use afunix_proto::names::{SERVICE_NAME, USER_DEVICE_PATH};

    pub fn report() -> StatusReport {
        StatusReport {
            catalog: Some(catalog_report()),
            ..service_report()
        }
    }

    /// The provider's entries in the Winsock catalog.
    fn catalog_report() -> CatalogReport {
        let ours = catalog::provider_id();
        match catalog::enumerate(catalog::Paths::OursOnly) {
            Ok(entries) => CatalogReport::of_provider(&ours, &entries),
            Err(e) => CatalogReport::unreadable(&ours, e.to_string()),
        }
    }

    fn service_report() -> StatusReport {
        let service = match scm::query(SERVICE_NAME) {
            Err(e) => {
                return failed(
                    None,
                    format!("cannot query the Service Control Manager: {e}"),
                );
            }
            Ok(Query::Missing) => {
                return failed(
                    None,
                    format!(
                        "the service {SERVICE_NAME} is not installed: install and start it with `afunixctl install`"
                    ),
                );
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
            // Empty under Wine, which keeps the device's descriptor apart from its handles.
            let sddl = device.security_sddl().ok().filter(|s| !s.is_empty());
            match device.stats() {
                Ok(stats) => Ok(DriverReport::new(USER_DEVICE_PATH, &stats, sddl)),
                // STATS is for administrators; the driver answered, so the service runs.
                Err(e) if afunix::errno_of(&e) == Some(afunix::Errno::EACCES) => Ok(
                    DriverReport::counters_refused(USER_DEVICE_PATH, e.to_string(), sddl),
                ),
                Err(e) => Err(e),
            }
        });
        match driver {
            Ok(driver) => StatusReport {
                service: Some(service),
                driver: Some(driver),
                error: None,
                catalog: None,
            },
            Err(e) => {
                // The service manager says RUNNING, so say what the device open gave rather
                // than "the driver is not running".
                let reason = match afunix::DriverUnavailable::of(&e) {
                    Some(unavailable) => unavailable.os_error().to_string(),
                    None => e.to_string(),
                };
                failed(
                    Some(service),
                    format!(
                        "the service runs but the driver did not answer on {USER_DEVICE_PATH}: {reason}"
                    ),
                )
            }
        }
    }

    fn failed(service: Option<afunix::status::ServiceStatus>, message: String) -> StatusReport {
        StatusReport {
            service,
            driver: None,
            error: Some(message),
            catalog: None,
        }
    }
}
