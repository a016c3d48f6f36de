//! Creating, starting, stopping and deleting the driver's kernel service, for
//! `afunixctl install` and `uninstall`. The settings are those of the INF's service section
//! (`inf/afunixrs.inx`, `[afunixrs.Service]`).

use std::io;
use std::ptr;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_SERVICE_ALREADY_RUNNING, ERROR_SERVICE_DOES_NOT_EXIST, ERROR_SERVICE_MARKED_FOR_DELETE,
    ERROR_SERVICE_NOT_ACTIVE,
};
use windows_sys::Win32::Storage::FileSystem::DELETE;
use windows_sys::Win32::System::Services::{
    ChangeServiceConfig2W, ChangeServiceConfigW, ControlService, CreateServiceW, DeleteService,
    OpenSCManagerW, OpenServiceW, SC_MANAGER_CONNECT, SC_MANAGER_CREATE_SERVICE,
    SERVICE_CHANGE_CONFIG, SERVICE_CONFIG_DESCRIPTION, SERVICE_CONTROL_STOP, SERVICE_DEMAND_START,
    SERVICE_DESCRIPTIONW, SERVICE_ERROR_NORMAL, SERVICE_KERNEL_DRIVER, SERVICE_NO_CHANGE,
    SERVICE_QUERY_CONFIG, SERVICE_QUERY_STATUS, SERVICE_RUNNING, SERVICE_START, SERVICE_STATUS,
    SERVICE_STATUS_PROCESS, SERVICE_STOP, SERVICE_STOPPED, StartServiceW,
};

use super::scm::{ScHandle, config};
use super::wide;
use crate::install::{StepError, same_binary_path};
use crate::status::state_name;

/// `DisplayName` and `Description` of the INF's `[Strings]`.
const DISPLAY_NAME: &str = "afunix-rs AF_UNIX sockets";
const DESCRIPTION: &str = "Unix-domain sockets (AF_UNIX) for Windows programs, from afunix-rs.";

/// How long a kernel driver may take to reach RUNNING or STOPPED.
const STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// What `ensure` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Ensured {
    Created,
    /// The service was there with this binary already.
    Existed,
    /// The service was there with another binary path, which was changed to ours.
    PathChanged {
        was: String,
    },
}

/// What `start` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    Started,
    AlreadyRunning,
}

/// What `remove` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    Missing,
    Deleted { stopped: bool },
}

fn last_error(step: impl Into<String>) -> StepError {
    let error = io::Error::last_os_error();
    StepError::code(step, error.raw_os_error().unwrap_or(0), error.to_string())
}

fn open_manager(access: u32) -> Result<ScHandle, StepError> {
    // SAFETY:
    // 1. Null machine and database names mean the local, active database.
    let manager = unsafe { OpenSCManagerW(ptr::null(), ptr::null(), access) };
    if manager.is_null() {
        return Err(last_error("OpenSCManagerW")
            .with_hint("run afunixctl from an elevated (Administrator) prompt"));
    }
    Ok(ScHandle(manager))
}

/// Opens `name`, or `None` if the Service Control Manager has no such service.
fn open(manager: &ScHandle, name: &str, access: u32) -> Result<Option<ScHandle>, StepError> {
    let wide_name = wide(name);
    // SAFETY:
    // 1. `manager` is open; `wide_name` is NUL-terminated and outlives the call.
    let service = unsafe { OpenServiceW(manager.0, wide_name.as_ptr(), access) };
    if service.is_null() {
        let error = last_error(format!("OpenServiceW({name})"));
        if error.code == Some(ERROR_SERVICE_DOES_NOT_EXIST as i32) {
            return Ok(None);
        }
        return Err(error);
    }
    Ok(Some(ScHandle(service)))
}

fn status(service: &ScHandle, name: &str) -> Result<SERVICE_STATUS_PROCESS, StepError> {
    super::scm::status(service).map_err(|e| {
        StepError::code(
            format!("QueryServiceStatusEx({name})"),
            e.raw_os_error().unwrap_or(0),
            e.to_string(),
        )
    })
}

/// Polls until the service is in `state`, or fails after [`STATE_TIMEOUT`].
fn wait_for(service: &ScHandle, name: &str, state: u32) -> Result<(), StepError> {
    let deadline = Instant::now() + STATE_TIMEOUT;
    loop {
        let now = status(service, name)?;
        if now.dwCurrentState == state {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StepError::reason(
                format!("waiting for {name} to be {}", state_name(state)),
                format!(
                    "still {} after {} s (win32 exit code {})",
                    state_name(now.dwCurrentState),
                    STATE_TIMEOUT.as_secs(),
                    now.dwWin32ExitCode
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Makes sure the kernel driver service `name` exists with `binary` as its image: creates it
/// (demand start, normal error control, as the INF does), or leaves it as it is, or changes
/// only its binary path if that names another file. `windows_dir` is the Windows directory,
/// for comparing the SCM's spellings of the path.
pub fn ensure(name: &str, binary: &str, windows_dir: &str) -> Result<Ensured, StepError> {
    let manager = open_manager(SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE)?;
    let access = SERVICE_QUERY_CONFIG | SERVICE_QUERY_STATUS | SERVICE_CHANGE_CONFIG;
    if let Some(service) = open(&manager, name, access)? {
        let now = status(&service, name)?;
        if now.dwServiceType & SERVICE_KERNEL_DRIVER == 0 {
            return Err(StepError::reason(
                format!("checking the existing service {name}"),
                format!(
                    "it is not a kernel driver (type 0x{:x}); remove it first (sc delete {name})",
                    now.dwServiceType
                ),
            ));
        }
        let (path, _) = config(&service).map_err(|e| {
            StepError::code(
                format!("QueryServiceConfigW({name})"),
                e.raw_os_error().unwrap_or(0),
                e.to_string(),
            )
        })?;
        let path = path.unwrap_or_default();
        if same_binary_path(&path, binary, windows_dir) {
            return Ok(Ensured::Existed);
        }
        let wide_binary = wide(binary);
        // SAFETY:
        // 1. `service` is open with SERVICE_CHANGE_CONFIG; `wide_binary` is NUL-terminated
        //    and outlives the call; every other pointer is null, meaning "no change".
        let ok = unsafe {
            ChangeServiceConfigW(
                service.0,
                SERVICE_NO_CHANGE,
                SERVICE_NO_CHANGE,
                SERVICE_NO_CHANGE,
                wide_binary.as_ptr(),
                ptr::null(),
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
            )
        };
        if ok == 0 {
            return Err(last_error(format!("ChangeServiceConfigW({name})")));
        }
        return Ok(Ensured::PathChanged { was: path });
    }

    let wide_name = wide(name);
    let wide_display = wide(DISPLAY_NAME);
    let wide_binary = wide(binary);
    // SAFETY:
    // 1. `manager` is open with SC_MANAGER_CREATE_SERVICE; the strings are NUL-terminated
    //    and outlive the call; null load-order group, tag, dependencies, account and password
    //    are allowed for a kernel driver.
    let service = unsafe {
        CreateServiceW(
            manager.0,
            wide_name.as_ptr(),
            wide_display.as_ptr(),
            SERVICE_CHANGE_CONFIG | SERVICE_QUERY_STATUS,
            SERVICE_KERNEL_DRIVER,
            SERVICE_DEMAND_START,
            SERVICE_ERROR_NORMAL,
            wide_binary.as_ptr(),
            ptr::null(),
            ptr::null_mut(),
            ptr::null(),
            ptr::null(),
            ptr::null(),
        )
    };
    if service.is_null() {
        return Err(last_error(format!("CreateServiceW({name})")));
    }
    let service = ScHandle(service);
    let mut description_text = wide(DESCRIPTION);
    let description = SERVICE_DESCRIPTIONW {
        lpDescription: description_text.as_mut_ptr(),
    };
    // SAFETY:
    // 1. `service` is open with SERVICE_CHANGE_CONFIG; `description` is a
    //    SERVICE_DESCRIPTIONW whose string is NUL-terminated; both outlive the call.
    let ok = unsafe {
        ChangeServiceConfig2W(
            service.0,
            SERVICE_CONFIG_DESCRIPTION,
            (&description as *const SERVICE_DESCRIPTIONW).cast(),
        )
    };
    if ok == 0 {
        return Err(last_error(format!(
            "ChangeServiceConfig2W({name}, SERVICE_CONFIG_DESCRIPTION)"
        )));
    }
    Ok(Ensured::Created)
}

/// Starts the service and waits until it runs.
pub fn start(name: &str) -> Result<Started, StepError> {
    let manager = open_manager(SC_MANAGER_CONNECT)?;
    let service = open(&manager, name, SERVICE_START | SERVICE_QUERY_STATUS)?.ok_or_else(|| {
        StepError::code(
            format!("OpenServiceW({name})"),
            ERROR_SERVICE_DOES_NOT_EXIST as i32,
            "the service does not exist",
        )
    })?;
    // SAFETY:
    // 1. `service` is open with SERVICE_START; no arguments are passed.
    let ok = unsafe { StartServiceW(service.0, 0, ptr::null()) };
    let outcome = if ok != 0 {
        Started::Started
    } else {
        let error = last_error(format!("StartServiceW({name})"));
        if error.code != Some(ERROR_SERVICE_ALREADY_RUNNING as i32) {
            return Err(error.with_hint(
                "the driver did not load; on Windows a test-signed driver needs test-signing mode \
                 (bcdedit /set testsigning on)",
            ));
        }
        Started::AlreadyRunning
    };
    wait_for(&service, name, SERVICE_RUNNING)?;
    Ok(outcome)
}

/// Stops the service if it runs (waiting for STOPPED), then deletes it.
pub fn remove(name: &str) -> Result<Removed, StepError> {
    let manager = open_manager(SC_MANAGER_CONNECT)?;
    let Some(service) = open(&manager, name, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE)? else {
        return Ok(Removed::Missing);
    };
    let mut stopped = false;
    if status(&service, name)?.dwCurrentState != SERVICE_STOPPED {
        // SAFETY:
        // 1. SERVICE_STATUS is plain old data; all-zero is a valid value.
        let mut last: SERVICE_STATUS = unsafe { std::mem::zeroed() };
        // SAFETY:
        // 1. `service` is open with SERVICE_STOP; `last` is a valid out pointer.
        let ok = unsafe { ControlService(service.0, SERVICE_CONTROL_STOP, &mut last) };
        if ok == 0 {
            let error = last_error(format!("ControlService({name}, SERVICE_CONTROL_STOP)"));
            if error.code != Some(ERROR_SERVICE_NOT_ACTIVE as i32) {
                return Err(error.with_hint("close every program that has AF_UNIX sockets open"));
            }
        } else {
            stopped = true;
        }
        wait_for(&service, name, SERVICE_STOPPED)?;
    }
    // SAFETY:
    // 1. `service` is open with DELETE.
    let ok = unsafe { DeleteService(service.0) };
    if ok == 0 {
        let error = last_error(format!("DeleteService({name})"));
        if error.code != Some(ERROR_SERVICE_MARKED_FOR_DELETE as i32) {
            return Err(error);
        }
    }
    Ok(Removed::Deleted { stopped })
}
