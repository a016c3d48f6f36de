//! The report `afunixctl status` prints: the service as the Service Control Manager sees it
//! (in the manner of `sc query`), and the driver's own statistics.
//!
//! Gathering the facts is Windows-only ([`crate::sys`]); this module only models and renders
//! them, so it is tested on every host.

use std::fmt::Write as _;

use afunix_proto::DriverStats;
use serde::Serialize;

/// Service states, numbered as `SERVICE_STATUS::dwCurrentState`.
pub fn state_name(state: u32) -> &'static str {
    match state {
        1 => "STOPPED",
        2 => "START_PENDING",
        3 => "STOP_PENDING",
        4 => "RUNNING",
        5 => "CONTINUE_PENDING",
        6 => "PAUSE_PENDING",
        7 => "PAUSED",
        _ => "UNKNOWN",
    }
}

/// `SERVICE_STATUS::dwCurrentState` of a running service.
pub const SERVICE_RUNNING: u32 = 4;

/// Service types, as `SERVICE_STATUS::dwServiceType` (the bits `sc query` names).
pub fn type_name(service_type: u32) -> &'static str {
    match service_type & 0xff {
        0x1 => "KERNEL_DRIVER",
        0x2 => "FILE_SYSTEM_DRIVER",
        0x10 => "WIN32_OWN_PROCESS",
        0x20 => "WIN32_SHARE_PROCESS",
        _ => "UNKNOWN",
    }
}

/// Start types, as `QUERY_SERVICE_CONFIGW::dwStartType`.
pub fn start_type_name(start_type: u32) -> &'static str {
    match start_type {
        0 => "BOOT_START",
        1 => "SYSTEM_START",
        2 => "AUTO_START",
        3 => "DEMAND_START",
        4 => "DISABLED",
        _ => "UNKNOWN",
    }
}

/// What the Service Control Manager says about the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    pub name: String,
    pub service_type: u32,
    pub state: u32,
    pub controls_accepted: u32,
    pub win32_exit_code: u32,
    pub service_exit_code: u32,
    pub checkpoint: u32,
    pub wait_hint: u32,
    /// From the service's configuration, when it could be read.
    pub binary_path: Option<String>,
    pub start_type: Option<u32>,
}

/// What the driver says about itself, through `IOCTL_AFUNIX_STATS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriverReport {
    pub device: String,
    pub version: String,
    pub stats_version: u32,
    pub open_handles: u64,
    pub pool_bytes: u64,
    pub sockets: u64,
    pub bound_names: u64,
    pub bytes_buffered: u64,
    pub pending_irps: u64,
    pub max_sockets: u64,
    pub max_bytes_buffered: u64,
    /// The device's DACL as read back through the handle, in SDDL, when it could be read.
    pub device_security: Option<String>,
}

impl DriverReport {
    pub fn new(device: &str, stats: &DriverStats, device_security: Option<String>) -> Self {
        DriverReport {
            device: device.to_owned(),
            version: stats.driver_version.to_string(),
            stats_version: stats.version,
            open_handles: stats.open_handles,
            pool_bytes: stats.pool_bytes,
            sockets: stats.sockets,
            bound_names: stats.bound_names,
            bytes_buffered: stats.bytes_buffered,
            pending_irps: stats.pending_irps,
            max_sockets: stats.max_sockets,
            max_bytes_buffered: stats.max_bytes_buffered,
            device_security,
        }
    }
}

/// Everything `afunixctl status` found, and what went wrong if anything did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub service: Option<ServiceStatus>,
    pub driver: Option<DriverReport>,
    /// Why the status is not healthy; `None` when the service runs and the driver answered.
    pub error: Option<String>,
}

impl StatusReport {
    /// Healthy: the service is running and the driver answered.
    pub fn is_healthy(&self) -> bool {
        self.error.is_none()
    }

    /// The process exit code `afunixctl status` should return.
    pub fn exit_code(&self) -> i32 {
        if self.is_healthy() { 0 } else { 1 }
    }

    /// The report in the manner of `sc query`, followed by the driver's section.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if let Some(s) = &self.service {
            render_service(&mut out, s);
        }
        if let Some(d) = &self.driver {
            let _ = writeln!(out, "DRIVER: {}", d.device);
            let _ = writeln!(out, "        {:<19}: {}", "VERSION", d.version);
            let _ = writeln!(out, "        {:<19}: {}", "STATS_VERSION", d.stats_version);
            let _ = writeln!(out, "        {:<19}: {}", "OPEN_HANDLES", d.open_handles);
            let _ = writeln!(out, "        {:<19}: {}", "POOL_BYTES", d.pool_bytes);
            let _ = writeln!(
                out,
                "        {:<19}: {} (limit {})",
                "SOCKETS", d.sockets, d.max_sockets
            );
            let _ = writeln!(out, "        {:<19}: {}", "BOUND_NAMES", d.bound_names);
            let _ = writeln!(
                out,
                "        {:<19}: {} (limit {})",
                "BYTES_BUFFERED", d.bytes_buffered, d.max_bytes_buffered
            );
            let _ = writeln!(out, "        {:<19}: {}", "PENDING_IRPS", d.pending_irps);
            if let Some(sddl) = &d.device_security {
                let _ = writeln!(out, "        {:<19}: {}", "DEVICE_SECURITY", sddl);
            }
            out.push('\n');
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "afunixctl: {e}");
        }
        out
    }

    /// The same facts as JSON.
    pub fn render_json(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn render_service(out: &mut String, s: &ServiceStatus) {
    let _ = writeln!(out, "\nSERVICE_NAME: {}", s.name);
    let _ = writeln!(
        out,
        "        {:<19}: {:<2} {}",
        "TYPE",
        format!("{:x}", s.service_type),
        type_name(s.service_type)
    );
    let _ = writeln!(
        out,
        "        {:<19}: {:<2} {}",
        "STATE",
        s.state,
        state_name(s.state)
    );
    let _ = writeln!(out, "{:32}({})", "", controls(s.controls_accepted));
    let _ = writeln!(
        out,
        "        {:<19}: {:<2} (0x{:x})",
        "WIN32_EXIT_CODE", s.win32_exit_code, s.win32_exit_code
    );
    let _ = writeln!(
        out,
        "        {:<19}: {:<2} (0x{:x})",
        "SERVICE_EXIT_CODE", s.service_exit_code, s.service_exit_code
    );
    let _ = writeln!(out, "        {:<19}: 0x{:x}", "CHECKPOINT", s.checkpoint);
    let _ = writeln!(out, "        {:<19}: 0x{:x}", "WAIT_HINT", s.wait_hint);
    if let Some(start) = s.start_type {
        let _ = writeln!(
            out,
            "        {:<19}: {:<2} {}",
            "START_TYPE",
            start,
            start_type_name(start)
        );
    }
    if let Some(path) = &s.binary_path {
        let _ = writeln!(out, "        {:<19}: {}", "BINARY_PATH_NAME", path);
    }
    out.push('\n');
}

/// The accepted-controls line of `sc query`, e.g. `STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN`.
fn controls(accepted: u32) -> String {
    const SERVICE_ACCEPT_STOP: u32 = 0x1;
    const SERVICE_ACCEPT_PAUSE_CONTINUE: u32 = 0x2;
    const SERVICE_ACCEPT_SHUTDOWN: u32 = 0x4;
    let pick =
        |bit, yes: &'static str, no: &'static str| if accepted & bit != 0 { yes } else { no };
    [
        pick(SERVICE_ACCEPT_STOP, "STOPPABLE", "NOT_STOPPABLE"),
        pick(SERVICE_ACCEPT_PAUSE_CONTINUE, "PAUSABLE", "NOT_PAUSABLE"),
        pick(
            SERVICE_ACCEPT_SHUTDOWN,
            "ACCEPTS_SHUTDOWN",
            "IGNORES_SHUTDOWN",
        ),
    ]
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use afunix_proto::DriverVersion;

    fn running() -> ServiceStatus {
        ServiceStatus {
            name: "afunixrs".into(),
            service_type: 1,
            state: SERVICE_RUNNING,
            controls_accepted: 1,
            win32_exit_code: 0,
            service_exit_code: 0,
            checkpoint: 0,
            wait_hint: 0,
            binary_path: Some(r"C:\windows\system32\drivers\afunixrs.sys".into()),
            start_type: Some(3),
        }
    }

    fn healthy() -> StatusReport {
        let counters = afunix_proto::SocketCounters {
            sockets: 4,
            pending_irps: 1,
            max_sockets: 16384,
            ..Default::default()
        };
        let stats = DriverStats::new(DriverVersion::from_parts("0", "1", "0"), 2, 512, counters);
        StatusReport {
            service: Some(running()),
            driver: Some(DriverReport::new(r"\\.\AfUnixRs", &stats, None)),
            error: None,
        }
    }

    #[test]
    fn running_service_reads_like_sc_query() {
        let text = healthy().render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"SERVICE_NAME: afunixrs"), "{text}");
        assert!(
            lines.contains(&"        TYPE               : 1  KERNEL_DRIVER"),
            "{text}"
        );
        assert!(
            lines.contains(&"        STATE              : 4  RUNNING"),
            "{text}"
        );
        assert!(
            lines.contains(
                &"                                (STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)"
            ),
            "{text}"
        );
        assert!(
            lines.contains(&"        WIN32_EXIT_CODE    : 0  (0x0)"),
            "{text}"
        );
        assert!(
            lines.contains(&"        START_TYPE         : 3  DEMAND_START"),
            "{text}"
        );
        assert!(lines.contains(&"        OPEN_HANDLES       : 2"), "{text}");
        assert!(
            lines.contains(&"        VERSION            : 0.1.0"),
            "{text}"
        );
        assert_eq!(healthy().exit_code(), 0);
    }

    #[test]
    fn stopped_service_is_unhealthy_and_says_why() {
        let mut service = running();
        service.state = 1;
        service.controls_accepted = 0;
        let report = StatusReport {
            service: Some(service),
            driver: None,
            error: Some("the service afunixrs is STOPPED".into()),
        };
        let text = report.render_text();
        assert!(text.contains("STATE              : 1  STOPPED"), "{text}");
        assert!(
            text.contains("(NOT_STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)"),
            "{text}"
        );
        assert!(
            text.contains("afunixctl: the service afunixrs is STOPPED"),
            "{text}"
        );
        assert_eq!(report.exit_code(), 1);
    }

    #[test]
    fn json_carries_the_same_facts() {
        let v: serde_json::Value = serde_json::from_str(&healthy().render_json()).unwrap();
        assert_eq!(v["service"]["state"], 4);
        assert_eq!(v["service"]["name"], "afunixrs");
        assert_eq!(v["driver"]["version"], "0.1.0");
        assert_eq!(v["driver"]["open_handles"], 2);
        assert_eq!(v["driver"]["sockets"], 4);
        assert_eq!(v["error"], serde_json::Value::Null);
    }

    #[test]
    fn unknown_numbers_are_named_unknown() {
        assert_eq!(state_name(99), "UNKNOWN");
        assert_eq!(type_name(0x40), "UNKNOWN");
        assert_eq!(start_type_name(9), "UNKNOWN");
    }
}
