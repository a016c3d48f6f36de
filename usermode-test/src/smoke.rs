//! `usermode-test smoke`: the driver answers, and its device is secured as designed.

#[cfg(windows)]
pub fn run() -> Result<(), String> {
    use afunix::sys::device::{Device, canonical_sddl};
    use afunix_proto::STATS_VERSION;
    use afunix_proto::names::USER_DEVICE_PATH;
    use afunix_proto::security::DEVICE_SDDL;

    let device = Device::open().map_err(|e| format!("open {USER_DEVICE_PATH}: {e}"))?;
    println!("opened {USER_DEVICE_PATH}");

    let stats = device.stats().map_err(|e| format!("STATS: {e}"))?;
    println!(
        "STATS: version {} (layout {}), {} open handle(s), {} pool bytes",
        stats.driver_version, stats.version, stats.open_handles, stats.pool_bytes
    );
    if stats.version != STATS_VERSION {
        return Err(format!(
            "STATS layout {} but this build speaks {STATS_VERSION}",
            stats.version
        ));
    }
    let ours = env!("CARGO_PKG_VERSION");
    if stats.driver_version.to_string() != ours {
        return Err(format!(
            "driver version {} but this build is {ours}",
            stats.driver_version
        ));
    }
    if stats.open_handles == 0 {
        return Err("STATS counts no open handle, but this one is open".into());
    }

    // A second handle must show up in the count, and closing it must take it back out.
    let before = stats.open_handles;
    let second = Device::open().map_err(|e| format!("second open: {e}"))?;
    let during = device
        .stats()
        .map_err(|e| format!("STATS: {e}"))?
        .open_handles;
    drop(second);
    let after = device
        .stats()
        .map_err(|e| format!("STATS: {e}"))?
        .open_handles;
    println!("open handles: {before} -> {during} with a second handle -> {after} after closing it");
    if during != before + 1 || after != before {
        return Err(format!(
            "open handle count went {before} -> {during} -> {after}, expected +1 then back"
        ));
    }

    // An IOCTL the driver does not define is refused, not ignored.
    let mut out = [0u8; 8];
    let unknown = afunix_proto::ctl_code(afunix_proto::ioctl::FILE_DEVICE_AFUNIX, 0xFFF, 0, 0);
    match device.ioctl(unknown, &[], &mut out) {
        Err(e) => println!("unknown IOCTL refused: {e}"),
        Ok(n) => {
            return Err(format!(
                "unknown IOCTL {unknown:#x} succeeded with {n} bytes"
            ));
        }
    }
    // A STATS reply that does not fit is refused, not truncated.
    let mut small = [0u8; 8];
    match device.ioctl(afunix_proto::IOCTL_AFUNIX_STATS, &[], &mut small) {
        Err(e) => println!("STATS into an 8-byte buffer refused: {e}"),
        Ok(n) => {
            return Err(format!(
                "STATS into an 8-byte buffer succeeded with {n} bytes"
            ));
        }
    }

    let expected = canonical_sddl(DEVICE_SDDL).map_err(|e| format!("parse {DEVICE_SDDL}: {e}"))?;
    println!("device security as this system renders {DEVICE_SDDL}: {expected}");
    let actual = device
        .security_sddl()
        .map_err(|e| format!("read the device's security: {e}"))?;
    if actual.is_empty() {
        // Wine keeps a device object's descriptor apart from the file objects opened on it,
        // so nothing shows through a handle; the driver itself reads the descriptor back at
        // load and refuses to start if it differs (the Wine harness checks its log lines).
        println!(
            "device security: not visible through a device handle here (as under Wine); checked by the driver at load"
        );
    } else {
        println!("device security: {actual}");
        if actual != expected {
            return Err(format!("device security is {actual}, expected {expected}"));
        }
    }

    stats_for_administrators_only(&device)?;
    unknown_ioctl_flood(&device)?;
    println!("smoke: OK");
    Ok(())
}

/// STATS is for administrators: a thread impersonating a restricted copy of this process's
/// token, with BUILTIN\Administrators made deny-only (CreateRestrictedToken's SidsToDisable,
/// what UAC's filtered token does too), gets EACCES; after RevertToSelf the same thread gets
/// the counters. Wine's default token is an administrator's, so the rest of the tests read
/// STATS as before.
#[cfg(windows)]
fn stats_for_administrators_only(device: &afunix::sys::device::Device) -> Result<(), String> {
    use afunix_proto::security::{SE_GROUP_USE_FOR_DENY_ONLY, WellKnownSid};
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::Security::{
        CreateRestrictedToken, DuplicateTokenEx, RevertToSelf, SID_AND_ATTRIBUTES,
        SecurityImpersonation, TOKEN_ALL_ACCESS, TokenImpersonation,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, OpenProcessToken, SetThreadToken,
    };

    /// A token handle, closed once.
    struct Token(HANDLE);
    impl Drop for Token {
        fn drop(&mut self) {
            // SAFETY:
            // 1. A handle this function opened, closed once.
            unsafe { CloseHandle(self.0) };
        }
    }
    let os_error = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());

    let mut process_token: HANDLE = std::ptr::null_mut();
    // SAFETY:
    // 1. GetCurrentProcess has no preconditions (a pseudo-handle that needs no closing).
    let me = unsafe { GetCurrentProcess() };
    // SAFETY:
    // 1. Our own process's pseudo-handle; `process_token` is a valid out pointer.
    if unsafe { OpenProcessToken(me, TOKEN_ALL_ACCESS, &mut process_token) } == 0 {
        return Err(os_error("OpenProcessToken"));
    }
    let process_token = Token(process_token);
    let mut impersonation: HANDLE = std::ptr::null_mut();
    // SAFETY:
    // 1. `process_token` is open for duplication; `impersonation` is a valid out pointer.
    let ok = unsafe {
        DuplicateTokenEx(
            process_token.0,
            TOKEN_ALL_ACCESS,
            std::ptr::null(),
            SecurityImpersonation,
            TokenImpersonation,
            &mut impersonation,
        )
    };
    if ok == 0 {
        return Err(os_error("DuplicateTokenEx"));
    }
    let impersonation = Token(impersonation);

    let mut administrators = [0u32; 4];
    let sid_bytes = WellKnownSid::BuiltinAdministrators
        .encode(zerocopy::IntoBytes::as_mut_bytes(&mut administrators[..]))
        .ok_or("encode S-1-5-32-544")?;
    let disable = SID_AND_ATTRIBUTES {
        Sid: administrators.as_mut_ptr().cast(),
        Attributes: 0,
    };
    let mut restricted: HANDLE = std::ptr::null_mut();
    // SAFETY:
    // 1. `impersonation` is a token we hold; `disable` names one valid SID of `sid_bytes`
    //    bytes, alive for the call; no privileges or restricting SIDs are passed.
    let ok = unsafe {
        CreateRestrictedToken(
            impersonation.0,
            0,
            1,
            &disable,
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            &mut restricted,
        )
    };
    if ok == 0 {
        return Err(os_error("CreateRestrictedToken"));
    }
    let restricted = Token(restricted);

    let before = administrators_attributes(impersonation.0)?;
    let after = administrators_attributes(restricted.0)?;
    println!(
        "BUILTIN\\Administrators ({sid_bytes}-byte SID) in this process's token: attributes {before:#x?}; \
         in the restricted copy: {after:#x?}"
    );
    if after.is_none_or(|a| a & SE_GROUP_USE_FOR_DENY_ONLY == 0) {
        return Err(format!(
            "CreateRestrictedToken did not make Administrators deny-only (attributes {after:#x?})"
        ));
    }

    // SAFETY:
    // 1. Null names this thread; `restricted` is an impersonation token we hold (the thread
    //    takes its own reference).
    if unsafe { SetThreadToken(std::ptr::null(), restricted.0) } == 0 {
        return Err(os_error("SetThreadToken"));
    }
    let refused = device.stats();
    // SAFETY:
    // 1. Ends this thread's impersonation; no preconditions.
    unsafe { RevertToSelf() };
    match refused {
        Err(e) if afunix::errno_of(&e) == Some(afunix::Errno::EACCES) => {
            println!("STATS while impersonating a token with Administrators deny-only: {e}");
        }
        Err(e) => {
            return Err(format!(
                "STATS as a non-administrator: expected EACCES, got {e}"
            ));
        }
        Ok(stats) => {
            return Err(format!(
                "STATS answered a non-administrator: {} open handle(s)",
                stats.open_handles
            ));
        }
    }
    if before.is_some_and(|a| a & SE_GROUP_USE_FOR_DENY_ONLY == 0) {
        let stats = device
            .stats()
            .map_err(|e| format!("STATS after RevertToSelf: {e}"))?;
        println!(
            "STATS after RevertToSelf: {} open handle(s), {} socket(s)",
            stats.open_handles, stats.sockets
        );
    }
    Ok(())
}

/// The attributes BUILTIN\Administrators has in `token`'s groups, if it is there.
#[cfg(windows)]
fn administrators_attributes(
    token: windows_sys::Win32::Foundation::HANDLE,
) -> Result<Option<u32>, String> {
    use afunix_proto::security::WellKnownSid;
    use windows_sys::Win32::Security::{GetTokenInformation, TokenGroups};

    let mut buffer = vec![0u64; 1024];
    let mut needed = 0u32;
    // SAFETY:
    // 1. `token` is open with TOKEN_QUERY; the buffer is 8 KiB, 8-aligned, as passed.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenGroups,
            buffer.as_mut_ptr().cast(),
            8192,
            &mut needed,
        )
    };
    if ok == 0 {
        return Err(format!(
            "GetTokenInformation(TokenGroups): {}",
            std::io::Error::last_os_error()
        ));
    }
    let base = buffer.as_ptr() as usize;
    let bytes = zerocopy::IntoBytes::as_bytes(&buffer[..]);
    let count = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    for entry in bytes[8..8 + 16 * count].chunks_exact(16) {
        let at = u64::from_le_bytes(entry[..8].try_into().unwrap()) as usize - base;
        let subs = usize::from(bytes[at + 1]);
        if WellKnownSid::BuiltinAdministrators.matches(&bytes[at..at + 8 + 4 * subs]) {
            return Ok(Some(u32::from_le_bytes(entry[8..12].try_into().unwrap())));
        }
    }
    Ok(None)
}

/// Unknown IOCTLs are refused (ENOTTY, as Linux's ioctl) however many come, and the driver's
/// log of them is rate-limited: after a flood and a pause, one more makes the driver say
/// how many it left out (the Wine harness checks its log).
#[cfg(windows)]
fn unknown_ioctl_flood(device: &afunix::sys::device::Device) -> Result<(), String> {
    const FLOOD: usize = 200;
    let unknown = afunix_proto::ctl_code(afunix_proto::ioctl::FILE_DEVICE_AFUNIX, 0xFFE, 0, 0);
    let mut out = [0u8; 8];
    for i in 0..=FLOOD {
        if i == FLOOD {
            // A new second of the driver's limit: this one is logged, with the summary.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        match device.ioctl(unknown, &[], &mut out) {
            Err(e) if afunix::errno_of(&e) == Some(afunix::Errno::ENOTTY) => {}
            other => {
                return Err(format!(
                    "unknown IOCTL {unknown:#x} #{i}: expected ENOTTY, got {other:?}"
                ));
            }
        }
    }
    println!(
        "{} unknown IOCTLs refused with ENOTTY (the driver logs at most a few a second)",
        FLOOD + 1
    );
    Ok(())
}

#[cfg(not(windows))]
pub fn run() -> Result<(), String> {
    Err("the smoke check talks to the afunixrs driver: run the Windows build (under Wine or on Windows)".into())
}
