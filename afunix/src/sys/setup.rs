//! `afunixctl install` and `uninstall`: the driver file and its service, the provider DLL and
//! its Winsock catalog entry. Every step is idempotent: what is already in place is left as it
//! is, and what is already gone is not an error.
//!
//! Only the 64-bit catalog is written: afunixctl is a 64-bit program and only a 64-bit
//! provider DLL is built, so there is nothing to register in the 32-bit catalog
//! (`WSCInstallProvider64_32`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use afunix_proto::names::{
    DRIVER_FILE, KMDF_DRIVER_FILE, KMDF_LIBRARY_VERSION, PROVIDER_FILE, SERVICE_NAME,
};
use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_SUCCESS};
use windows_sys::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, KEY_SET_VALUE, REG_OPTION_NON_VOLATILE, REG_SZ, RegCloseKey,
    RegCreateKeyExW, RegDeleteKeyValueW, RegSetValueExW,
};
use windows_sys::Win32::System::SystemInformation::GetSystemDirectoryW;

use super::catalog::{self, Paths};
use super::service::{self, Ensured, Removed, Started};
use super::wide;
use crate::install::{StepError, preferred_order};

/// What `install` was asked to do.
#[derive(Debug, Default)]
pub struct InstallOptions {
    /// The driver to install; by default `afunixrs.sys` (`afunixkm.sys` with `kmdf`) next to
    /// afunixctl.exe.
    pub driver: Option<PathBuf>,
    /// Install the KMDF build (`afunixkm.sys`) instead of the WDM one.
    pub kmdf: bool,
    /// The provider DLL to install; by default `afunixwsp.dll` next to afunixctl.exe.
    pub provider: Option<PathBuf>,
    /// Leave the service stopped.
    pub no_start: bool,
    /// Put our catalog entries ahead of every other provider's.
    pub prefer: bool,
}

/// Receives one line per step, as the step completes.
pub type Log<'a> = &'a mut dyn FnMut(String);

/// `%SystemRoot%\System32` as this process sees it.
fn system_dir() -> Result<PathBuf, StepError> {
    let mut buffer = [0u16; 520];
    // SAFETY:
    // 1. `buffer` has the number of writable units passed, and outlives the call.
    let len = unsafe { GetSystemDirectoryW(buffer.as_mut_ptr(), buffer.len() as u32) } as usize;
    if len == 0 || len >= buffer.len() {
        let error = io::Error::last_os_error();
        return Err(StepError::code(
            "GetSystemDirectoryW",
            error.raw_os_error().unwrap_or(0),
            error.to_string(),
        ));
    }
    let units = buffer.get(..len).unwrap_or(&buffer);
    Ok(PathBuf::from(String::from_utf16_lossy(units)))
}

/// `name` in the folder afunixctl.exe runs from.
fn next_to_this_program(name: &str) -> Result<PathBuf, StepError> {
    let exe = std::env::current_exe().map_err(|e| io_error("finding afunixctl.exe", &e))?;
    Ok(exe.parent().unwrap_or(Path::new(".")).join(name))
}

fn io_error(step: impl Into<String>, error: &io::Error) -> StepError {
    match error.raw_os_error() {
        Some(code) => StepError::code(step, code, error.to_string()),
        None => StepError::reason(step, error.to_string()),
    }
}

/// Copies `from` to `to` unless `to` already has the same bytes. Returns whether it copied.
fn copy_if_different(from: &Path, to: &Path, option: &str) -> Result<bool, StepError> {
    let source = fs::read(from).map_err(|e| {
        io_error(format!("reading {}", from.display()), &e)
            .with_hint(format!("pass its location with {option} PATH"))
    })?;
    if fs::read(to).is_ok_and(|existing| existing == source) {
        return Ok(false);
    }
    fs::copy(from, to).map_err(|e| {
        io_error(
            format!("copying {} to {}", from.display(), to.display()),
            &e,
        )
        .with_hint(
            "run afunixctl from an elevated (Administrator) prompt; a file in use (a running \
             driver, a loaded provider) cannot be replaced: run `afunixctl uninstall` first",
        )
    })?;
    Ok(true)
}

/// Deletes `path` if it exists. Returns whether it deleted.
fn remove_if_present(path: &Path, in_use_hint: &str) -> Result<bool, StepError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(format!("deleting {}", path.display()), &e).with_hint(in_use_hint)),
    }
}

/// Installs the driver and the provider. See the module's documentation.
pub fn install(options: &InstallOptions, log: Log<'_>) -> Result<(), StepError> {
    if cfg!(not(target_pointer_width = "64")) {
        return Err(StepError::reason(
            "checking afunixctl's bitness",
            "only the 64-bit afunixctl installs the (64-bit) provider",
        ));
    }
    let system = system_dir()?;
    let windows = system
        .parent()
        .unwrap_or(&system)
        .to_string_lossy()
        .into_owned();
    let driver_file = if options.kmdf {
        KMDF_DRIVER_FILE
    } else {
        DRIVER_FILE
    };
    let driver_source = match &options.driver {
        Some(path) => path.clone(),
        None => next_to_this_program(driver_file)?,
    };
    let provider_source = match &options.provider {
        Some(path) => path.clone(),
        None => next_to_this_program(PROVIDER_FILE)?,
    };
    // Both files must be there before anything is changed.
    for (source, option) in [
        (&driver_source, "--driver"),
        (&provider_source, "--provider"),
    ] {
        fs::metadata(source).map_err(|e| {
            io_error(format!("finding {}", source.display()), &e)
                .with_hint(format!("pass its location with {option} PATH"))
        })?;
    }

    // The driver file and its service.
    let driver_target = system.join("drivers").join(driver_file);
    if copy_if_different(&driver_source, &driver_target, "--driver")? {
        log(format!(
            "driver: copied {} to {}",
            driver_source.display(),
            driver_target.display()
        ));
    } else {
        log(format!(
            "driver: {} already in place (identical)",
            driver_target.display()
        ));
    }
    let binary = driver_target.to_string_lossy().into_owned();
    match service::ensure(SERVICE_NAME, &binary, &windows)? {
        Ensured::Created => log(format!(
            "service {SERVICE_NAME}: created (kernel driver, demand start, binary {binary})"
        )),
        Ensured::Existed => log(format!(
            "service {SERVICE_NAME}: already installed with binary {binary}"
        )),
        Ensured::PathChanged { was } => log(format!(
            "service {SERVICE_NAME}: already installed; binary path changed from {was} to {binary} (takes effect when the driver next starts)"
        )),
    }
    let wdf = wdf_key();
    if options.kmdf {
        set_kmdf_version(&wdf)?;
        log(format!(
            "service {SERVICE_NAME}: KMDF build; {wdf}\\KmdfLibraryVersion = {KMDF_LIBRARY_VERSION}"
        ));
    } else if clear_kmdf_version(&wdf)? {
        log(format!(
            "service {SERVICE_NAME}: WDM build; the KMDF build's {wdf}\\KmdfLibraryVersion removed"
        ));
    }
    if options.no_start {
        log(format!("service {SERVICE_NAME}: not started (--no-start)"));
    } else {
        match service::start(SERVICE_NAME)? {
            Started::Started => log(format!("service {SERVICE_NAME}: started, RUNNING")),
            Started::AlreadyRunning => log(format!("service {SERVICE_NAME}: already RUNNING")),
        }
    }

    // The provider DLL and its catalog entry.
    let provider_target = system.join(PROVIDER_FILE);
    if copy_if_different(&provider_source, &provider_target, "--provider")? {
        log(format!(
            "provider: copied {} to {}",
            provider_source.display(),
            provider_target.display()
        ));
    } else {
        log(format!(
            "provider: {} already in place (identical)",
            provider_target.display()
        ));
    }
    let mut ours = ours_in(&catalog::enumerate(Paths::None)?);
    let wanted = catalog::protocol_infos().len();
    if !ours.is_empty() && ours.len() < wanted {
        // An older install registered fewer protocols (the stream alone): the provider's
        // entries are installed together, so they go and come back together.
        catalog::deinstall_provider()?;
        log(format!(
            "catalog: provider {} had {} of its {wanted} entries ({}): removed, to register all",
            catalog::provider_id(),
            ours.len(),
            ids(&ours)
        ));
        ours.clear();
    }
    if ours.is_empty() {
        catalog::install_provider()?;
        let now = ours_in(&catalog::enumerate(Paths::None)?);
        if now.is_empty() {
            log(
                "catalog: WSCInstallProvider returned success, but WSCEnumProtocols does not \
                 list the provider: this ws2_32 does not register providers (Wine's \
                 WSCInstallProvider is a stub)"
                    .to_owned(),
            );
        } else {
            log(format!(
                "catalog: provider {} registered in the 64-bit catalog, entries {}",
                catalog::provider_id(),
                ids(&now)
            ));
        }
    } else {
        log(format!(
            "catalog: provider {} already registered, entries {}",
            catalog::provider_id(),
            ids(&ours)
        ));
    }

    if options.prefer {
        prefer(log)?;
    }
    Ok(())
}

/// `--prefer`: our entries first, every other in its relative order.
fn prefer(log: Log<'_>) -> Result<(), StepError> {
    let entries = catalog::enumerate(Paths::None)?;
    let marked: Vec<(u32, bool)> = entries
        .iter()
        .map(|e| (e.catalog_entry_id, catalog::is_ours(e)))
        .collect();
    if !marked.iter().any(|(_, mine)| *mine) {
        log("catalog order: not changed: the provider is not in the catalog".to_owned());
        return Ok(());
    }
    let Some(order) = preferred_order(&marked) else {
        log("catalog order: the provider's entries are already first".to_owned());
        return Ok(());
    };
    catalog::write_order(&order)?;
    let now: Vec<u32> = catalog::enumerate(Paths::None)?
        .iter()
        .map(|e| e.catalog_entry_id)
        .collect();
    if now == order {
        log(format!(
            "catalog order: the provider's entries moved first ({} entries rewritten); \
             socket(AF_UNIX, SOCK_STREAM, 0) now picks afunix-rs in every process",
            order.len()
        ));
    } else {
        log(
            "catalog order: WSCWriteProviderOrder returned success, but the catalog order did \
             not change (Wine's WSCWriteProviderOrder is a stub)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Removes the provider and the driver. Returns whether there was anything to remove.
pub fn uninstall(log: Log<'_>) -> Result<bool, StepError> {
    let system = system_dir()?;
    let mut changed = false;

    // The catalog entry first, so that no new process loads the DLL.
    let ours = ours_in(&catalog::enumerate(Paths::None)?);
    if ours.is_empty() {
        log("catalog: the provider is not in the Winsock catalog".to_owned());
    } else {
        catalog::deinstall_provider()?;
        log(format!(
            "catalog: provider {} removed (entries {}); the other entries keep their order",
            catalog::provider_id(),
            ids(&ours)
        ));
        changed = true;
    }

    match service::remove(SERVICE_NAME)? {
        Removed::Missing => log(format!("service {SERVICE_NAME}: not installed")),
        Removed::Deleted { stopped } => {
            let how = if stopped {
                "stopped and deleted"
            } else {
                "deleted (it was not running)"
            };
            log(format!("service {SERVICE_NAME}: {how}"));
            changed = true;
        }
    }

    // Either build may be installed, or both files left by installs of each.
    for file in [DRIVER_FILE, KMDF_DRIVER_FILE] {
        let driver = system.join("drivers").join(file);
        if remove_if_present(
            &driver,
            "the driver may still be loaded: try again after a restart",
        )? {
            log(format!("driver: deleted {}", driver.display()));
            changed = true;
        } else {
            log(format!("driver: {} not present", driver.display()));
        }
    }
    let provider = system.join(PROVIDER_FILE);
    if remove_if_present(
        &provider,
        "a program still has the provider loaded: close programs that use AF_UNIX sockets \
         and run uninstall again",
    )? {
        log(format!("provider: deleted {}", provider.display()));
        changed = true;
    } else {
        log(format!("provider: {} not present", provider.display()));
    }
    Ok(changed)
}

/// The service's `Parameters\Wdf` key, under HKEY_LOCAL_MACHINE: where an INF's `KmdfService`
/// directive records the KMDF version a driver was built for (`KmdfLibraryVersion`).
fn wdf_key() -> String {
    format!(r"SYSTEM\CurrentControlSet\Services\{SERVICE_NAME}\Parameters\Wdf")
}

/// An open registry key, closed when dropped.
struct RegKey(HKEY);

impl Drop for RegKey {
    fn drop(&mut self) {
        // SAFETY:
        // 1. `self.0` is a key this process opened and has not closed.
        unsafe { RegCloseKey(self.0) };
    }
}

fn registry_error(step: String, code: u32) -> StepError {
    StepError::code(
        step,
        code as i32,
        io::Error::from_raw_os_error(code as i32).to_string(),
    )
    .with_hint("run afunixctl from an elevated (Administrator) prompt")
}

/// Writes `KmdfLibraryVersion` (REG_SZ) under [`wdf_key`], as the KMDF build's INF does.
fn set_kmdf_version(key_path: &str) -> Result<(), StepError> {
    let path = wide(key_path);
    let mut key: HKEY = std::ptr::null_mut();
    // SAFETY:
    // 1. `path` is NUL-terminated and outlives the call; `key` is a valid out pointer; the
    //    optional class, security and disposition pointers are null.
    let status = unsafe {
        RegCreateKeyExW(
            HKEY_LOCAL_MACHINE,
            path.as_ptr(),
            0,
            std::ptr::null(),
            REG_OPTION_NON_VOLATILE,
            KEY_SET_VALUE,
            std::ptr::null(),
            &mut key,
            std::ptr::null_mut(),
        )
    };
    if status != ERROR_SUCCESS {
        return Err(registry_error(format!("creating HKLM\\{key_path}"), status));
    }
    let key = RegKey(key);
    let name = wide("KmdfLibraryVersion");
    let value = wide(KMDF_LIBRARY_VERSION);
    let bytes = u32::try_from(value.len() * 2).unwrap_or(u32::MAX);
    // SAFETY:
    // 1. `key` is open with KEY_SET_VALUE; `name` is NUL-terminated; `value` holds `bytes`
    //    bytes of a NUL-terminated UTF-16 string, as REG_SZ requires; all outlive the call.
    let status = unsafe {
        RegSetValueExW(
            key.0,
            name.as_ptr(),
            0,
            REG_SZ,
            value.as_ptr().cast(),
            bytes,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(registry_error(
            format!("setting HKLM\\{key_path}\\KmdfLibraryVersion"),
            status,
        ));
    }
    Ok(())
}

/// Removes `KmdfLibraryVersion` from [`wdf_key`], if there; returns whether it was.
fn clear_kmdf_version(key_path: &str) -> Result<bool, StepError> {
    let path = wide(key_path);
    let name = wide("KmdfLibraryVersion");
    // SAFETY:
    // 1. Both strings are NUL-terminated and outlive the call.
    let status = unsafe { RegDeleteKeyValueW(HKEY_LOCAL_MACHINE, path.as_ptr(), name.as_ptr()) };
    match status {
        ERROR_SUCCESS => Ok(true),
        ERROR_FILE_NOT_FOUND => Ok(false),
        _ => Err(registry_error(
            format!("deleting HKLM\\{key_path}\\KmdfLibraryVersion"),
            status,
        )),
    }
}

fn ours_in(entries: &[crate::status::CatalogEntry]) -> Vec<u32> {
    entries
        .iter()
        .filter(|e| catalog::is_ours(e))
        .map(|e| e.catalog_entry_id)
        .collect()
}

fn ids(ids: &[u32]) -> String {
    ids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
