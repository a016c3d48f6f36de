//! The Winsock catalog entry of the afunix-rs provider (`afunixwsp.dll`), and the catalog
//! calls that install, remove, order and list it.
//!
//! Three protocols, one per socket type: AF_UNIX with SOCK_STREAM, SOCK_DGRAM and
//! SOCK_SEQPACKET, protocol 0, each with IFS handles (the sockets are the driver's file
//! handles, so ReadFile, WriteFile and IOCP work on them). [`protocol_info_for`] says which
//! service flags each one claims and why.
//!
//! Under Wine (8.0) `WSCInstallProvider`, `WSCDeinstallProvider`, `WSCWriteProviderOrder` and
//! `WSCGetProviderPath` are stubs that return success and change or write nothing, and
//! `WSCEnumProtocols` lists Wine's fixed built-in protocols; see `docs/provider-install.md`.

use afunix_proto::names::{PROVIDER_CATALOG_PATH, PROVIDER_GUID, PROVIDER_PROTOCOL_NAME};
use windows_sys::Win32::Networking::WinSock::{
    AF_UNIX, BASE_PROTOCOL, PFL_MATCHES_PROTOCOL_ZERO, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM,
    SOCKET_ERROR, WSAENOBUFS, WSAPROTOCOL_INFOW, WSCDeinstallProvider, WSCEnumProtocols,
    WSCGetProviderPath, WSCInstallProvider, WSCWriteProviderOrder, XP1_CONNECTIONLESS,
    XP1_GRACEFUL_CLOSE, XP1_GUARANTEED_DELIVERY, XP1_GUARANTEED_ORDER, XP1_IFS_HANDLES,
    XP1_MESSAGE_ORIENTED,
};
use windows_sys::core::GUID;

use super::wide;
use crate::install::StepError;
use crate::status::{CatalogEntry, format_guid};

/// `sizeof(SOCKADDR_UN)`: the family and 108 bytes of path.
const SOCKADDR_UN_LEN: i32 = 110;

/// The provider's GUID as Windows spells it.
#[must_use]
pub fn provider_guid() -> GUID {
    let (data1, data2, data3, data4) = PROVIDER_GUID;
    GUID {
        data1,
        data2,
        data3,
        data4,
    }
}

/// The stream protocol's entry (AF_UNIX, SOCK_STREAM), as `WSCInstallProvider` registers it
/// and `WSPStartup` receives it. `dwCatalogEntryId` is 0 here: the catalog assigns it.
#[must_use]
pub fn protocol_info() -> WSAPROTOCOL_INFOW {
    stream_entry()
}

/// Every protocol the provider offers, in the order they are registered.
#[must_use]
pub fn protocol_infos() -> [WSAPROTOCOL_INFOW; 3] {
    [stream_entry(), datagram_entry(), seqpacket_entry()]
}

/// The entry of the protocol with Winsock socket type `sock_type`; None for a type the
/// provider does not offer.
///
/// The service flags, from the `WSAPROTOCOL_INFOW` documentation:
/// - every entry: `XP1_IFS_HANDLES` (the SOCKET is the driver's file handle).
/// - SOCK_STREAM: reliable (`XP1_GUARANTEED_DELIVERY`), in order (`XP1_GUARANTEED_ORDER`),
///   with `shutdown` (`XP1_GRACEFUL_CLOSE`); `dwMessageSize` 0 (a stream has no messages).
/// - SOCK_SEQPACKET: connection-oriented (no `XP1_CONNECTIONLESS`), reliable, in order,
///   graceful close, and `XP1_MESSAGE_ORIENTED` (each send is one record). Not
///   `XP1_PSEUDO_STREAM`: a receive never joins two records.
/// - SOCK_DGRAM: `XP1_CONNECTIONLESS | XP1_MESSAGE_ORIENTED`, and `XP1_GUARANTEED_ORDER`,
///   which the documentation defines as "arrives in the order sent, never duplicated, not
///   necessarily delivered": true of AF_UNIX, whose datagrams wait in one queue per
///   receiver. Not `XP1_GUARANTEED_DELIVERY`: WSARecv's documentation says a receive into
///   a buffer too short on a *reliable* protocol without MSG_PARTIAL leaves the rest for a
///   later receive, whereas AF_UNIX (as Linux's `unix_dgram_recvmsg`) discards it; the
///   unreliable case ("the excess data is lost, WSAEMSGSIZE") is what happens. No
///   `XP1_GRACEFUL_CLOSE` (nothing to close gracefully) and no broadcast or multicast.
/// - message types: no `XP1_PARTIAL_MESSAGE` (MSG_PARTIAL is not supported: a send is one
///   whole message and a receive never leaves the rest of one for later), and
///   `dwMessageSize` is the largest message a socket with the default SO_SNDBUF sends
///   (SO_SNDBUF - 32, Linux's limit; a larger send is WSAEMSGSIZE). A socket whose SO_SNDBUF
///   changed reports its own limit as `SO_MAX_MSG_SIZE`.
///
/// The seqpacket entry claims delivery as a stream does, though its receive into a buffer
/// too short drops the rest of the record as Linux does (WSAEMSGSIZE): nothing is lost in
/// transit, which is what the flag says; the README notes the difference.
#[must_use]
pub fn protocol_info_for(sock_type: i32) -> Option<WSAPROTOCOL_INFOW> {
    match sock_type {
        SOCK_STREAM => Some(stream_entry()),
        SOCK_DGRAM => Some(datagram_entry()),
        SOCK_SEQPACKET => Some(seqpacket_entry()),
        _ => None,
    }
}

/// `dwMessageSize` of the message protocols: Linux's default SO_SNDBUF less the 32 bytes
/// Linux keeps back (`unix_dgram_sendmsg`: `len > sk->sk_sndbuf - 32` is EMSGSIZE).
#[must_use]
pub fn max_message_size() -> u32 {
    afunix_core::Limits::default()
        .sndbuf_default
        .saturating_sub(32)
}

fn stream_entry() -> WSAPROTOCOL_INFOW {
    entry(
        SOCK_STREAM,
        XP1_GUARANTEED_DELIVERY | XP1_GUARANTEED_ORDER | XP1_GRACEFUL_CLOSE,
        0,
    )
}

fn seqpacket_entry() -> WSAPROTOCOL_INFOW {
    entry(
        SOCK_SEQPACKET,
        XP1_GUARANTEED_DELIVERY | XP1_GUARANTEED_ORDER | XP1_GRACEFUL_CLOSE | XP1_MESSAGE_ORIENTED,
        max_message_size(),
    )
}

fn datagram_entry() -> WSAPROTOCOL_INFOW {
    entry(
        SOCK_DGRAM,
        XP1_CONNECTIONLESS | XP1_MESSAGE_ORIENTED | XP1_GUARANTEED_ORDER,
        max_message_size(),
    )
}

/// The protocol name of an entry (`szProtocol`, what `netsh winsock show catalog` shows):
/// the stream's name, `PROVIDER_PROTOCOL_NAME`, with its type word changed for the others.
#[must_use]
pub fn protocol_name(sock_type: i32) -> String {
    let word = match sock_type {
        SOCK_DGRAM => "datagram",
        SOCK_SEQPACKET => "seqpacket",
        _ => return PROVIDER_PROTOCOL_NAME.to_owned(),
    };
    PROVIDER_PROTOCOL_NAME.replacen("stream", word, 1)
}

fn entry(sock_type: i32, flags: u32, message_size: u32) -> WSAPROTOCOL_INFOW {
    let mut name = [0u16; 256];
    for (slot, unit) in name.iter_mut().zip(protocol_name(sock_type).encode_utf16()) {
        *slot = unit;
    }
    let mut info = WSAPROTOCOL_INFOW {
        dwServiceFlags1: flags | XP1_IFS_HANDLES,
        dwProviderFlags: PFL_MATCHES_PROTOCOL_ZERO,
        ProviderId: provider_guid(),
        iVersion: 2,
        iAddressFamily: i32::from(AF_UNIX),
        iMaxSockAddr: SOCKADDR_UN_LEN,
        // An unnamed address is the family alone.
        iMinSockAddr: 2,
        iSocketType: sock_type,
        iProtocol: 0,
        dwMessageSize: message_size,
        szProtocol: name,
        ..WSAPROTOCOL_INFOW::default()
    };
    info.ProtocolChain.ChainLen = BASE_PROTOCOL as i32;
    info
}

/// The provider's GUID as the catalog report spells it (`{D521FB18-...}`).
#[must_use]
pub fn provider_id() -> String {
    guid_string(&provider_guid())
}

fn guid_string(guid: &GUID) -> String {
    format_guid(guid.data1, guid.data2, guid.data3, guid.data4)
}

/// Whether `entry` belongs to our provider.
#[must_use]
pub fn is_ours(entry: &CatalogEntry) -> bool {
    entry.provider_id.eq_ignore_ascii_case(&provider_id())
}

/// Which entries [`enumerate`] asks `WSCGetProviderPath` about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paths {
    Every,
    OursOnly,
    None,
}

/// The whole Winsock catalog of this process's bitness (the 64-bit catalog from afunixctl),
/// in catalog order, with the provider DLL paths that `paths` asks for.
pub fn enumerate(paths: Paths) -> Result<Vec<CatalogEntry>, StepError> {
    let ours = provider_guid();
    let entries = enumerate_raw()?;
    Ok(entries
        .iter()
        .enumerate()
        .map(|(index, info)| {
            let is_ours = same_guid(&info.ProviderId, &ours);
            let path = match paths {
                Paths::Every => provider_path(&info.ProviderId),
                Paths::OursOnly if is_ours => provider_path(&info.ProviderId),
                _ => None,
            };
            CatalogEntry {
                position: index + 1,
                catalog_entry_id: info.dwCatalogEntryId,
                provider_id: guid_string(&info.ProviderId),
                address_family: info.iAddressFamily,
                socket_type: info.iSocketType,
                protocol: info.iProtocol,
                protocol_name: utf16_until_nul(&info.szProtocol),
                chain_len: info.ProtocolChain.ChainLen,
                path,
            }
        })
        .collect())
}

fn same_guid(a: &GUID, b: &GUID) -> bool {
    (a.data1, a.data2, a.data3, a.data4) == (b.data1, b.data2, b.data3, b.data4)
}

/// `WSCEnumProtocols` into a buffer of the size it asks for. The catalog can grow between the
/// two calls, so a few attempts are made.
fn enumerate_raw() -> Result<Vec<WSAPROTOCOL_INFOW>, StepError> {
    const ENTRY_SIZE: usize = std::mem::size_of::<WSAPROTOCOL_INFOW>();
    let mut entries: Vec<WSAPROTOCOL_INFOW> = Vec::new();
    for _ in 0..4 {
        let mut length = u32::try_from(entries.len() * ENTRY_SIZE)
            .map_err(|_| StepError::reason("WSCEnumProtocols", "the catalog is too large"))?;
        let mut errno = 0i32;
        let buffer = if entries.is_empty() {
            std::ptr::null_mut()
        } else {
            entries.as_mut_ptr()
        };
        // SAFETY:
        // 1. A null protocol filter asks for every protocol.
        // 2. `buffer` is null with `length` 0 (a size query), or points at `entries`, whose
        //    `length` bytes are writable and outlive the call.
        // 3. `length` and `errno` are valid out pointers.
        let count = unsafe { WSCEnumProtocols(std::ptr::null(), buffer, &mut length, &mut errno) };
        if count != SOCKET_ERROR {
            let count = usize::try_from(count).unwrap_or(0).min(entries.len());
            entries.truncate(count);
            return Ok(entries);
        }
        if errno != WSAENOBUFS {
            return Err(wsa_error("WSCEnumProtocols", errno));
        }
        let wanted = (length as usize)
            .div_ceil(ENTRY_SIZE)
            .max(entries.len() + 1);
        entries = vec![WSAPROTOCOL_INFOW::default(); wanted];
    }
    Err(StepError::reason(
        "WSCEnumProtocols",
        "the catalog kept changing size while it was read",
    ))
}

/// `WSCGetProviderPath`: the DLL path registered for `guid`, unexpanded. `None` if the call
/// fails or gives an empty string (Wine's stub returns success and writes nothing).
fn provider_path(guid: &GUID) -> Option<String> {
    let mut path = [0u16; 260];
    let mut length = path.len() as i32;
    let mut errno = 0i32;
    // SAFETY:
    // 1. `guid` is a valid GUID; `path` has `length` writable units; `length` and `errno`
    //    are valid out pointers. All outlive the call.
    let result = unsafe { WSCGetProviderPath(guid, path.as_mut_ptr(), &mut length, &mut errno) };
    if result != 0 {
        return None;
    }
    Some(utf16_until_nul(&path)).filter(|p| !p.is_empty())
}

/// `WSCInstallProvider(provider_guid(), PROVIDER_CATALOG_PATH, protocol_infos())`, into the
/// catalog of this process's bitness. afunixctl is a 64-bit program and only a 64-bit
/// provider DLL is built, so this is the 64-bit catalog; the 32-bit catalog
/// (`WSCInstallProvider64_32`, with a 32-bit DLL) is not handled.
pub fn install_provider() -> Result<(), StepError> {
    let guid = provider_guid();
    let path = wide(PROVIDER_CATALOG_PATH);
    let info = protocol_infos();
    let mut errno = 0i32;
    // SAFETY:
    // 1. `guid`, `path` (NUL-terminated) and `info` (as many entries as the count says) are valid
    //    and outlive the call; `errno` is a valid out pointer.
    let result = unsafe {
        WSCInstallProvider(
            &guid,
            path.as_ptr(),
            info.as_ptr(),
            info.len() as u32,
            &mut errno,
        )
    };
    if result == SOCKET_ERROR {
        return Err(wsa_error("WSCInstallProvider", errno)
            .with_hint("run afunixctl from an elevated (Administrator) prompt"));
    }
    Ok(())
}

/// `WSCDeinstallProvider(provider_guid())`: removes every catalog entry with our GUID.
pub fn deinstall_provider() -> Result<(), StepError> {
    let guid = provider_guid();
    let mut errno = 0i32;
    // SAFETY:
    // 1. `guid` is a valid GUID and `errno` a valid out pointer; both outlive the call.
    let result = unsafe { WSCDeinstallProvider(&guid, &mut errno) };
    if result == SOCKET_ERROR {
        return Err(wsa_error("WSCDeinstallProvider", errno)
            .with_hint("run afunixctl from an elevated (Administrator) prompt"));
    }
    Ok(())
}

/// `WSCWriteProviderOrder`: `order` must name every catalog entry exactly once.
pub fn write_order(order: &[u32]) -> Result<(), StepError> {
    let mut order = order.to_vec();
    let count = u32::try_from(order.len())
        .map_err(|_| StepError::reason("WSCWriteProviderOrder", "too many entries"))?;
    // SAFETY:
    // 1. `order` holds `count` entry ids and outlives the call (the function only reads them;
    //    its prototype says mutable).
    let result = unsafe { WSCWriteProviderOrder(order.as_mut_ptr(), count) };
    if result != 0 {
        return Err(wsa_error("WSCWriteProviderOrder", result)
            .with_hint("run afunixctl from an elevated (Administrator) prompt"));
    }
    Ok(())
}

fn wsa_error(step: &str, code: i32) -> StepError {
    StepError::code(
        step,
        code,
        std::io::Error::from_raw_os_error(code).to_string(),
    )
}

fn utf16_until_nul(units: &[u16]) -> String {
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(units.get(..end).unwrap_or(units))
}
