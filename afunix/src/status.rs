//! The report `afunixctl status` prints: the service as the Service Control Manager sees it
//! (in the manner of `sc query`), the driver's own statistics, and the provider's entries in
//! the Winsock catalog.
//!
//! Gathering the facts is Windows-only (`crate::sys`); this module only models and renders
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

/// What the driver says about itself. Its counters come from `IOCTL_AFUNIX_STATS`, which only
/// administrators may read; for anyone else the driver still answers, and the report says
/// the counters need an administrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriverReport {
    pub device: String,
    /// The counters, when STATS answered (in JSON, their fields sit beside `device`).
    #[serde(flatten)]
    pub counters: Option<DriverCounters>,
    /// Why there are no counters: STATS was refused to this caller.
    pub counters_refused: Option<String>,
    /// The device's DACL and label as read back through the handle, in SDDL, when they could
    /// be read.
    pub device_security: Option<String>,
}

/// The driver's counters, from `IOCTL_AFUNIX_STATS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriverCounters {
    pub version: String,
    /// The driver build answering: "WDM" (afunixrs.sys) or "KMDF" (afunixkm.sys).
    pub front_end: String,
    pub stats_version: u32,
    pub open_handles: u64,
    pub pool_bytes: u64,
    pub sockets: u64,
    pub bound_names: u64,
    pub bytes_buffered: u64,
    pub pending_irps: u64,
    pub max_sockets: u64,
    pub max_bytes_buffered: u64,
}

impl DriverReport {
    pub fn new(device: &str, stats: &DriverStats, device_security: Option<String>) -> Self {
        DriverReport {
            device: device.to_owned(),
            counters: Some(DriverCounters {
                version: stats.driver_version.to_string(),
                front_end: stats.driver_version.framework().to_owned(),
                stats_version: stats.version,
                open_handles: stats.open_handles,
                pool_bytes: stats.pool_bytes,
                sockets: stats.sockets,
                bound_names: stats.bound_names,
                bytes_buffered: stats.bytes_buffered,
                pending_irps: stats.pending_irps,
                max_sockets: stats.max_sockets,
                max_bytes_buffered: stats.max_bytes_buffered,
            }),
            counters_refused: None,
            device_security,
        }
    }

    /// The driver answered but refused STATS (`why`: the error it gave): the caller is not an
    /// administrator. The service is running all the same.
    pub fn counters_refused(device: &str, why: String, device_security: Option<String>) -> Self {
        DriverReport {
            device: device.to_owned(),
            counters: None,
            counters_refused: Some(why),
            device_security,
        }
    }
}

/// Address families as `WSAPROTOCOL_INFOW::iAddressFamily`.
pub fn address_family_name(family: i32) -> &'static str {
    match family {
        1 => "AF_UNIX",
        2 => "AF_INET",
        6 => "AF_IPX",
        23 => "AF_INET6",
        26 => "AF_IRDA",
        32 => "AF_BTH",
        34 => "AF_HYPERV",
        _ => "UNKNOWN",
    }
}

/// Socket types as `WSAPROTOCOL_INFOW::iSocketType`.
pub fn socket_type_name(socket_type: i32) -> &'static str {
    match socket_type {
        1 => "SOCK_STREAM",
        2 => "SOCK_DGRAM",
        3 => "SOCK_RAW",
        4 => "SOCK_RDM",
        5 => "SOCK_SEQPACKET",
        _ => "UNKNOWN",
    }
}

/// A GUID as the registry and `netsh winsock show catalog` spell it:
/// `{D521FB18-0098-4226-9325-2E4EBCC87F39}`.
pub fn format_guid(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> String {
    let [a, b, c, d, e, f, g, h] = data4;
    format!(
        "{{{data1:08X}-{data2:04X}-{data3:04X}-{a:02X}{b:02X}-{c:02X}{d:02X}{e:02X}{f:02X}{g:02X}{h:02X}}}"
    )
}

/// One protocol entry of the Winsock catalog, as `WSCEnumProtocols` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    /// 1-based place in the catalog order, the order in which `socket()` looks for a match.
    pub position: usize,
    pub catalog_entry_id: u32,
    pub provider_id: String,
    pub address_family: i32,
    pub socket_type: i32,
    pub protocol: i32,
    /// `szProtocol`.
    pub protocol_name: String,
    /// `ProtocolChain.ChainLen`: 1 for a base provider, 0 for a layered one, more for a chain.
    pub chain_len: i32,
    /// The provider DLL as `WSCGetProviderPath` gives it (unexpanded); `None` when it gave
    /// nothing.
    pub path: Option<String>,
}

/// The provider's place in the Winsock (64-bit) catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogReport {
    /// The provider's GUID.
    pub provider_id: String,
    /// How many protocol entries the whole catalog has.
    pub total_entries: usize,
    /// The entries with the provider's GUID; empty when it is not installed.
    pub entries: Vec<CatalogEntry>,
    /// Why the catalog could not be read, if it could not (the entries are then empty).
    pub error: Option<String>,
}

impl CatalogReport {
    /// Picks `provider_id`'s entries out of the whole catalog.
    pub fn of_provider(provider_id: &str, catalog: &[CatalogEntry]) -> Self {
        CatalogReport {
            provider_id: provider_id.to_owned(),
            total_entries: catalog.len(),
            entries: catalog
                .iter()
                .filter(|entry| entry.provider_id.eq_ignore_ascii_case(provider_id))
                .cloned()
                .collect(),
            error: None,
        }
    }

    /// The catalog could not be enumerated.
    pub fn unreadable(provider_id: &str, error: String) -> Self {
        CatalogReport {
            provider_id: provider_id.to_owned(),
            total_entries: 0,
            entries: Vec::new(),
            error: Some(error),
        }
    }

    pub fn is_installed(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The provider's section of `afunixctl status`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "WINSOCK_CATALOG: provider {}", self.provider_id);
        if let Some(e) = &self.error {
            let _ = writeln!(out, "        cannot read the Winsock catalog: {e}");
        } else if self.entries.is_empty() {
            let _ = writeln!(
                out,
                "        not installed in the Winsock catalog ({} entries, none of them ours)",
                self.total_entries
            );
        }
        for entry in &self.entries {
            render_entry(&mut out, entry, self.total_entries);
        }
        out.push('\n');
        out
    }
}

/// The whole catalog, as the hidden `afunixctl catalog` prints it.
pub fn render_catalog_text(catalog: &[CatalogEntry]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "WINSOCK_CATALOG: {} entries", catalog.len());
    for entry in catalog {
        let _ = writeln!(out, "        {:<19}: {}", "PROVIDER_ID", entry.provider_id);
        render_entry(&mut out, entry, catalog.len());
    }
    out
}

fn render_entry(out: &mut String, entry: &CatalogEntry, total: usize) {
    let _ = writeln!(
        out,
        "        {:<19}: {} (position {} of {})",
        "CATALOG_ENTRY", entry.catalog_entry_id, entry.position, total
    );
    let _ = writeln!(
        out,
        "        {:<19}: {}",
        "PROTOCOL_NAME", entry.protocol_name
    );
    let _ = writeln!(
        out,
        "        {:<19}: {:<2} {}",
        "ADDRESS_FAMILY",
        entry.address_family,
        address_family_name(entry.address_family)
    );
    let _ = writeln!(
        out,
        "        {:<19}: {:<2} {}",
        "TYPE",
        entry.socket_type,
        socket_type_name(entry.socket_type)
    );
    let _ = writeln!(out, "        {:<19}: {}", "PROTOCOL", entry.protocol);
    let _ = writeln!(out, "        {:<19}: {}", "CHAIN_LEN", entry.chain_len);
    let _ = writeln!(
        out,
        "        {:<19}: {}",
        "PATH",
        entry
            .path
            .as_deref()
            .unwrap_or("(WSCGetProviderPath gave none)")
    );
}

/// Everything `afunixctl status` found, and what went wrong if anything did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub service: Option<ServiceStatus>,
    pub driver: Option<DriverReport>,
    /// Why the status is not healthy; `None` when the service runs and the driver answered.
    /// The catalog does not count: the driver serves the library without the provider.
    pub error: Option<String>,
    /// The provider's entries in the Winsock catalog.
    pub catalog: Option<CatalogReport>,
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
            if let Some(c) = &d.counters {
                render_counters(&mut out, c);
            }
            if let Some(why) = &d.counters_refused {
                let _ = writeln!(out, "        {:<19}: answering", "STATE");
                let _ = writeln!(
                    out,
                    "        {:<19}: only an administrator may read them ({})",
                    "COUNTERS", why
                );
            }
            if let Some(sddl) = &d.device_security {
                let _ = writeln!(out, "        {:<19}: {}", "DEVICE_SECURITY", sddl);
            }
            out.push('\n');
        }
        if let Some(c) = &self.catalog {
            out.push_str(&c.render_text());
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

fn render_counters(out: &mut String, c: &DriverCounters) {
    let _ = writeln!(out, "        {:<19}: {}", "VERSION", c.version);
    let _ = writeln!(out, "        {:<19}: {}", "FRONT_END", c.front_end);
    let _ = writeln!(out, "        {:<19}: {}", "STATS_VERSION", c.stats_version);
    let _ = writeln!(out, "        {:<19}: {}", "OPEN_HANDLES", c.open_handles);
    let _ = writeln!(out, "        {:<19}: {}", "POOL_BYTES", c.pool_bytes);
    let _ = writeln!(
        out,
        "        {:<19}: {} (limit {})",
        "SOCKETS", c.sockets, c.max_sockets
    );
    let _ = writeln!(out, "        {:<19}: {}", "BOUND_NAMES", c.bound_names);
    let _ = writeln!(
        out,
        "        {:<19}: {} (limit {})",
        "BYTES_BUFFERED", c.bytes_buffered, c.max_bytes_buffered
    );
    let _ = writeln!(out, "        {:<19}: {}", "PENDING_IRPS", c.pending_irps);
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
            catalog: None,
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
        assert!(
            lines.contains(&"        FRONT_END          : WDM"),
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
            catalog: None,
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
    fn a_non_administrator_sees_the_service_running_and_why_there_are_no_counters() {
        let report = StatusReport {
            driver: Some(DriverReport::counters_refused(
                r"\\.\AfUnixRs",
                "EACCES: permission denied".into(),
                None,
            )),
            ..healthy()
        };
        let text = report.render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.contains(&"        STATE              : 4  RUNNING"),
            "{text}"
        );
        assert!(
            lines.contains(&"        STATE              : answering"),
            "{text}"
        );
        assert!(
            lines.contains(
                &"        COUNTERS           : only an administrator may read them (EACCES: permission denied)"
            ),
            "{text}"
        );
        assert!(!text.contains("OPEN_HANDLES"), "{text}");
        assert!(!text.contains("afunixctl:"), "no error line: {text}");
        // Running is success, whoever asks.
        assert_eq!(report.exit_code(), 0);
        let v: serde_json::Value = serde_json::from_str(&report.render_json()).unwrap();
        assert_eq!(v["service"]["state"], 4);
        assert_eq!(v["driver"]["counters_refused"], "EACCES: permission denied");
        assert_eq!(v["driver"].get("open_handles"), None);
        assert_eq!(v["error"], serde_json::Value::Null);
    }

    #[test]
    fn an_administrators_json_keeps_the_counters_beside_the_device() {
        let v: serde_json::Value = serde_json::from_str(&healthy().render_json()).unwrap();
        assert_eq!(v["driver"]["device"], r"\\.\AfUnixRs");
        assert_eq!(v["driver"]["pending_irps"], 1);
        assert_eq!(v["driver"]["max_sockets"], 16384);
        assert_eq!(v["driver"]["counters_refused"], serde_json::Value::Null);
    }

    const OURS: &str = "{D521FB18-0098-4226-9325-2E4EBCC87F39}";

    fn entry(position: usize, id: u32, provider_id: &str, family: i32) -> CatalogEntry {
        CatalogEntry {
            position,
            catalog_entry_id: id,
            provider_id: provider_id.into(),
            address_family: family,
            socket_type: 1,
            protocol: 0,
            protocol_name: "a protocol".into(),
            chain_len: 1,
            path: Some(r"%SystemRoot%\System32\mswsock.dll".into()),
        }
    }

    fn catalog_with_ours() -> Vec<CatalogEntry> {
        let microsoft = "{E70F1AA0-AB8B-11CF-8CA3-00805F48A192}";
        let mut ours = entry(3, 1019, OURS, 1);
        ours.path = Some(r"%SystemRoot%\System32\afunixwsp.dll".into());
        vec![
            entry(1, 1001, microsoft, 2),
            entry(2, 1002, microsoft, 23),
            ours,
        ]
    }

    #[test]
    fn guids_are_spelled_as_the_registry_spells_them() {
        let (a, b, c, d) = afunix_proto::names::PROVIDER_GUID;
        assert_eq!(format_guid(a, b, c, d), OURS);
        assert_eq!(
            format_guid(1, 2, 3, [0, 1, 2, 3, 4, 5, 6, 0xff]),
            "{00000001-0002-0003-0001-0203040506FF}"
        );
    }

    #[test]
    fn status_lists_the_providers_catalog_entries() {
        let report = StatusReport {
            catalog: Some(CatalogReport::of_provider(
                &OURS.to_lowercase(),
                &catalog_with_ours(),
            )),
            ..healthy()
        };
        let text = report.render_text();
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "        CATALOG_ENTRY      : 1019 (position 3 of 3)",
            "        ADDRESS_FAMILY     : 1  AF_UNIX",
            "        TYPE               : 1  SOCK_STREAM",
            "        PROTOCOL           : 0",
            r"        PATH               : %SystemRoot%\System32\afunixwsp.dll",
        ] {
            assert!(lines.contains(&want), "{want}\n{text}");
        }
        assert!(!text.contains("1001"), "only our entries: {text}");
        // The service's lines that scripts look for are still there.
        assert!(lines.contains(&"        STATE              : 4  RUNNING"));
        assert_eq!(report.exit_code(), 0);

        let v: serde_json::Value = serde_json::from_str(&report.render_json()).unwrap();
        let entries = v["catalog"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["catalog_entry_id"], 1019);
        assert_eq!(entries[0]["position"], 3);
        assert_eq!(entries[0]["address_family"], 1);
        assert_eq!(entries[0]["socket_type"], 1);
        assert_eq!(entries[0]["protocol"], 0);
        assert_eq!(v["catalog"]["total_entries"], 3);
        assert_eq!(v["service"]["state"], 4);
        assert_eq!(v["error"], serde_json::Value::Null);
    }

    #[test]
    fn status_says_when_the_provider_is_not_in_the_catalog() {
        let mut catalog = catalog_with_ours();
        catalog.pop();
        let report = StatusReport {
            service: None,
            driver: None,
            error: Some("the service afunixrs is not installed".into()),
            catalog: Some(CatalogReport::of_provider(OURS, &catalog)),
        };
        let text = report.render_text();
        assert!(
            text.contains("not installed in the Winsock catalog (2 entries, none of them ours)"),
            "{text}"
        );
        assert!(
            text.trim_end()
                .ends_with("afunixctl: the service afunixrs is not installed"),
            "{text}"
        );
        // Missing from the catalog changes nothing in the exit code: the service decides it.
        assert_eq!(report.exit_code(), 1);
        let v: serde_json::Value = serde_json::from_str(&report.render_json()).unwrap();
        assert_eq!(v["catalog"]["entries"].as_array().unwrap().len(), 0);
        assert_eq!(v["error"], "the service afunixrs is not installed");
    }

    #[test]
    fn an_unreadable_catalog_is_reported_not_hidden() {
        let report =
            CatalogReport::unreadable(OURS, "WSCEnumProtocols failed: WSAENOBUFS (10055)".into());
        assert!(!report.is_installed());
        assert!(report.render_text().contains(
            "cannot read the Winsock catalog: WSCEnumProtocols failed: WSAENOBUFS (10055)"
        ));
    }

    #[test]
    fn the_whole_catalog_lists_every_entry_in_order() {
        let text = render_catalog_text(&catalog_with_ours());
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("        CATALOG_ENTRY      : "))
            .collect();
        assert_eq!(
            ids,
            [
                "1001 (position 1 of 3)",
                "1002 (position 2 of 3)",
                "1019 (position 3 of 3)"
            ]
        );
        assert!(text.contains("ADDRESS_FAMILY     : 23 AF_INET6"), "{text}");
    }

    #[test]
    fn unknown_numbers_are_named_unknown() {
        assert_eq!(state_name(99), "UNKNOWN");
        assert_eq!(type_name(0x40), "UNKNOWN");
        assert_eq!(start_type_name(9), "UNKNOWN");
        assert_eq!(address_family_name(99), "UNKNOWN");
        assert_eq!(socket_type_name(99), "UNKNOWN");
    }
}
