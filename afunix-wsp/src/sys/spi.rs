//! The SPI entry points ws2_32 calls through the procedure table.
//!
//! Each `extern "system"` function checks and reads its pointer arguments, calls a safe
//! function that returns `Result<_, i32>` (a WSA code), and writes the code to `lpErrno`
//! on failure.

use std::ffi::c_void;
use std::os::windows::io::IntoRawHandle;
use std::ptr;
use std::time::{Duration, Instant};

use afunix::sys::Data;
use afunix_core::{Errno, SockType};
use afunix_proto::decode::RECVFROM_HEADER;
use afunix_proto::encode;
use afunix_proto::ioctl::*;
use afunix_proto::wire::{AddressOut, IntOut, MSG_AFUNIX_OVERLAPPED, PeerCredOut, revents};
use windows_sys::Win32::Foundation::{
    CloseHandle, DUPLICATE_SAME_ACCESS, DuplicateHandle, HANDLE, HWND,
};
use windows_sys::Win32::Networking::WinSock::{
    self as ws, FD_SET, FROM_PROTOCOL_INFO, INVALID_SOCKET, LPCONDITIONPROC,
    LPWSAOVERLAPPED_COMPLETION_ROUTINE, QOS, SIO_AF_UNIX_GETPEERPID, SIO_BASE_HANDLE,
    SIO_BSP_HANDLE, SIO_BSP_HANDLE_POLL, SIO_BSP_HANDLE_SELECT, SIO_EXT_POLL, SOCKADDR, SOCKET,
    SOCKET_ERROR, TIMEVAL, WSABUF, WSAECONNREFUSED, WSANETWORKEVENTS, WSAPROTOCOL_INFOW,
    WSATHREADID, WSPPROC_TABLE,
};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, PROCESS_DUP_HANDLE, ResetEvent,
};
use zerocopy::{FromBytes, IntoBytes};

use super::overlapped::{self, Transfer};
use super::table::{self, Sock};
use super::{protocol_info, register_with_ws2, set_errno, watcher};
use crate::winsock::*;

const AF_UNIX: i32 = ws::AF_UNIX as i32;
/// The control codes, as WSPIoctl receives them (a DWORD).
const FIONBIO: u32 = ws::FIONBIO as u32;
const FIONREAD: u32 = ws::FIONREAD as u32;
const CF_ACCEPT: i32 = ws::CF_ACCEPT as i32;

type Res<T> = Result<T, i32>;

/// The procedure table `WSPStartup` hands to ws2_32.
pub(crate) fn table() -> WSPPROC_TABLE {
    WSPPROC_TABLE {
        lpWSPAccept: Some(wsp_accept),
        lpWSPAddressToString: Some(wsp_address_to_string),
        lpWSPAsyncSelect: Some(wsp_async_select),
        lpWSPBind: Some(wsp_bind),
        lpWSPCancelBlockingCall: Some(wsp_cancel_blocking_call),
        lpWSPCleanup: Some(wsp_cleanup),
        lpWSPCloseSocket: Some(wsp_close_socket),
        lpWSPConnect: Some(wsp_connect),
        lpWSPDuplicateSocket: Some(wsp_duplicate_socket),
        lpWSPEnumNetworkEvents: Some(wsp_enum_network_events),
        lpWSPEventSelect: Some(wsp_event_select),
        lpWSPGetOverlappedResult: Some(wsp_get_overlapped_result),
        lpWSPGetPeerName: Some(wsp_get_peer_name),
        lpWSPGetSockName: Some(wsp_get_sock_name),
        lpWSPGetSockOpt: Some(wsp_get_sock_opt),
        lpWSPGetQOSByName: Some(wsp_get_qos_by_name),
        lpWSPIoctl: Some(wsp_ioctl),
        lpWSPJoinLeaf: Some(wsp_join_leaf),
        lpWSPListen: Some(wsp_listen),
        lpWSPRecv: Some(wsp_recv),
        lpWSPRecvDisconnect: Some(wsp_recv_disconnect),
        lpWSPRecvFrom: Some(wsp_recv_from),
        lpWSPSelect: Some(wsp_select),
        lpWSPSend: Some(wsp_send),
        lpWSPSendDisconnect: Some(wsp_send_disconnect),
        lpWSPSendTo: Some(wsp_send_to),
        lpWSPSetSockOpt: Some(wsp_set_sock_opt),
        lpWSPShutdown: Some(wsp_shutdown),
        lpWSPSocket: Some(wsp_socket),
        lpWSPStringToAddress: Some(wsp_string_to_address),
    }
}

/// 0, or SOCKET_ERROR with the code written to `lperrno`.
fn status(lperrno: *const i32, r: Res<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(code) => {
            set_errno(lperrno, code);
            SOCKET_ERROR
        }
    }
}

fn socket_or_invalid(lperrno: *const i32, r: Res<SOCKET>) -> SOCKET {
    r.unwrap_or_else(|code| {
        set_errno(lperrno, code);
        INVALID_SOCKET
    })
}

fn handle(s: SOCKET) -> HANDLE {
    s as HANDLE
}

/// Fails with WSAENOTSOCK unless `s` is one of ours.
fn known(s: SOCKET) -> Res<()> {
    table::with(s, |_| ())
}

/// The type of socket `s`; WSAENOTSOCK unless it is one of ours.
fn sock_type(s: SOCKET) -> Res<SockType> {
    table::with(s, |sock| sock.ty)
}

fn request(
    s: SOCKET,
    code: u32,
    input: &[u8],
    data: Data<'_>,
    deadline: Option<Instant>,
) -> Result<usize, Errno> {
    afunix::sys::ioctl(super::borrowed(&s), code, input, data, deadline)
}

fn simple(s: SOCKET, code: u32, input: &[u8]) -> Res<()> {
    known(s)?;
    request(s, code, input, Data::None, None)
        .map(|_| ())
        .map_err(wsa)
}

/// A request on handle `s` whose reply is an integer, without the table check (`s` may be a
/// handle being adopted).
fn int_reply(s: SOCKET, code: u32, input: &[u8]) -> Result<i32, Errno> {
    let mut out = [0u8; size_of::<IntOut>()];
    request(s, code, input, Data::Out(&mut out), None)?;
    IntOut::read_from_bytes(&out)
        .map(|o| o.value)
        .map_err(|_| Errno::EINVAL)
}

fn int_request(s: SOCKET, code: u32, input: &[u8]) -> Res<i32> {
    known(s)?;
    int_reply(s, code, input).map_err(wsa)
}

/// GETSOCKNAME or GETPEERNAME on handle `s`, without the table check.
fn name_reply(s: SOCKET, code: u32) -> Result<AddressOut, Errno> {
    let mut out = [0u8; size_of::<AddressOut>()];
    request(
        s,
        code,
        encode::empty().as_bytes(),
        Data::Out(&mut out),
        None,
    )?;
    AddressOut::read_from_bytes(&out).map_err(|_| Errno::EINVAL)
}

fn address_reply(s: SOCKET, code: u32) -> Res<AddressOut> {
    known(s)?;
    name_reply(s, code).map_err(wsa)
}

/// The bytes of a `(pointer, length)` argument; WSAEFAULT if it cannot be a buffer.
///
/// # Safety
///
/// A non-null `ptr` is readable for `len` bytes (the caller's contract with Winsock).
unsafe fn bytes<'a>(ptr: *const u8, len: i32) -> Res<&'a [u8]> {
    let len = usize::try_from(len).map_err(|_| WSAEFAULT)?;
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(WSAEFAULT) };
    }
    // SAFETY:
    // 1. Non-null and readable for `len` bytes (this function's contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Copies `value` into the program's `(buffer, *len)`, setting `*len` to its length;
/// WSAEFAULT (and nothing written) if it does not fit, as Winsock's name and option calls do.
///
/// # Safety
///
/// `len` is null or a readable, writable int; `buffer` is null or writable for `*len` bytes.
unsafe fn copy_out(buffer: *mut u8, len: *mut i32, value: &[u8]) -> Res<()> {
    if buffer.is_null() || len.is_null() {
        return Err(WSAEFAULT);
    }
    // SAFETY:
    // 1. Non-null and readable (this function's contract).
    let room = unsafe { len.read() };
    let need = i32::try_from(value.len()).map_err(|_| WSAEFAULT)?;
    if room < need {
        return Err(WSAEFAULT);
    }
    // SAFETY:
    // 1. `buffer` is writable for `room` >= `need` bytes; `value` is ours, not overlapping.
    unsafe { ptr::copy_nonoverlapping(value.as_ptr(), buffer, value.len()) };
    // SAFETY:
    // 1. Writable (this function's contract).
    unsafe { len.write(need) };
    Ok(())
}

/// The absolute NT path of a pathname sockaddr (empty for an abstract or unnamed one),
/// resolved here, where the current directory is known.
fn nt_path_of(sockaddr: &[u8]) -> Res<Vec<u16>> {
    match encode::pathname(sockaddr) {
        Some(name) => {
            let text = std::str::from_utf8(name).map_err(|_| WSAEINVAL)?;
            afunix::sys::nt_path(std::path::Path::new(text)).map_err(|_| WSAEINVAL)
        }
        None => Ok(Vec::new()),
    }
}

fn encode_error(e: encode::EncodeError) -> i32 {
    match e {
        encode::EncodeError::NoMemory => WSAENOBUFS,
        _ => WSAEINVAL,
    }
}

/// The BIND or CONNECT input for a sockaddr.
fn address_input(sockaddr: &[u8]) -> Res<Vec<u8>> {
    let path = nt_path_of(sockaddr)?;
    // Longer than a sockaddr_un: EINVAL, as Linux's unix_validate_addr says.
    encode::address(sockaddr, &path).map_err(encode_error)
}

/// The SENDTO input for a datagram's destination, with the request's Linux `flags`: a
/// pathname's NT path goes with it, for the driver to open the socket file as CONNECT does.
fn send_to_input(flags: u32, sockaddr: &[u8]) -> Res<Vec<u8>> {
    let path = if sockaddr.len() > SOCKADDR_UN_LEN {
        // Longer than a sockaddr_un travels as its length alone (the driver refuses it).
        Vec::new()
    } else {
        nt_path_of(sockaddr)?
    };
    encode::send_to(flags, sockaddr, &path).map_err(encode_error)
}

/// `sizeof(struct sockaddr_un)`.
const SOCKADDR_UN_LEN: usize = 110;

/// The WSA code for a failure to open the driver's device.
pub(crate) fn device_error(e: &std::io::Error) -> i32 {
    let not_running = afunix::DriverUnavailable::of(e).is_some_and(|d| d.not_running());
    crate::winsock::device_open_error(not_running, e)
}

/// A new socket handle of type `ty` on the driver, not yet known to ws2_32.
fn new_handle(ty: SockType, nonblocking: bool) -> Res<SOCKET> {
    let owned = afunix::sys::open_handle().map_err(|e| device_error(&e))?;
    let raw = owned.into_raw_handle() as SOCKET;
    let made = request(
        raw,
        IOCTL_AFUNIX_SOCKET,
        encode::socket(ty as u32, nonblocking).as_bytes(),
        Data::None,
        None,
    );
    if let Err(e) = made {
        close_raw(raw);
        return Err(wsa(e));
    }
    Ok(raw)
}

fn close_raw(s: SOCKET) {
    // SAFETY:
    // 1. A handle this provider opened and owns, closed once.
    unsafe { CloseHandle(handle(s)) };
}

/// Registers a new socket with ws2_32 and the table.
fn adopt(raw: SOCKET, sock: Sock) -> Res<SOCKET> {
    let s = match register_with_ws2(raw, sock.entry) {
        Ok(s) => s,
        Err(e) => {
            close_raw(raw);
            return Err(e);
        }
    };
    table::insert(s, sock);
    Ok(s)
}

// ---- sockets -------------------------------------------------------------------------

unsafe extern "system" fn wsp_socket(
    af: i32,
    sock_type: i32,
    protocol: i32,
    info: *const WSAPROTOCOL_INFOW,
    group: u32,
    _flags: u32,
    lperrno: *mut i32,
) -> SOCKET {
    let info = if info.is_null() {
        None
    } else {
        // SAFETY:
        // 1. Non-null: ws2_32 passes a readable WSAPROTOCOL_INFOW.
        Some(unsafe { info.read() })
    };
    socket_or_invalid(lperrno, socket(af, sock_type, protocol, info, group))
}

fn socket(
    af: i32,
    sock_type: i32,
    protocol: i32,
    info: Option<WSAPROTOCOL_INFOW>,
    group: u32,
) -> Res<SOCKET> {
    if let Some(info) = info.filter(|i| i.dwProviderReserved != 0) {
        // WSASocket(FROM_PROTOCOL_INFO) with what WSPDuplicateSocket filled in: the
        // handle is already in this process.
        return adopt_duplicate(info.dwProviderReserved as SOCKET, info.dwCatalogEntryId);
    }
    // The catalog entry ws2_32 chose for this socket (one per type); without protocol
    // info, the one WSPStartup was given.
    let entry = info
        .map(|i| i.dwCatalogEntryId)
        .filter(|&id| id != 0)
        .or_else(super::startup_entry)
        .unwrap_or(0);
    let (af, sock_type, protocol) = match info {
        Some(i) if af == FROM_PROTOCOL_INFO => (i.iAddressFamily, i.iSocketType, i.iProtocol),
        _ => (af, sock_type, protocol),
    };
    if af != AF_UNIX {
        return Err(WSAEAFNOSUPPORT);
    }
    // The types the catalog lists (SOCK_RAW, which Linux takes as SOCK_DGRAM, has no entry).
    let (ty, role) = match sock_type {
        SOCK_STREAM => (SockType::Stream, Role::Idle),
        SOCK_SEQPACKET => (SockType::SeqPacket, Role::Idle),
        SOCK_DGRAM => (SockType::Dgram, Role::Datagram),
        _ => return Err(WSAESOCKTNOSUPPORT),
    };
    if protocol != 0 {
        return Err(WSAEPROTONOSUPPORT);
    }
    if group != 0 {
        return Err(WSAEINVAL);
    }
    let raw = new_handle(ty, false)?;
    adopt(raw, Sock::new(ty, entry, role, false))
}

/// A socket another process (or this one) duplicated for us.
fn adopt_duplicate(raw: SOCKET, entry: u32) -> Res<SOCKET> {
    if table::with(raw, |_| ()).is_ok() {
        // The same protocol info adopted twice: one handle, one socket.
        return Err(WSAEINVAL);
    }
    let option = |name| {
        let input = encode::sockopt(LINUX_SOL_SOCKET, name, 0);
        int_reply(raw, IOCTL_AFUNIX_GETSOCKOPT, input.as_bytes())
    };
    // Only a driver socket answers SO_TYPE.
    let ty = option(LINUX_SO_TYPE)
        .ok()
        .and_then(|t| u32::try_from(t).ok())
        .and_then(SockType::from_raw)
        .ok_or(WSAEINVAL)?;
    let role = if ty == SockType::Dgram {
        Role::Datagram
    } else if option(LINUX_SO_ACCEPTCONN).is_ok_and(|v| v != 0) {
        Role::Listening
    } else if name_reply(raw, IOCTL_AFUNIX_GETPEERNAME).is_ok() {
        Role::Connected
    } else {
        Role::Idle
    };
    adopt(raw, Sock::new(ty, entry, role, false))
}

unsafe extern "system" fn wsp_close_socket(s: SOCKET, lperrno: *mut i32) -> i32 {
    status(lperrno, close_socket(s))
}

fn close_socket(s: SOCKET) -> Res<()> {
    let sock = table::remove(s).ok_or(WSAENOTSOCK)?;
    if sock.events.is_some() {
        watcher::wake();
    }
    close_raw(s);
    Ok(())
}

unsafe extern "system" fn wsp_cleanup(lperrno: *mut i32) -> i32 {
    status(lperrno, super::cleanup())
}

// ---- addresses -----------------------------------------------------------------------

unsafe extern "system" fn wsp_bind(
    s: SOCKET,
    name: *const SOCKADDR,
    namelen: i32,
    lperrno: *mut i32,
) -> i32 {
    // SAFETY:
    // 1. ws2_32 passes the program's sockaddr, readable for `namelen` bytes.
    let r = unsafe { bytes(name.cast(), namelen) }.and_then(|addr| bind(s, addr));
    status(lperrno, r)
}

fn bind(s: SOCKET, sockaddr: &[u8]) -> Res<()> {
    simple(s, IOCTL_AFUNIX_BIND, &address_input(sockaddr)?)
}

unsafe extern "system" fn wsp_listen(s: SOCKET, backlog: i32, lperrno: *mut i32) -> i32 {
    let r = simple(s, IOCTL_AFUNIX_LISTEN, encode::listen(backlog).as_bytes())
        .and_then(|()| table::with(s, |sock| sock.role = Role::Listening));
    if r.is_ok() {
        watcher::wake();
    }
    status(lperrno, r)
}

unsafe extern "system" fn wsp_connect(
    s: SOCKET,
    name: *const SOCKADDR,
    namelen: i32,
    _caller_data: *const WSABUF,
    _callee_data: *mut WSABUF,
    _sqos: *const QOS,
    _gqos: *const QOS,
    lperrno: *mut i32,
) -> i32 {
    // SAFETY:
    // 1. ws2_32 passes the program's sockaddr, readable for `namelen` bytes.
    let r = unsafe { bytes(name.cast(), namelen) }.and_then(|addr| connect(s, addr));
    status(lperrno, r)
}

fn connect(s: SOCKET, sockaddr: &[u8]) -> Res<()> {
    let (timeout, nonblocking, ty) =
        table::with(s, |sock| (sock.send_timeout, sock.nonblocking, sock.ty))?;
    let input = address_input(sockaddr)?;
    match request(
        s,
        IOCTL_AFUNIX_CONNECT,
        &input,
        Data::None,
        table::deadline(timeout),
    ) {
        // A datagram socket's connect (or, with AF_UNSPEC, its disconnect) only sets or
        // clears its default destination: no connection, so no FD_CONNECT.
        Ok(_) if ty == SockType::Dgram => Ok(()),
        Ok(_) => {
            let signal = table::with(s, |sock| {
                sock.role = Role::Connected;
                let events = sock.events.as_mut()?;
                events.record(FD_CONNECT, 0).then_some(events.event)
            })?;
            if let Some(event) = signal {
                set_event(event);
            }
            watcher::wake();
            Ok(())
        }
        // AF_UNIX connects at once or not at all: "would block" is a full backlog (Linux's
        // EAGAIN), to be retried; it is not a connection in progress.
        Err(Errno::EAGAIN | Errno::EINPROGRESS) if nonblocking => Err(WSAEWOULDBLOCK),
        Err(Errno::EAGAIN) => Err(WSAETIMEDOUT),
        Err(e) => Err(wsa(e)),
    }
}

fn set_event(event: usize) {
    // SAFETY:
    // 1. The program's event object from WSAEventSelect; a stale handle fails harmlessly.
    unsafe { windows_sys::Win32::System::Threading::SetEvent(event as HANDLE) };
}

unsafe extern "system" fn wsp_accept(
    s: SOCKET,
    addr: *mut SOCKADDR,
    addrlen: *mut i32,
    condition: LPCONDITIONPROC,
    callback_data: usize,
    lperrno: *mut i32,
) -> SOCKET {
    let r = (|| {
        // SAFETY:
        // 1. ws2_32 passes the program's length, readable when not null.
        let room = unsafe { address_room(!addr.is_null(), addrlen) }?;
        let (new, peer) = accept(s)?;
        if let Some(condition) = condition {
            if let Err(e) = ask_condition(condition, &peer, callback_data) {
                let _ = close_socket(new);
                return Err(e);
            }
        }
        if let Some(room) = room {
            // Linux's accept: as much of the address as fits, and its whole length.
            let n = room.min(peer.len());
            // SAFETY:
            // 1. `addr` is writable for `room` >= `n` bytes (the program's buffer).
            unsafe { ptr::copy_nonoverlapping(peer.as_ptr(), addr.cast::<u8>(), n) };
            // SAFETY:
            // 1. Non-null (checked with `room`) and writable.
            unsafe { addrlen.write(i32::try_from(peer.len()).unwrap_or(0)) };
        }
        Ok(new)
    })();
    socket_or_invalid(lperrno, r)
}

/// Accepts on `s`: the new socket (registered) and the peer's address.
fn accept(s: SOCKET) -> Res<(SOCKET, Vec<u8>)> {
    let (nonblocking, selected, ty, entry) = table::with(s, |sock| {
        (
            sock.nonblocking,
            sock.events.as_ref().map(|e| (e.event, e.selected())),
            sock.ty,
            sock.entry,
        )
    })?;
    // Winsock: the accepted socket has the listener's properties, non-blocking mode and
    // event selection included (and its type and catalog entry).
    let raw = new_handle(ty, nonblocking)?;
    let mut out = [0u8; size_of::<AddressOut>()];
    let accepted = request(
        s,
        IOCTL_AFUNIX_ACCEPT,
        encode::handle(raw as u64).as_bytes(),
        Data::Out(&mut out),
        None,
    );
    // accept re-enables FD_ACCEPT, whatever it returns.
    reenable(s, FD_ACCEPT);
    if let Err(e) = accepted {
        close_raw(raw);
        return Err(wsa(e));
    }
    let peer = AddressOut::read_from_bytes(&out)
        .map(|a| a.sockaddr().to_vec())
        .unwrap_or_default();
    let mut sock = Sock::new(ty, entry, Role::Connected, nonblocking);
    sock.events = selected.map(|(event, mask)| NetEvents::new(event, mask));
    let inherited = sock.events.is_some();
    let new = adopt(raw, sock)?;
    if inherited {
        // Watch the new socket too: it is in the table now.
        watcher::wake();
    }
    Ok((new, peer))
}

/// Runs WSAAccept's condition function after the fact (AF_UNIX has no connect data to
/// decide on): CF_ACCEPT keeps the connection, anything else refuses it.
fn ask_condition(
    condition: unsafe extern "system" fn(
        *mut WSABUF,
        *mut WSABUF,
        *mut QOS,
        *mut QOS,
        *mut WSABUF,
        *mut WSABUF,
        *mut u32,
        usize,
    ) -> i32,
    peer: &[u8],
    callback_data: usize,
) -> Res<()> {
    let mut caller = peer.to_vec();
    let mut caller_id = WSABUF {
        len: u32::try_from(caller.len()).unwrap_or(0),
        buf: caller.as_mut_ptr(),
    };
    let mut group = 0u32;
    // SAFETY:
    // 1. The program's condition function, called as WSAAccept documents: the caller id
    //    points at a copy of the peer's address; absent data and QOS are null.
    let verdict = unsafe {
        condition(
            &mut caller_id,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut group,
            callback_data,
        )
    };
    if verdict == CF_ACCEPT {
        Ok(())
    } else {
        Err(WSAECONNREFUSED)
    }
}

unsafe extern "system" fn wsp_get_sock_name(
    s: SOCKET,
    name: *mut SOCKADDR,
    namelen: *mut i32,
    lperrno: *mut i32,
) -> i32 {
    // SAFETY:
    // 1. ws2_32 passes the program's buffer and length (checked for null by copy_out).
    let r = address_reply(s, IOCTL_AFUNIX_GETSOCKNAME)
        .and_then(|a| unsafe { copy_out(name.cast(), namelen, a.sockaddr()) });
    status(lperrno, r)
}

unsafe extern "system" fn wsp_get_peer_name(
    s: SOCKET,
    name: *mut SOCKADDR,
    namelen: *mut i32,
    lperrno: *mut i32,
) -> i32 {
    // SAFETY:
    // 1. As in wsp_get_sock_name.
    let r = address_reply(s, IOCTL_AFUNIX_GETPEERNAME)
        .and_then(|a| unsafe { copy_out(name.cast(), namelen, a.sockaddr()) });
    status(lperrno, r)
}

// ---- data ----------------------------------------------------------------------------

/// The program's WSABUF array, as (pointer, length) pairs.
///
/// # Safety
///
/// `buffers` is readable for `count` WSABUFs.
unsafe fn wsabufs(buffers: *const WSABUF, count: u32) -> Res<Vec<(*mut u8, u32)>> {
    if buffers.is_null() && count > 0 {
        return Err(WSAEFAULT);
    }
    let count = usize::try_from(count).map_err(|_| WSAEFAULT)?;
    if count == 0 {
        return Ok(Vec::new());
    }
    // SAFETY:
    // 1. Readable for `count` WSABUFs (this function's contract).
    let slice = unsafe { std::slice::from_raw_parts(buffers, count) };
    Ok(slice.iter().map(|b| (b.buf, b.len)).collect())
}

/// The non-empty buffers; for an overlapped call there may be one at most (the driver
/// takes one buffer per request, and a copy could not outlive the call).
fn single(bufs: &[(*mut u8, u32)]) -> Res<Option<(*mut u8, u32)>> {
    let mut nonempty = bufs.iter().filter(|(_, len)| *len > 0);
    let first = nonempty.next().copied();
    if nonempty.next().is_some() {
        return Err(WSAEOPNOTSUPP);
    }
    Ok(first)
}

fn write_u32(p: *mut u32, value: u32) {
    if !p.is_null() {
        // SAFETY:
        // 1. Non-null: the program's out parameter, writable.
        unsafe { p.write(value) };
    }
}

unsafe extern "system" fn wsp_send(
    s: SOCKET,
    buffers: *const WSABUF,
    count: u32,
    sent: *mut u32,
    flags: u32,
    ov: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    _thread: *const WSATHREADID,
    lperrno: *mut i32,
) -> i32 {
    let r = (|| {
        check_send_flags(flags)?;
        // SAFETY:
        // 1. ws2_32 passes the program's WSABUF array of `count` entries.
        let bufs = unsafe { wsabufs(buffers, count) }?;
        let n = if ov.is_null() {
            send(s, &bufs, None)?
        } else {
            known(s)?;
            let (data, len) = single(&bufs)?.unwrap_or((ptr::null_mut(), 0));
            let transfer = Transfer::Send {
                data: data.cast_const(),
                len,
            };
            // SAFETY:
            // 1. The program's OVERLAPPED and buffer stay valid until completion, as
            //    WSASend requires of it.
            match unsafe { start_send(s, ov, routine, transfer, sent) }? {
                Some(n) => n,
                None => return Ok(()),
            }
        };
        write_u32(sent, n);
        Ok(())
    })();
    status(lperrno, r)
}

/// The room of a program's address buffer (WSPAccept's, WSPRecvFrom's): None without a
/// buffer; WSAEFAULT without a length, or with room for less than the family, checked before
/// a connection or a message is taken.
///
/// # Safety
///
/// A non-null `len` is the program's length, readable.
unsafe fn address_room(has_buffer: bool, len: *const i32) -> Result<Option<usize>, i32> {
    if !has_buffer {
        return Ok(None);
    }
    if len.is_null() {
        return Err(WSAEFAULT);
    }
    // SAFETY:
    // 1. Non-null: the program's length, readable (this function's contract).
    let room = usize::try_from(unsafe { len.read() }).map_err(|_| WSAEFAULT)?;
    if room < 2 {
        return Err(WSAEFAULT);
    }
    Ok(Some(room))
}

/// Starts an overlapped send (WSPSend, WSPSendTo): a send that would block re-enables
/// FD_WRITE, as Winsock does. Ok(Some(count)) when it finished at once and the program asked
/// for the count (`sent` not null), Ok(None) when it did not ask; Err(WSA_IO_PENDING) when it
/// pends; another Err when it failed.
///
/// # Safety
///
/// As [`overlapped::start`]: `ov` is writable and, with the transfer's buffer, stays valid
/// until the request completes.
unsafe fn start_send(
    s: SOCKET,
    ov: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    transfer: Transfer,
    sent: *mut u32,
) -> Result<Option<u32>, i32> {
    // SAFETY:
    // 1. This function's contract is `start`'s.
    let r = unsafe { overlapped::start(handle(s), ov, routine, transfer) };
    if r == Err(WSAEWOULDBLOCK) {
        reenable(s, FD_WRITE);
    }
    r?;
    if sent.is_null() {
        return Ok(None);
    }
    // SAFETY:
    // 1. Finished at once, and the program asked for the count.
    Ok(Some(unsafe { overlapped::transferred(ov) }))
}

/// A re-enabling call was made on `s`; the watcher is told only if that changes what it
/// waits for.
fn reenable(s: SOCKET, event: i32) {
    let changed = table::with(s, |sock| {
        sock.events.as_mut().is_some_and(|e| e.reenable(event))
    });
    if changed == Ok(true) {
        watcher::wake();
    }
}

/// A blocking or non-blocking send of the buffers in order, as one request (one message on
/// a message socket): SEND, or SENDTO with `to` (its whole input, destination included).
/// The program's buffers, in order, as one (allocated fallibly).
fn gather(bufs: &[(*mut u8, u32)]) -> Res<Vec<u8>> {
    let mut gathered = Vec::new();
    for &(p, len) in bufs {
        // SAFETY:
        // 1. Each WSABUF the program passed is readable for its length.
        let b = unsafe { bytes(p.cast_const(), i32::try_from(len).map_err(|_| WSAEFAULT)?) }?;
        gathered.try_reserve(b.len()).map_err(|_| WSAENOBUFS)?;
        gathered.extend_from_slice(b);
    }
    Ok(gathered)
}

fn send(s: SOCKET, bufs: &[(*mut u8, u32)], to: Option<&[u8]>) -> Res<u32> {
    let timeout = table::with(s, |sock| sock.send_timeout)?;
    let gathered = gather(bufs)?;
    let deadline = table::deadline(timeout);
    let sent = match to {
        None => afunix::sys::write(super::borrowed(&s), &gathered, deadline),
        Some(input) => request(s, IOCTL_AFUNIX_SENDTO, input, Data::In(&gathered), deadline),
    };
    match sent {
        Ok(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        Err(Errno::EAGAIN) => {
            reenable(s, FD_WRITE);
            Err(would_block(s, timeout))
        }
        Err(e) => Err(wsa(e)),
    }
}

/// The WSA code for a blocking call that came back empty: WSAETIMEDOUT when a timeout
/// ended it, WSAEWOULDBLOCK on a non-blocking socket.
fn would_block(s: SOCKET, timeout: Option<Duration>) -> i32 {
    if timeout.is_some() && !nonblocking(s) {
        WSAETIMEDOUT
    } else {
        WSAEWOULDBLOCK
    }
}

fn nonblocking(s: SOCKET) -> bool {
    table::with(s, |sock| sock.nonblocking).unwrap_or(false)
}

unsafe extern "system" fn wsp_recv(
    s: SOCKET,
    buffers: *const WSABUF,
    count: u32,
    received: *mut u32,
    flags: *mut u32,
    ov: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    _thread: *const WSATHREADID,
    lperrno: *const i32,
) -> i32 {
    let r = (|| {
        if flags.is_null() {
            return Err(WSAEFAULT);
        }
        let message = sock_type(s)?.is_message();
        // SAFETY:
        // 1. Non-null: the program's flags, readable and writable.
        let asked = unsafe { flags.read() };
        let linux = if message {
            message_recv_flags(asked)?
        } else {
            recv_flags(asked)?
        };
        // SAFETY:
        // 1. ws2_32 passes the program's WSABUF array of `count` entries.
        let bufs = unsafe { wsabufs(buffers, count) }?;
        let n = if ov.is_null() && message {
            let m = recv_message(s, &bufs, linux)?;
            // SAFETY:
            // 1. As above: writable. Never MSG_PARTIAL (`message_received`).
            unsafe { flags.write(0) };
            message_received(m.copied, m.from.truncated())?
        } else if ov.is_null() {
            recv(s, &bufs, linux)?
        } else {
            known(s)?;
            let (buf, len) = single(&bufs)?.unwrap_or((ptr::null_mut(), 0));
            let transfer = Transfer::Recv {
                buf,
                len,
                flags: linux,
            };
            reenable(s, FD_READ);
            // SAFETY:
            // 1. The program's OVERLAPPED and buffer stay valid until completion, as
            //    WSARecv requires of it.
            unsafe { overlapped::start(handle(s), ov, routine, transfer) }?;
            if received.is_null() {
                // SAFETY:
                // 1. As above: writable.
                unsafe { flags.write(0) };
                return Ok(());
            }
            // SAFETY:
            // 1. Finished at once, and the program asked for the count.
            unsafe { overlapped::transferred(ov) }
        };
        write_u32(received, n);
        // SAFETY:
        // 1. As above: writable.
        unsafe { flags.write(0) };
        Ok(())
    })();
    status(lperrno, r)
}

/// A blocking or non-blocking receive into the buffers in order.
fn recv(s: SOCKET, bufs: &[(*mut u8, u32)], flags: u32) -> Res<u32> {
    let timeout = table::with(s, |sock| sock.recv_timeout)?;
    let total = bufs
        .iter()
        .try_fold(0usize, |acc, (_, len)| acc.checked_add(*len as usize))
        .ok_or(WSAEFAULT)?;
    // One buffer is received into directly; several through one request into a copy.
    let mut bounce = Vec::new();
    let direct = match bufs {
        [(p, len)] if !p.is_null() => Some((*p, *len as usize)),
        _ => None,
    };
    let target: &mut [u8] = match direct {
        // SAFETY:
        // 1. The program's only WSABUF, writable for its length for the call.
        Some((p, len)) => unsafe { std::slice::from_raw_parts_mut(p, len) },
        None => {
            bounce.try_reserve_exact(total).map_err(|_| WSAENOBUFS)?;
            bounce.resize(total, 0);
            &mut bounce
        }
    };
    let deadline = table::deadline(timeout);
    let got = if flags == 0 {
        afunix::sys::read(super::borrowed(&s), target, deadline)
    } else {
        request(
            s,
            IOCTL_AFUNIX_RECV,
            encode::data(flags).as_bytes(),
            Data::Out(target),
            deadline,
        )
    };
    reenable(s, FD_READ);
    let n = match got {
        Ok(n) => n,
        Err(Errno::EAGAIN) => return Err(would_block(s, timeout)),
        Err(e) => return Err(wsa(e)),
    };
    if direct.is_none() {
        scatter(bufs, bounce.get(..n).unwrap_or(&[]));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Copies `bytes` into the program's buffers in order (as many as they hold).
fn scatter(bufs: &[(*mut u8, u32)], bytes: &[u8]) {
    let mut rest = bytes;
    for &(p, len) in bufs {
        let take = rest.len().min(len as usize);
        let (chunk, tail) = rest.split_at(take);
        if take > 0 {
            // SAFETY:
            // 1. The program's buffer is writable for `len` >= `take` bytes.
            unsafe { ptr::copy_nonoverlapping(chunk.as_ptr(), p, take) };
        }
        rest = tail;
    }
}

/// One message received by [`recv_message`].
struct Message {
    /// The bytes copied into the program's buffers.
    copied: usize,
    /// The sender's address, and whether the message was cut short (`msg_flags`).
    from: AddressOut,
}

/// A blocking or non-blocking receive of one message (datagram or seqpacket record) into
/// the buffers in order, through RECVFROM, whose reply says whether the message was longer
/// than the buffers and who sent it. The request's output is the address followed by the
/// data, so the bytes pass through one buffer of ours.
fn recv_message(s: SOCKET, bufs: &[(*mut u8, u32)], flags: u32) -> Res<Message> {
    let timeout = table::with(s, |sock| sock.recv_timeout)?;
    let total = bufs
        .iter()
        .try_fold(0usize, |acc, (_, len)| acc.checked_add(*len as usize))
        .ok_or(WSAEFAULT)?;
    let size = total.checked_add(RECVFROM_HEADER).ok_or(WSAEFAULT)?;
    let mut out = Vec::new();
    out.try_reserve_exact(size).map_err(|_| WSAENOBUFS)?;
    out.resize(size, 0);
    let got = request(
        s,
        IOCTL_AFUNIX_RECVFROM,
        encode::data(flags).as_bytes(),
        Data::Out(&mut out),
        table::deadline(timeout),
    );
    reenable(s, FD_READ);
    let n = match got {
        Ok(n) => n,
        Err(Errno::EAGAIN) => return Err(would_block(s, timeout)),
        Err(e) => return Err(wsa(e)),
    };
    let (header, data) = out.split_at_checked(RECVFROM_HEADER).ok_or(WSAEFAULT)?;
    let from = AddressOut::read_from_bytes(header).map_err(|_| WSAEINVAL)?;
    let copied = n.saturating_sub(RECVFROM_HEADER).min(total);
    scatter(bufs, data.get(..copied).unwrap_or(&[]));
    Ok(Message { copied, from })
}

unsafe extern "system" fn wsp_send_to(
    s: SOCKET,
    buffers: *const WSABUF,
    count: u32,
    sent: *mut u32,
    flags: u32,
    to: *const SOCKADDR,
    tolen: i32,
    ov: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    thread: *const WSATHREADID,
    lperrno: *mut i32,
) -> i32 {
    // Only a datagram socket sends to an address: a connection-oriented socket (stream,
    // seqpacket) ignores it, as Winsock documents for WSASendTo; no address at all is a
    // plain send to the connected peer.
    if sock_type(s) != Ok(SockType::Dgram) || to.is_null() || tolen == 0 {
        // SAFETY:
        // 1. The same arguments, with the same contract.
        return unsafe { wsp_send(s, buffers, count, sent, flags, ov, routine, thread, lperrno) };
    }
    let r = (|| {
        check_send_flags(flags)?;
        // SAFETY:
        // 1. ws2_32 passes the program's sockaddr, readable for `tolen` bytes.
        let addr = unsafe { bytes(to.cast(), tolen) }?;
        // SAFETY:
        // 1. ws2_32 passes the program's WSABUF array of `count` entries.
        let bufs = unsafe { wsabufs(buffers, count) }?;
        let n = if ov.is_null() {
            send(s, &bufs, Some(&send_to_input(0, addr)?))?
        } else {
            let (data, len) = single(&bufs)?.unwrap_or((ptr::null_mut(), 0));
            let transfer = Transfer::SendTo {
                data: data.cast_const(),
                len,
                input: send_to_input(MSG_AFUNIX_OVERLAPPED, addr)?,
            };
            // SAFETY:
            // 1. The program's OVERLAPPED and buffer stay valid until completion, as
            //    WSASendTo requires of it.
            match unsafe { start_send(s, ov, routine, transfer, sent) }? {
                Some(n) => n,
                None => return Ok(()),
            }
        };
        write_u32(sent, n);
        Ok(())
    })();
    status(lperrno, r)
}

unsafe extern "system" fn wsp_recv_from(
    s: SOCKET,
    buffers: *const WSABUF,
    count: u32,
    received: *mut u32,
    flags: *mut u32,
    from: *mut SOCKADDR,
    fromlen: *mut i32,
    ov: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    thread: *const WSATHREADID,
    lperrno: *mut i32,
) -> i32 {
    if sock_type(s).is_ok_and(SockType::is_message) {
        // SAFETY:
        // 1. The same arguments, with the same contract.
        let r = unsafe {
            recv_from_message(
                s, buffers, count, received, flags, from, fromlen, ov, routine, thread,
            )
        };
        return status(lperrno, r);
    }
    // SAFETY:
    // 1. The same arguments, with the same contract.
    let r = unsafe {
        wsp_recv(
            s, buffers, count, received, flags, ov, routine, thread, lperrno,
        )
    };
    if r == 0 && !from.is_null() {
        // The sender of a stream's bytes is its peer.
        // SAFETY:
        // 1. The program's address buffer and length, as for getpeername.
        let _ = address_reply(s, IOCTL_AFUNIX_GETPEERNAME)
            .and_then(|a| unsafe { copy_out(from.cast(), fromlen, a.sockaddr()) });
    }
    r
}

/// WSPRecvFrom on a datagram or seqpacket socket: one message, the sender's address (a
/// datagram's own, or none for an unnamed sender; a seqpacket record's is its peer's), and
/// WSAEMSGSIZE when the message was longer than the buffers (they hold its first part, and
/// the address is written all the same).
///
/// An overlapped WSPRecvFrom that asks for the address on a datagram socket is refused
/// (WSAEOPNOTSUPP): the driver completes a request into the program's buffer, and the
/// address would come first in it. Without an address it is an overlapped WSPRecv; on a
/// seqpacket socket the address is the peer's, written as for a stream.
///
/// # Safety
///
/// The SPI's contract for WSPRecvFrom.
#[allow(clippy::too_many_arguments)]
unsafe fn recv_from_message(
    s: SOCKET,
    buffers: *const WSABUF,
    count: u32,
    received: *mut u32,
    flags: *mut u32,
    from: *mut SOCKADDR,
    fromlen: *mut i32,
    ov: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    thread: *const WSATHREADID,
) -> Res<()> {
    if !ov.is_null() {
        if !from.is_null() && sock_type(s)? == SockType::Dgram {
            return Err(WSAEOPNOTSUPP);
        }
        let mut errno = 0;
        // SAFETY:
        // 1. The same arguments, with the same contract.
        let r = unsafe {
            wsp_recv(
                s,
                buffers,
                count,
                received,
                flags,
                ov,
                routine,
                thread,
                &raw mut errno,
            )
        };
        if r != 0 {
            return Err(errno);
        }
        if !from.is_null() {
            // A seqpacket record's sender is the peer, as for a stream.
            // SAFETY:
            // 1. The program's address buffer and length, as for getpeername.
            let _ = address_reply(s, IOCTL_AFUNIX_GETPEERNAME)
                .and_then(|a| unsafe { copy_out(from.cast(), fromlen, a.sockaddr()) });
        }
        return Ok(());
    }
    if flags.is_null() {
        return Err(WSAEFAULT);
    }
    // SAFETY:
    // 1. ws2_32 passes the program's length, readable when not null.
    let room = unsafe { address_room(!from.is_null(), fromlen) }?;
    // SAFETY:
    // 1. Non-null: the program's flags, readable.
    let linux = message_recv_flags(unsafe { flags.read() })?;
    // SAFETY:
    // 1. ws2_32 passes the program's WSABUF array of `count` entries.
    let bufs = unsafe { wsabufs(buffers, count) }?;
    let m = recv_message(s, &bufs, linux)?;
    if let Some(room) = room {
        // As accept writes it (Linux's recvfrom): as much of the address as fits, and its
        // whole length; 0 for an unnamed sender.
        let name = m.from.sockaddr();
        let n = room.min(name.len());
        // SAFETY:
        // 1. `from` is writable for `room` >= `n` bytes (the program's buffer).
        unsafe { ptr::copy_nonoverlapping(name.as_ptr(), from.cast::<u8>(), n) };
        // SAFETY:
        // 1. Non-null (checked with `room`) and writable.
        unsafe { fromlen.write(i32::try_from(name.len()).unwrap_or(0)) };
    }
    // SAFETY:
    // 1. Non-null: the program's flags, writable. Never MSG_PARTIAL (`message_received`).
    unsafe { flags.write(0) };
    let n = message_received(m.copied, m.from.truncated())?;
    write_u32(received, n);
    Ok(())
}

/// SD_RECEIVE, SD_SEND and SD_BOTH are Linux's SHUT_RD, SHUT_WR and SHUT_RDWR.
fn shutdown(s: SOCKET, how: i32) -> Res<()> {
    simple(s, IOCTL_AFUNIX_SHUTDOWN, encode::shutdown(how).as_bytes())
}

unsafe extern "system" fn wsp_shutdown(s: SOCKET, how: i32, lperrno: *mut i32) -> i32 {
    status(lperrno, shutdown(s, how))
}

unsafe extern "system" fn wsp_send_disconnect(
    s: SOCKET,
    _data: *const WSABUF,
    lperrno: *mut i32,
) -> i32 {
    status(lperrno, shutdown(s, 1))
}

unsafe extern "system" fn wsp_recv_disconnect(
    s: SOCKET,
    _data: *const WSABUF,
    lperrno: *mut i32,
) -> i32 {
    status(lperrno, shutdown(s, 0))
}

unsafe extern "system" fn wsp_get_overlapped_result(
    s: SOCKET,
    ov: *const OVERLAPPED,
    transferred: *mut u32,
    wait: i32,
    flags: *mut u32,
    lperrno: *mut i32,
) -> i32 {
    let r = (|| {
        known(s)?;
        if ov.is_null() {
            return Err(WSAEFAULT);
        }
        // SAFETY:
        // 1. The program's OVERLAPPED of a request on `s`.
        let (n, code) = unsafe { overlapped::result(handle(s), ov, wait != 0) }?;
        write_u32(transferred, n);
        write_u32(flags, 0);
        if code == 0 { Ok(()) } else { Err(code) }
    })();
    match r {
        Ok(()) => 1,
        Err(code) => {
            set_errno(lperrno, code);
            0
        }
    }
}

// ---- options and controls ------------------------------------------------------------

unsafe extern "system" fn wsp_get_sock_opt(
    s: SOCKET,
    level: i32,
    name: i32,
    optval: *mut u8,
    optlen: *mut i32,
    lperrno: *mut i32,
) -> i32 {
    let r = get_sock_opt(s, level, name).and_then(|value| {
        // SAFETY:
        // 1. The program's option buffer and length (checked for null by copy_out).
        unsafe { copy_out(optval, optlen, &value) }
    });
    status(lperrno, r)
}

fn get_sock_opt(s: SOCKET, level: i32, name: i32) -> Res<Vec<u8>> {
    let opt = sockopt(level, name).ok_or(WSAENOPROTOOPT)?;
    let ms = |t: Option<Duration>| {
        u32::try_from(t.map_or(0, |d| d.as_millis()))
            .unwrap_or(u32::MAX)
            .to_ne_bytes()
            .to_vec()
    };
    Ok(match opt {
        SockOpt::Driver(level, name) => {
            let value = int_request(
                s,
                IOCTL_AFUNIX_GETSOCKOPT,
                encode::sockopt(level, name, 0).as_bytes(),
            )?;
            let value = if name == LINUX_SO_ERROR {
                // SO_ERROR: Winsock reports WSA codes.
                u16::try_from(value)
                    .ok()
                    .and_then(Errno::from_number)
                    .map_or(value, wsa)
            } else {
                value
            };
            value.to_ne_bytes().to_vec()
        }
        SockOpt::SendTimeout => ms(table::with(s, |sock| sock.send_timeout)?),
        SockOpt::ReceiveTimeout => ms(table::with(s, |sock| sock.recv_timeout)?),
        SockOpt::Linger => {
            let (onoff, seconds) = driver_linger(s)?;
            winsock_linger(onoff, seconds).to_vec()
        }
        SockOpt::DontLinger => {
            let (onoff, _) = driver_linger(s)?;
            i32::from(onoff == 0).to_ne_bytes().to_vec()
        }
        SockOpt::MaxMessageSize => {
            if !sock_type(s)?.is_message() {
                return Err(WSAENOPROTOOPT);
            }
            let sndbuf = int_request(
                s,
                IOCTL_AFUNIX_GETSOCKOPT,
                encode::sockopt(LINUX_SOL_SOCKET, LINUX_SO_SNDBUF, 0).as_bytes(),
            )?;
            // Linux's limit (unix_dgram_sendmsg): SO_SNDBUF - 32.
            let max = u32::try_from(sndbuf).unwrap_or(0).saturating_sub(32);
            max.to_ne_bytes().to_vec()
        }
        SockOpt::ProtocolInfo => {
            let (ty, entry) = table::with(s, |sock| (sock.ty, sock.entry))?;
            let info = protocol_info(ty, entry).ok_or(WSAEINVAL)?;
            // SAFETY:
            // 1. WSAPROTOCOL_INFOW is plain data: viewing it as bytes reads initialised
            //    memory of exactly its size.
            let raw = unsafe {
                std::slice::from_raw_parts(
                    ptr::from_ref(&info).cast::<u8>(),
                    size_of::<WSAPROTOCOL_INFOW>(),
                )
            };
            raw.to_vec()
        }
    })
}

/// The driver's `(l_onoff, l_linger)`: two GETSOCKOPTs (`afunix_proto::sockopt`).
fn driver_linger(s: SOCKET) -> Res<(i32, i32)> {
    let get = |name| {
        int_request(
            s,
            IOCTL_AFUNIX_GETSOCKOPT,
            encode::sockopt(LINUX_SOL_SOCKET, name, 0).as_bytes(),
        )
    };
    Ok((get(LINUX_SO_LINGER)?, get(LINUX_SO_LINGER_SECONDS)?))
}

/// SETSOCKOPT of the driver's `struct linger`.
fn set_driver_linger(s: SOCKET, onoff: i32, seconds: i32) -> Res<()> {
    let value = afunix_proto::decode::OptValue::linger(onoff, seconds);
    simple(
        s,
        IOCTL_AFUNIX_SETSOCKOPT,
        encode::sockopt_value(LINUX_SOL_SOCKET, LINUX_SO_LINGER, value).as_bytes(),
    )
}

unsafe extern "system" fn wsp_set_sock_opt(
    s: SOCKET,
    level: i32,
    name: i32,
    optval: *const u8,
    optlen: i32,
    lperrno: *mut i32,
) -> i32 {
    // SAFETY:
    // 1. The program's option value, readable for `optlen` bytes.
    let r = unsafe { bytes(optval, optlen) }.and_then(|value| set_sock_opt(s, level, name, value));
    status(lperrno, r)
}

fn set_sock_opt(s: SOCKET, level: i32, name: i32, value: &[u8]) -> Res<()> {
    let opt = sockopt(level, name).ok_or(WSAENOPROTOOPT)?;
    let int = || -> Res<i32> {
        let bytes: [u8; 4] = value
            .get(..4)
            .ok_or(WSAEFAULT)?
            .try_into()
            .map_err(|_| WSAEFAULT)?;
        Ok(i32::from_ne_bytes(bytes))
    };
    let timeout = || -> Res<Option<Duration>> {
        let ms = timeout_ms(value).ok_or(WSAEFAULT)?;
        Ok((ms != 0).then(|| Duration::from_millis(u64::from(ms))))
    };
    match opt {
        SockOpt::Driver(level, name) => simple(
            s,
            IOCTL_AFUNIX_SETSOCKOPT,
            encode::sockopt(level, name, int()?).as_bytes(),
        ),
        SockOpt::SendTimeout => {
            let t = timeout()?;
            table::with(s, |sock| sock.send_timeout = t)
        }
        SockOpt::ReceiveTimeout => {
            let t = timeout()?;
            table::with(s, |sock| sock.recv_timeout = t)
        }
        SockOpt::Linger => {
            let (onoff, seconds) = linux_linger(value)?;
            set_driver_linger(s, onoff, seconds)
        }
        SockOpt::DontLinger => {
            if int()? != 0 {
                // Winsock's SO_DONTLINGER: l_onoff = 0 (the time is kept).
                set_driver_linger(s, 0, 0)
            } else {
                // Lingering again, for the time already set.
                let (_, seconds) = driver_linger(s)?;
                set_driver_linger(s, 1, seconds)
            }
        }
        SockOpt::ProtocolInfo | SockOpt::MaxMessageSize => Err(WSAENOPROTOOPT),
    }
}

unsafe extern "system" fn wsp_ioctl(
    s: SOCKET,
    code: u32,
    in_buffer: *const c_void,
    in_len: u32,
    out_buffer: *mut c_void,
    out_len: u32,
    returned: *mut u32,
    ov: *mut OVERLAPPED,
    routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    _thread: *const WSATHREADID,
    lperrno: *mut i32,
) -> i32 {
    let r = (|| {
        if !ov.is_null() && routine.is_some() {
            // These controls all finish at once; a completion routine would have to be
            // queued as an APC for nothing.
            return Err(WSAEOPNOTSUPP);
        }
        // A copy of the input: a program may pass one buffer as both (WSAPoll does), and the
        // output is written while the input is read.
        // SAFETY:
        // 1. The program's input buffer, readable for `in_len` bytes.
        let input = unsafe {
            bytes(
                in_buffer.cast(),
                i32::try_from(in_len).map_err(|_| WSAEFAULT)?,
            )
        }?
        .to_vec();
        let output = if out_buffer.is_null() || out_len == 0 {
            &mut [][..]
        } else {
            // SAFETY:
            // 1. The program's output buffer, writable for `out_len` bytes; the input was
            //    copied above, so nothing else of ours refers to it.
            unsafe { std::slice::from_raw_parts_mut(out_buffer.cast::<u8>(), out_len as usize) }
        };
        let n = ioctl(s, code, &input, output)?;
        write_u32(returned, n);
        if !ov.is_null() {
            // Finished at once: the OVERLAPPED says so, as for a request that completed.
            // SAFETY:
            // 1. The program's OVERLAPPED, writable.
            unsafe { (*ov).Internal = 0 };
            // SAFETY:
            // 1. As above.
            unsafe { (*ov).InternalHigh = n as usize };
            // SAFETY:
            // 1. As above; the event is the program's (its low bit only keeps completions
            //    off a port, and no packet is posted for these controls).
            let event = unsafe { (*ov).hEvent } as usize & !1;
            if event != 0 {
                set_event(event);
            }
        }
        Ok(())
    })();
    status(lperrno, r)
}

fn out_u32(output: &mut [u8], value: u32) -> Res<u32> {
    let slot = output.get_mut(..4).ok_or(WSAEFAULT)?;
    slot.copy_from_slice(&value.to_ne_bytes());
    Ok(4)
}

fn ioctl(s: SOCKET, code: u32, input: &[u8], output: &mut [u8]) -> Res<u32> {
    match code {
        FIONBIO => {
            let bytes: [u8; 4] = input
                .get(..4)
                .ok_or(WSAEFAULT)?
                .try_into()
                .map_err(|_| WSAEFAULT)?;
            let on = u32::from_ne_bytes(bytes) != 0;
            set_nonblocking(s, on)?;
            Ok(0)
        }
        FIONREAD => {
            let n = int_request(s, IOCTL_AFUNIX_FIONREAD, encode::empty().as_bytes())?;
            out_u32(output, u32::try_from(n).unwrap_or(0))
        }
        SIO_AF_UNIX_GETPEERPID => {
            let cred = peer_cred(s)?;
            // The count is the four bytes written (Microsoft's provider reports 0).
            out_u32(output, cred.pid)
        }
        SIO_AFUNIX_PEERCRED => {
            let cred = peer_cred(s)?;
            let bytes = cred.as_bytes();
            let slot = output.get_mut(..bytes.len()).ok_or(WSAEFAULT)?;
            slot.copy_from_slice(bytes);
            Ok(u32::try_from(bytes.len()).unwrap_or(0))
        }
        SIO_BSP_HANDLE | SIO_BSP_HANDLE_SELECT | SIO_BSP_HANDLE_POLL | SIO_BASE_HANDLE => {
            // We are the base provider: the socket is its own base handle.
            known(s)?;
            let slot = output.get_mut(..size_of::<SOCKET>()).ok_or(WSAEFAULT)?;
            slot.copy_from_slice(&s.to_ne_bytes());
            Ok(u32::try_from(size_of::<SOCKET>()).unwrap_or(0))
        }
        SIO_EXT_POLL => ext_poll(input, output),
        ws::SIO_GET_EXTENSION_FUNCTION_POINTER => {
            known(s)?;
            extension(input, output)
        }
        _ => Err(WSAEOPNOTSUPP),
    }
}

// ---- extension functions: WSASendMsg and WSARecvMsg ------------------------------------

/// SIO_GET_EXTENSION_FUNCTION_POINTER: our `WSASendMsg` and `WSARecvMsg`, which pass
/// handles (SCM_RIGHTS control messages, `afunix_proto::cmsg`). Any other extension:
/// WSAEOPNOTSUPP.
fn extension(input: &[u8], output: &mut [u8]) -> Res<u32> {
    let guid = input.get(..16).ok_or(WSAEFAULT)?;
    let is = |g: &windows_sys::core::GUID| {
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(&g.data1.to_ne_bytes());
        bytes.extend_from_slice(&g.data2.to_ne_bytes());
        bytes.extend_from_slice(&g.data3.to_ne_bytes());
        bytes.extend_from_slice(&g.data4);
        bytes == guid
    };
    let f: usize = if is(&ws::WSAID_WSASENDMSG) {
        wsa_send_msg as *const () as usize
    } else if is(&ws::WSAID_WSARECVMSG) {
        wsa_recv_msg as *const () as usize
    } else {
        return Err(WSAEOPNOTSUPP);
    };
    let slot = output.get_mut(..size_of::<usize>()).ok_or(WSAEFAULT)?;
    slot.copy_from_slice(&f.to_ne_bytes());
    Ok(u32::try_from(size_of::<usize>()).unwrap_or(0))
}

/// An extension function's return: 0, or SOCKET_ERROR with the code set as the thread's
/// last error (`WSASetLastError` is `SetLastError`), as a program calling it directly reads
/// it with `WSAGetLastError`.
fn extension_status(r: Res<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(code) => {
            // SAFETY:
            // 1. Sets this thread's last error; no pointers.
            unsafe { windows_sys::Win32::Foundation::SetLastError(code as u32) };
            SOCKET_ERROR
        }
    }
}

/// `WSASendMsg`: the buffers as one message (one write of a stream) passing the handles of
/// the SCM_RIGHTS control messages (the caller's own handles: the receiver gets handles of
/// its own with the same access), to `name` on a datagram socket or to the peer. Blocking
/// and non-blocking; an overlapped call is WSAEOPNOTSUPP for now.
unsafe extern "system" fn wsa_send_msg(
    s: SOCKET,
    msg: *const ws::WSAMSG,
    flags: u32,
    sent: *mut u32,
    ov: *mut OVERLAPPED,
    _routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32 {
    let r = (|| {
        if !ov.is_null() {
            return Err(WSAEOPNOTSUPP);
        }
        if msg.is_null() {
            return Err(WSAEFAULT);
        }
        // SAFETY:
        // 1. Non-null: the program's WSAMSG, readable.
        let m = unsafe { msg.read() };
        check_send_flags(flags)?;
        // SAFETY:
        // 1. The program's WSABUF array of `dwBufferCount` entries.
        let bufs = unsafe { wsabufs(m.lpBuffers, m.dwBufferCount) }?;
        // SAFETY:
        // 1. The program's control buffer, readable for its length.
        let control = unsafe {
            bytes(
                m.Control.buf.cast_const(),
                i32::try_from(m.Control.len).map_err(|_| WSAEFAULT)?,
            )
        }?;
        let mut handles = Vec::new();
        for c in afunix_proto::cmsg::parse(control) {
            let c = c.map_err(|_| WSAEINVAL)?;
            if (c.level, c.ty)
                != (
                    afunix_proto::cmsg::SOL_SOCKET_WINSOCK,
                    afunix_proto::cmsg::SCM_RIGHTS,
                )
            {
                return Err(WSAEINVAL);
            }
            handles.extend(afunix_proto::cmsg::handles(c.data));
        }
        let name = if !m.name.is_null() && m.namelen > 0 && sock_type(s)? == SockType::Dgram {
            // SAFETY:
            // 1. The program's sockaddr, readable for `namelen` bytes.
            Some(unsafe { bytes(m.name.cast_const().cast(), m.namelen) }?)
        } else {
            None
        };
        let path = match name {
            Some(addr) if addr.len() <= SOCKADDR_UN_LEN => nt_path_of(addr)?,
            _ => Vec::new(),
        };
        let input = encode::send_msg(0, &handles, name.map(|a| (a, path.as_slice())))
            .map_err(|_| WSAEINVAL)?;
        let timeout = table::with(s, |sock| sock.send_timeout)?;
        let gathered = gather(&bufs)?;
        let n = match request(
            s,
            IOCTL_AFUNIX_SENDMSG,
            &input,
            Data::In(&gathered),
            table::deadline(timeout),
        ) {
            Ok(n) => n,
            Err(Errno::EAGAIN) => {
                reenable(s, FD_WRITE);
                return Err(would_block(s, timeout));
            }
            Err(e) => return Err(wsa(e)),
        };
        write_u32(sent, u32::try_from(n).unwrap_or(u32::MAX));
        Ok(())
    })();
    extension_status(r)
}

/// `WSARecvMsg`: one message (or a stream's bytes) into the buffers, the handles passed with
/// it as an SCM_RIGHTS control message (new handles of this process; those that do not fit
/// the control buffer are closed and `dwFlags` gets MSG_CTRUNC), and the sender's name. A
/// message longer than the buffers: MSG_TRUNC in `dwFlags`, and WSAEMSGSIZE as WSPRecvFrom
/// gives it, with everything else written. Blocking and non-blocking; an overlapped call is
/// WSAEOPNOTSUPP for now.
unsafe extern "system" fn wsa_recv_msg(
    s: SOCKET,
    msg: *mut ws::WSAMSG,
    received: *mut u32,
    ov: *mut OVERLAPPED,
    _routine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
) -> i32 {
    let r = (|| {
        if !ov.is_null() {
            return Err(WSAEOPNOTSUPP);
        }
        if msg.is_null() {
            return Err(WSAEFAULT);
        }
        // SAFETY:
        // 1. Non-null: the program's WSAMSG, readable and writable.
        let mut m = unsafe { msg.read() };
        let message = sock_type(s)?.is_message();
        let flags = if message {
            message_recv_flags(m.dwFlags)?
        } else {
            recv_flags(m.dwFlags)?
        };
        // SAFETY:
        // 1. The program's WSABUF array of `dwBufferCount` entries.
        let bufs = unsafe { wsabufs(m.lpBuffers, m.dwBufferCount) }?;
        let total = bufs
            .iter()
            .try_fold(0usize, |acc, (_, len)| acc.checked_add(*len as usize))
            .ok_or(WSAEFAULT)?;
        // No control buffer (a null pointer, whatever its length) has no room.
        let control_len = if m.Control.buf.is_null() {
            0
        } else {
            m.Control.len as usize
        };
        let room = afunix_proto::cmsg::rights_room(control_len).min(afunix_proto::wire::SCM_MAX_FD);
        let head = afunix_proto::wire::recvmsg_header_len(room);
        let size = total.checked_add(head).ok_or(WSAEFAULT)?;
        let mut out = Vec::new();
        out.try_reserve_exact(size).map_err(|_| WSAENOBUFS)?;
        out.resize(size, 0);
        let timeout = table::with(s, |sock| sock.recv_timeout)?;
        let input = encode::recv_msg(flags, u32::try_from(room).unwrap_or(0));
        let got = request(
            s,
            IOCTL_AFUNIX_RECVMSG,
            input.as_bytes(),
            Data::Out(&mut out),
            table::deadline(timeout),
        );
        reenable(s, FD_READ);
        let n = match got {
            Ok(n) => n,
            Err(Errno::EAGAIN) => return Err(would_block(s, timeout)),
            Err(e) => return Err(wsa(e)),
        };
        let (header, data) = out.split_at(head.min(out.len()));
        let Ok((reply, _)) = afunix_proto::wire::RecvMsgOut::read_from_prefix(header) else {
            return Err(WSAEINVAL);
        };
        let handles: Vec<u64> = header
            .get(size_of::<afunix_proto::wire::RecvMsgOut>()..)
            .unwrap_or_default()
            .chunks_exact(8)
            .take(reply.count as usize)
            .filter_map(|c| c.try_into().ok().map(u64::from_ne_bytes))
            .collect();
        let copied = n.saturating_sub(head).min(total);
        scatter(&bufs, data.get(..copied).unwrap_or(&[]));
        // The handles are ours now: into the control buffer (room was asked for exactly).
        let mut used = 0usize;
        let mut lost = false;
        if !handles.is_empty() {
            // SAFETY:
            // 1. The program's control buffer (non-null: it had room), writable for its
            //    length; nothing else of ours refers to it.
            let control = unsafe { std::slice::from_raw_parts_mut(m.Control.buf, control_len) };
            match afunix_proto::cmsg::write_rights(control, &handles) {
                Some(n) => used = n,
                None => {
                    // Not reportable: the handles, ours now, are closed.
                    for h in &handles {
                        // SAFETY:
                        // 1. A handle the driver just made in this process for this
                        //    receive, which nothing else knows of; closed once.
                        unsafe { CloseHandle(*h as HANDLE) };
                    }
                    lost = true;
                }
            }
        }
        m.Control.len = u32::try_from(used).unwrap_or(0);
        let truncated = reply.addr.msg_flags & afunix_proto::wire::MSG_TRUNC != 0;
        let mut out_flags = 0;
        if truncated {
            out_flags |= ws::MSG_TRUNC;
        }
        if reply.addr.msg_flags & afunix_proto::wire::MSG_CTRUNC != 0 || lost {
            out_flags |= ws::MSG_CTRUNC;
        }
        m.dwFlags = out_flags;
        if !m.name.is_null() {
            let from = if message {
                reply.addr.sockaddr().to_vec()
            } else {
                address_reply(s, IOCTL_AFUNIX_GETPEERNAME)
                    .map(|a| a.sockaddr().to_vec())
                    .unwrap_or_default()
            };
            // SAFETY:
            // 1. The program's name buffer, `namelen` bytes.
            if unsafe { copy_out(m.name.cast(), &mut m.namelen, &from) }.is_err() {
                m.namelen = 0;
            }
        }
        // SAFETY:
        // 1. The program's WSAMSG, writable: its lengths and flags as WSARecvMsg reports.
        unsafe { msg.write(m) };
        write_u32(received, u32::try_from(copied).unwrap_or(u32::MAX));
        if message && truncated {
            return Err(WSAEMSGSIZE);
        }
        Ok(())
    })();
    extension_status(r)
}

fn set_nonblocking(s: SOCKET, on: bool) -> Res<()> {
    let selected = table::with(s, |sock| sock.events.is_some())?;
    if selected && !on {
        // Winsock: a socket with WSAEventSelect stays non-blocking.
        return Err(WSAEINVAL);
    }
    simple(s, IOCTL_AFUNIX_FIONBIO, encode::fionbio(on).as_bytes())?;
    table::with(s, |sock| sock.nonblocking = on)
}

fn peer_cred(s: SOCKET) -> Res<PeerCredOut> {
    known(s)?;
    let mut out = [0u8; size_of::<PeerCredOut>()];
    request(
        s,
        IOCTL_AFUNIX_PEERCRED,
        encode::empty().as_bytes(),
        Data::Out(&mut out),
        None,
    )
    .map_err(wsa)?;
    PeerCredOut::read_from_bytes(&out).map_err(|_| WSAEINVAL)
}

// ---- readiness -----------------------------------------------------------------------

/// One POLL over `entries` (socket, Linux events), waiting `timeout` (None: for ever),
/// issued on the first socket's handle. The revents, in order.
fn poll(entries: &[(u64, u32)], timeout: Option<Duration>) -> Res<Vec<u32>> {
    let first = entries.first().ok_or(WSAEINVAL)?.0;
    let timeout_ms = timeout.map_or(-1, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
    let input = encode::poll(entries, timeout_ms).map_err(|_| WSAEINVAL)?;
    let mut out = vec![0u8; input.len()];
    // The driver has no timer for POLL: it is cancelled at the deadline here.
    let deadline = timeout.filter(|t| !t.is_zero()).map(|t| Instant::now() + t);
    let first = first as SOCKET;
    match afunix::sys::ioctl(
        super::borrowed(&first),
        IOCTL_AFUNIX_POLL,
        &input,
        Data::Out(&mut out),
        deadline,
    ) {
        Ok(_) => Ok(revents(&out).collect()),
        Err(Errno::EAGAIN) if deadline.is_some() => Ok(vec![0; entries.len()]),
        Err(e) => Err(wsa(e)),
    }
}

unsafe extern "system" fn wsp_select(
    _nfds: i32,
    readfds: *mut FD_SET,
    writefds: *mut FD_SET,
    exceptfds: *mut FD_SET,
    timeout: *const TIMEVAL,
    lperrno: *mut i32,
) -> i32 {
    let timeout = if timeout.is_null() {
        None
    } else {
        // SAFETY:
        // 1. Non-null: the program's TIMEVAL, readable.
        let t = unsafe { timeout.read() };
        let micros = i64::from(t.tv_sec)
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(t.tv_usec));
        Some(Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
    };
    let sets = [readfds, writefds, exceptfds];
    let r = (|| {
        let mut wanted: [Vec<SOCKET>; 3] = Default::default();
        for (list, &set) in wanted.iter_mut().zip(&sets) {
            // SAFETY:
            // 1. Each set is null or the program's fd_set, as select takes it.
            *list = unsafe { fd_members(set) }?;
        }
        let ready = select(&wanted, timeout)?;
        let mut total = 0i32;
        for (list, &set) in ready.iter().zip(&sets) {
            // SAFETY:
            // 1. As above: writable, with room for as many sockets as it held.
            unsafe { fd_rewrite(set, list) };
            total = total.saturating_add(i32::try_from(list.len()).unwrap_or(i32::MAX));
        }
        Ok(total)
    })();
    match r {
        Ok(n) => n,
        Err(code) => {
            set_errno(lperrno, code);
            SOCKET_ERROR
        }
    }
}

/// The most sockets one fd_set may name here (a program chooses its FD_SETSIZE; 64 by
/// default).
const FD_SET_MAX: usize = 4096;

/// The sockets in a program's fd_set: `fd_count`, then that many SOCKETs. The array is as
/// long as the program's FD_SETSIZE made it, which need not be windows-sys' 64.
///
/// # Safety
///
/// `set` is null or an fd_set holding `fd_count` sockets.
unsafe fn fd_members(set: *const FD_SET) -> Res<Vec<SOCKET>> {
    if set.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY:
    // 1. A readable fd_set (this function's contract).
    let count = unsafe { (*set).fd_count } as usize;
    if count > FD_SET_MAX {
        return Err(WSAEINVAL);
    }
    // SAFETY:
    // 1. Only the address of the array, inside the fd_set.
    let array = unsafe { &raw const (*set).fd_array }.cast::<SOCKET>();
    let mut members = Vec::new();
    members.try_reserve_exact(count).map_err(|_| WSAENOBUFS)?;
    for i in 0..count {
        // SAFETY:
        // 1. Element `i` < `fd_count` of the program's array.
        members.push(unsafe { array.wrapping_add(i).read_unaligned() });
    }
    Ok(members)
}

/// Rewrites a program's fd_set to hold `kept` (a subset of what it held).
///
/// # Safety
///
/// `set` is null or a writable fd_set with room for at least `kept.len()` sockets.
unsafe fn fd_rewrite(set: *mut FD_SET, kept: &[SOCKET]) {
    if set.is_null() {
        return;
    }
    // SAFETY:
    // 1. Only the address of the array, inside the fd_set.
    let array = unsafe { &raw mut (*set).fd_array }.cast::<SOCKET>();
    for (i, s) in kept.iter().enumerate() {
        // SAFETY:
        // 1. Element `i` < the count the set held before (this function's contract).
        unsafe { array.wrapping_add(i).write_unaligned(*s) };
    }
    // SAFETY:
    // 1. A writable fd_set.
    unsafe { (*set).fd_count = u32::try_from(kept.len()).unwrap_or(0) };
}

/// `select` over the read, write and except lists: the sockets ready in each.
fn select(wanted: &[Vec<SOCKET>; 3], timeout: Option<Duration>) -> Res<[Vec<SOCKET>; 3]> {
    let mut entries: Vec<(u64, u32)> = Vec::new();
    let interest = [SELECT_READ, SELECT_WRITE, 0];
    for (list, bits) in wanted.iter().zip(interest) {
        for &s in list {
            known(s)?;
            match entries.iter_mut().find(|(h, _)| *h == s as u64) {
                Some(entry) => entry.1 |= bits,
                None => entries.push((s as u64, bits)),
            }
        }
    }
    if entries.is_empty() {
        return Err(WSAEINVAL);
    }
    let revents = poll(&entries, timeout)?;
    let ready = |s: SOCKET, which: usize| -> bool {
        entries
            .iter()
            .zip(&revents)
            .find(|((h, _), _)| *h == s as u64)
            .is_some_and(|(_, &r)| {
                let (read, write, except) = select_ready(r);
                [read, write, except].get(which).copied().unwrap_or(false)
            })
    };
    let mut out: [Vec<SOCKET>; 3] = Default::default();
    for (which, (kept, list)) in out.iter_mut().zip(wanted).enumerate() {
        *kept = list.iter().copied().filter(|&s| ready(s, which)).collect();
    }
    Ok(out)
}

/// `SIO_EXT_POLL`, what ws2_32's WSAPoll asks a provider: a WSAPOLLDATA (result, count,
/// timeout, then WSAPOLLFDs) in, the same with revents and the result out.
fn ext_poll(input: &[u8], output: &mut [u8]) -> Res<u32> {
    const HEADER: usize = 16;
    const FD: usize = 16;
    let field = |b: &[u8], at: usize| -> Res<[u8; 4]> {
        b.get(at..at + 4)
            .and_then(|x| x.try_into().ok())
            .ok_or(WSAEFAULT)
    };
    let count = u32::from_ne_bytes(field(input, 4)?) as usize;
    let timeout = i32::from_ne_bytes(field(input, 8)?);
    let size = count
        .checked_mul(FD)
        .and_then(|n| n.checked_add(HEADER))
        .ok_or(WSAEFAULT)?;
    if input.len() < size || output.len() < size {
        return Err(WSAEFAULT);
    }
    let mut fds = Vec::new();
    for i in 0..count {
        let at = HEADER + i * FD;
        let raw: [u8; 8] = input
            .get(at..at + 8)
            .and_then(|x| x.try_into().ok())
            .ok_or(WSAEFAULT)?;
        let events: [u8; 2] = input
            .get(at + 8..at + 10)
            .and_then(|x| x.try_into().ok())
            .ok_or(WSAEFAULT)?;
        fds.push((usize::from_ne_bytes(raw), i16::from_ne_bytes(events)));
    }
    // Negative sockets are skipped, as WSAPoll documents; others must be ours.
    let entries: Vec<(u64, u32)> = fds
        .iter()
        .filter(|(s, _)| (*s as isize) >= 0)
        .map(|&(s, ev)| (s as u64, poll_events(ev)))
        .collect();
    let results = if entries.is_empty() {
        Vec::new()
    } else {
        let t = u64::try_from(timeout).ok().map(Duration::from_millis);
        poll(&entries, t)?
    };
    output
        .get_mut(..size)
        .ok_or(WSAEFAULT)?
        .copy_from_slice(input.get(..size).ok_or(WSAEFAULT)?);
    let mut results = results.into_iter();
    let mut ready = 0i32;
    for (i, &(s, ev)) in fds.iter().enumerate() {
        let at = HEADER + i * FD + 10;
        let rev = if (s as isize) < 0 {
            0
        } else {
            poll_revents(results.next().unwrap_or(0), ev)
        };
        if rev != 0 {
            ready = ready.saturating_add(1);
        }
        output
            .get_mut(at..at + 2)
            .ok_or(WSAEFAULT)?
            .copy_from_slice(&rev.to_ne_bytes());
    }
    output
        .get_mut(..4)
        .ok_or(WSAEFAULT)?
        .copy_from_slice(&ready.to_ne_bytes());
    Ok(u32::try_from(size).unwrap_or(0))
}

unsafe extern "system" fn wsp_event_select(
    s: SOCKET,
    event: isize,
    network_events: i32,
    lperrno: *mut i32,
) -> i32 {
    status(lperrno, event_select(s, event as usize, network_events))
}

fn event_select(s: SOCKET, event: usize, network_events: i32) -> Res<()> {
    if network_events == 0 {
        table::with(s, |sock| sock.events = None)?;
        watcher::wake();
        return Ok(());
    }
    if event == 0 {
        return Err(WSAEINVAL);
    }
    // WSAEventSelect makes the socket non-blocking.
    set_nonblocking(s, true)?;
    watcher::ensure_running()?;
    table::with(s, |sock| match sock.events.as_mut() {
        Some(e) => e.reselect(event, network_events),
        None => sock.events = Some(NetEvents::new(event, network_events)),
    })?;
    watcher::wake();
    Ok(())
}

unsafe extern "system" fn wsp_enum_network_events(
    s: SOCKET,
    event: HANDLE,
    out: *mut WSANETWORKEVENTS,
    lperrno: *mut i32,
) -> i32 {
    let r = (|| {
        if out.is_null() {
            return Err(WSAEFAULT);
        }
        // The event is reset before the record is taken, both under the table lock, which
        // the watcher holds while it records and signals: a signal for an event recorded
        // after this call's take is never reset by it.
        let (events, errors) = table::with(s, |sock| {
            if !event.is_null() {
                // SAFETY:
                // 1. The program's event object, as WSAEnumNetworkEvents documents.
                unsafe { ResetEvent(event) };
            }
            sock.events
                .as_mut()
                .map_or((0, [0; FD_MAX_EVENTS]), NetEvents::take)
        })?;
        // SAFETY:
        // 1. Non-null: the program's WSANETWORKEVENTS, writable.
        unsafe {
            out.write(WSANETWORKEVENTS {
                lNetworkEvents: events,
                iErrorCode: errors,
            });
        }
        Ok(())
    })();
    status(lperrno, r)
}

// ---- duplication ---------------------------------------------------------------------

unsafe extern "system" fn wsp_duplicate_socket(
    s: SOCKET,
    process_id: u32,
    info: *mut WSAPROTOCOL_INFOW,
    lperrno: *mut i32,
) -> i32 {
    let r = (|| {
        let (ty, entry) = table::with(s, |sock| (sock.ty, sock.entry))?;
        if info.is_null() {
            return Err(WSAEFAULT);
        }
        let mut out = protocol_info(ty, entry).ok_or(WSAEINVAL)?;
        // SAFETY:
        // 1. Asks for the right to duplicate handles into the target; null on failure.
        let target = unsafe { OpenProcess(PROCESS_DUP_HANDLE, 0, process_id) };
        if target.is_null() {
            return Err(WSAEINVAL);
        }
        let mut dup: HANDLE = ptr::null_mut();
        // SAFETY:
        // 1. No preconditions: the pseudo-handle of this process, which needs no closing.
        let this = unsafe { GetCurrentProcess() };
        // SAFETY:
        // 1. Duplicates our socket handle into the target process; `dup` receives its value
        //    there.
        let ok = unsafe {
            DuplicateHandle(
                this,
                handle(s),
                target,
                &mut dup,
                0,
                0,
                DUPLICATE_SAME_ACCESS,
            )
        };
        // SAFETY:
        // 1. The process handle opened above, closed once.
        unsafe { CloseHandle(target) };
        if ok == 0 {
            return Err(WSAENOBUFS);
        }
        // Handle values fit 32 bits (Windows keeps them so for 32-bit interop).
        out.dwProviderReserved = u32::try_from(dup as usize).map_err(|_| WSAEINVAL)?;
        // SAFETY:
        // 1. Non-null: the program's WSAPROTOCOL_INFOW, writable.
        unsafe { info.write(out) };
        Ok(())
    })();
    status(lperrno, r)
}

// ---- what AF_UNIX does not have ------------------------------------------------------

unsafe extern "system" fn wsp_async_select(
    _s: SOCKET,
    _hwnd: HWND,
    _msg: u32,
    _events: i32,
    lperrno: *mut i32,
) -> i32 {
    // Window messages: not offered (WSAEventSelect, select and WSAPoll are).
    status(lperrno, Err(WSAEOPNOTSUPP))
}

unsafe extern "system" fn wsp_cancel_blocking_call(lperrno: *mut i32) -> i32 {
    // Winsock 1 blocking hooks, removed in Winsock 2.
    status(lperrno, Err(WSAEOPNOTSUPP))
}

unsafe extern "system" fn wsp_join_leaf(
    _s: SOCKET,
    _name: *const SOCKADDR,
    _namelen: i32,
    _caller: *const WSABUF,
    _callee: *mut WSABUF,
    _sqos: *const QOS,
    _gqos: *const QOS,
    _flags: u32,
    lperrno: *mut i32,
) -> SOCKET {
    // Multipoint sockets do not exist on AF_UNIX.
    socket_or_invalid(lperrno, Err(WSAEOPNOTSUPP))
}

unsafe extern "system" fn wsp_get_qos_by_name(
    _s: SOCKET,
    _name: *const WSABUF,
    _qos: *mut QOS,
    lperrno: *mut i32,
) -> i32 {
    set_errno(lperrno, WSAEOPNOTSUPP);
    0
}

unsafe extern "system" fn wsp_address_to_string(
    _addr: *const SOCKADDR,
    _len: u32,
    _info: *const WSAPROTOCOL_INFOW,
    _out: windows_sys::core::PWSTR,
    _out_len: *mut u32,
    lperrno: *mut i32,
) -> i32 {
    // WSAAddressToString for AF_UNIX has no agreed text form; not offered.
    status(lperrno, Err(WSAEOPNOTSUPP))
}

unsafe extern "system" fn wsp_string_to_address(
    _text: windows_sys::core::PCWSTR,
    _family: i32,
    _info: *const WSAPROTOCOL_INFOW,
    _addr: *mut SOCKADDR,
    _len: *mut i32,
    lperrno: *mut i32,
) -> i32 {
    status(lperrno, Err(WSAEOPNOTSUPP))
}
