//! The provider DLL, loaded the way ws2_32 loads it: `LoadLibrary`, then `WSPStartup` with
//! an upcall table, then calls through the procedure table it fills in.
//!
//! The upcalls are this harness's stand-ins for ws2_32's. An IFS provider needs only
//! `WPUModifyIFSHandle` (which registers the socket and returns its SOCKET value: the handle
//! itself) and, for completion routines, nothing at all: the NT APC runs them.

use std::ffi::c_void;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use windows_sys::Win32::Foundation::CloseHandle;
use windows_sys::Win32::Foundation::{FreeLibrary, HANDLE, HMODULE};
use windows_sys::Win32::Networking::WinSock::{
    self as ws, FD_SET, INVALID_SOCKET, LPWSPSTARTUP, SOCKET, SOCKET_ERROR, TIMEVAL, WSABUF,
    WSANETWORKEVENTS, WSAPROTOCOL_INFOW, WSPDATA, WSPPROC_TABLE, WSPUPCALLTABLE,
};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};
use windows_sys::Win32::System::Threading::{CreateEventW, ResetEvent, SetEvent};

/// The catalog entry id the harness gives the provider, as ws2_32 would from its catalog.
pub const CATALOG_ENTRY_ID: u32 = 4242;

/// The catalog entry id of the protocol of Winsock socket type `ty`: the stream entry is
/// [`CATALOG_ENTRY_ID`] (what WSPStartup gets), the others follow it, as ws2_32 numbers a
/// provider's entries.
#[must_use]
pub fn catalog_id(ty: i32) -> u32 {
    match ty {
        ws::SOCK_DGRAM => CATALOG_ENTRY_ID + 1,
        ws::SOCK_SEQPACKET => CATALOG_ENTRY_ID + 2,
        _ => CATALOG_ENTRY_ID,
    }
}

/// What WSPRecvFrom reported: its result, the address bytes it wrote (as many as fit the
/// room given), the length it wrote to `lpFromlen`, and `lpFlags` after the call.
#[derive(Debug)]
pub struct RecvFrom {
    pub result: Wsa<usize>,
    pub from: Vec<u8>,
    pub fromlen: i32,
    pub flags: u32,
}

/// Sockets the provider registered through `WPUModifyIFSHandle`, and the catalog id it gave.
pub static REGISTERED: AtomicU32 = AtomicU32::new(0);
pub static LAST_CATALOG_ID: AtomicU32 = AtomicU32::new(0);

/// A WSA error code.
pub type Wsa<T> = Result<T, i32>;

unsafe extern "system" fn modify_ifs_handle(
    catalog_id: u32,
    proposed: SOCKET,
    _errno: *mut i32,
) -> SOCKET {
    LAST_CATALOG_ID.store(catalog_id, Ordering::SeqCst);
    REGISTERED.fetch_add(1, Ordering::SeqCst);
    proposed
}

unsafe extern "system" fn create_event(errno: *mut i32) -> isize {
    // SAFETY:
    // 1. An anonymous manual-reset event, as WSACreateEvent makes.
    let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
    if event.is_null() && !errno.is_null() {
        // SAFETY:
        // 1. The provider's error out pointer.
        unsafe { errno.write(ws::WSAENOBUFS) };
    }
    event as isize
}

unsafe extern "system" fn close_event(event: isize, _errno: *mut i32) -> i32 {
    // SAFETY:
    // 1. An event the provider asked us to create.
    unsafe { CloseHandle(event as HANDLE) }
}

unsafe extern "system" fn set_event(event: isize, _errno: *mut i32) -> i32 {
    // SAFETY:
    // 1. An event handle from the provider.
    unsafe { SetEvent(event as HANDLE) }
}

unsafe extern "system" fn reset_event(event: isize, _errno: *mut i32) -> i32 {
    // SAFETY:
    // 1. An event handle from the provider.
    unsafe { ResetEvent(event as HANDLE) }
}

unsafe extern "system" fn fd_is_set(s: SOCKET, set: *const FD_SET) -> i32 {
    if set.is_null() {
        return 0;
    }
    // SAFETY:
    // 1. The provider passes an FD_SET it was given.
    let set = unsafe { &*set };
    let n = (set.fd_count as usize).min(set.fd_array.len());
    i32::from(set.fd_array.get(..n).unwrap_or(&[]).contains(&s))
}

unsafe extern "system" fn query_blocking_callback(
    _catalog_id: u32,
    callback: *mut windows_sys::Win32::Networking::WinSock::LPBLOCKINGCALLBACK,
    context: *mut usize,
    _errno: *mut i32,
) -> i32 {
    // No Winsock 1 blocking hook: the provider blocks in the kernel.
    if !callback.is_null() {
        // SAFETY:
        // 1. The provider's out pointers.
        unsafe { callback.write(None) };
    }
    if !context.is_null() {
        // SAFETY:
        // 1. As above.
        unsafe { context.write(0) };
    }
    0
}

/// The non-IFS and window-message upcalls: an IFS provider never needs them.
unsafe extern "system" fn create_socket_handle(_id: u32, _ctx: usize, errno: *mut i32) -> SOCKET {
    if !errno.is_null() {
        // SAFETY:
        // 1. The provider's error out pointer.
        unsafe { errno.write(ws::WSAEOPNOTSUPP) };
    }
    INVALID_SOCKET
}

unsafe extern "system" fn unsupported_socket(_s: SOCKET, errno: *mut i32) -> i32 {
    if !errno.is_null() {
        // SAFETY:
        // 1. The provider's error out pointer.
        unsafe { errno.write(ws::WSAEOPNOTSUPP) };
    }
    SOCKET_ERROR
}

fn upcalls() -> WSPUPCALLTABLE {
    WSPUPCALLTABLE {
        lpWPUCloseEvent: Some(close_event),
        lpWPUCloseSocketHandle: Some(unsupported_socket),
        lpWPUCreateEvent: Some(create_event),
        lpWPUCreateSocketHandle: Some(create_socket_handle),
        lpWPUFDIsSet: Some(fd_is_set),
        lpWPUModifyIFSHandle: Some(modify_ifs_handle),
        lpWPUQueryBlockingCallback: Some(query_blocking_callback),
        lpWPUResetEvent: Some(reset_event),
        lpWPUSetEvent: Some(set_event),
        ..WSPUPCALLTABLE::default()
    }
}

/// The loaded provider and its procedure table.
pub struct Provider {
    module: HMODULE,
    table: WSPPROC_TABLE,
    /// What `WSPStartup` said about itself.
    pub description: String,
    pub version: u16,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

// SAFETY:
// 1. The module handle and the table of function pointers may be used from any thread:
//    the provider is free-threaded, as Winsock providers must be.
unsafe impl Send for Provider {}
// SAFETY:
// 1. As above.
unsafe impl Sync for Provider {}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Calls a procedure-table entry, turning SOCKET_ERROR and `lpErrno` into `Err`.
macro_rules! call {
    ($self:ident . $f:ident ( $($arg:expr),* )) => {{
        let f = $self.table.$f.ok_or(ws::WSAEOPNOTSUPP)?;
        let mut errno = 0i32;
        // SAFETY:
        // 1. The provider's entry point, called with arguments that follow the SPI's
        //    prototype; every pointer argument is valid for the call.
        let r = unsafe { f($($arg,)* &mut errno) };
        (r, errno)
    }};
}

fn check(r: i32, errno: i32) -> Wsa<()> {
    if r == SOCKET_ERROR {
        Err(errno)
    } else {
        Ok(())
    }
}

impl Provider {
    /// Loads `dll` and starts it as ws2_32 would for a program's `WSAStartup(2.2)`.
    pub fn load(dll: &Path) -> Result<Provider, String> {
        let path = wide(&dll.to_string_lossy());
        // SAFETY:
        // 1. A NUL-terminated path.
        let module = unsafe { LoadLibraryW(path.as_ptr()) };
        if module.is_null() {
            return Err(format!(
                "LoadLibrary({}) failed: {}",
                dll.display(),
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY:
        // 1. A loaded module and a NUL-terminated export name.
        let entry = unsafe { GetProcAddress(module, c"WSPStartup".as_ptr().cast()) };
        let Some(entry) = entry else {
            return Err(format!("{} exports no WSPStartup", dll.display()));
        };
        // SAFETY:
        // 1. WSPStartup has the LPWSPSTARTUP prototype (the SPI's contract, and our
        //    provider's declaration).
        let startup: LPWSPSTARTUP = unsafe { std::mem::transmute(entry) };
        let startup = startup.ok_or("WSPStartup is null")?;
        let mut info: WSAPROTOCOL_INFOW = afunix::sys::catalog::protocol_info();
        info.dwCatalogEntryId = CATALOG_ENTRY_ID;
        let mut data = WSPDATA::default();
        let mut table = WSPPROC_TABLE::default();
        // SAFETY:
        // 1. As ws2_32 calls it: version 2.2, writable WSPDATA and procedure table, our
        //    protocol info, and an upcall table whose functions live as long as the program.
        let r = unsafe { startup(0x0202, &raw mut data, &info, upcalls(), &mut table) };
        if r != 0 {
            return Err(format!("WSPStartup failed: WSA error {r}"));
        }
        let end = data
            .szDescription
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(data.szDescription.len());
        Ok(Provider {
            module,
            table,
            description: String::from_utf16_lossy(&data.szDescription[..end]),
            version: data.wVersion,
        })
    }

    pub fn socket(&self) -> Wsa<SOCKET> {
        let info = afunix::sys::catalog::protocol_info();
        let f = self.table.lpWSPSocket.ok_or(ws::WSAEOPNOTSUPP)?;
        let mut errno = 0;
        // SAFETY:
        // 1. WSPSocket's prototype; `info` lives for the call.
        let s = unsafe { f(1, 1, 0, &info, 0, 1, &mut errno) };
        if s == INVALID_SOCKET {
            Err(errno)
        } else {
            Ok(s)
        }
    }

    /// WSPSocket for Winsock socket type `ty` with its catalog entry, as ws2_32 calls it
    /// for `socket(AF_UNIX, ty, 0)`.
    pub fn socket_of(&self, ty: i32) -> Wsa<SOCKET> {
        let mut info = afunix::sys::catalog::protocol_info_for(ty).ok_or(ws::WSAESOCKTNOSUPPORT)?;
        info.dwCatalogEntryId = catalog_id(ty);
        let f = self.table.lpWSPSocket.ok_or(ws::WSAEOPNOTSUPP)?;
        let mut errno = 0;
        // SAFETY:
        // 1. WSPSocket's prototype; `info` lives for the call.
        let s = unsafe { f(1, ty, 0, &info, 0, 1, &mut errno) };
        if s == INVALID_SOCKET {
            Err(errno)
        } else {
            Ok(s)
        }
    }

    /// WSPSendTo of one buffer to `to` (empty: no address).
    pub fn send_to(&self, s: SOCKET, data: &[u8], to: &[u8]) -> Wsa<usize> {
        let buf = WSABUF {
            len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            buf: data.as_ptr().cast_mut(),
        };
        let mut sent = 0u32;
        let to_ptr = if to.is_empty() {
            ptr::null()
        } else {
            to.as_ptr().cast()
        };
        let (r, e) = call!(self.lpWSPSendTo(
            s,
            &buf,
            1,
            &mut sent,
            0,
            to_ptr,
            i32::try_from(to.len()).unwrap_or(i32::MAX),
            ptr::null_mut(),
            None,
            ptr::null()
        ));
        check(r, e).map(|()| sent as usize)
    }

    /// A blocking WSPRecvFrom into `buf` with an address buffer of `room` bytes (0: no
    /// address asked for).
    pub fn recv_from(&self, s: SOCKET, buf: &mut [u8], flags: u32, room: usize) -> RecvFrom {
        let b = WSABUF {
            len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            buf: buf.as_mut_ptr(),
        };
        let mut from = vec![0u8; room];
        let mut fromlen = i32::try_from(room).unwrap_or(i32::MAX);
        let (from_ptr, len_ptr) = if room == 0 {
            (ptr::null_mut(), ptr::null_mut())
        } else {
            (from.as_mut_ptr(), &raw mut fromlen)
        };
        let mut got = 0u32;
        let mut flags = flags;
        let Some(f) = self.table.lpWSPRecvFrom else {
            return RecvFrom {
                result: Err(ws::WSAEOPNOTSUPP),
                from: Vec::new(),
                fromlen: 0,
                flags,
            };
        };
        let mut errno = 0i32;
        // SAFETY:
        // 1. WSPRecvFrom's prototype; the buffers are ours, alive for the call.
        let r = unsafe {
            f(
                s,
                &b,
                1,
                &mut got,
                &mut flags,
                from_ptr.cast(),
                len_ptr,
                ptr::null_mut(),
                None,
                ptr::null(),
                &mut errno,
            )
        };
        let kept = usize::try_from(fromlen).unwrap_or(0).min(room);
        from.truncate(kept);
        RecvFrom {
            result: check(r, errno).map(|()| got as usize),
            from,
            fromlen,
            flags,
        }
    }

    /// A blocking WSPRecv: its result and `lpFlags` after the call.
    pub fn recv_flags(&self, s: SOCKET, buf: &mut [u8], flags: u32) -> (Wsa<usize>, u32) {
        let b = WSABUF {
            len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            buf: buf.as_mut_ptr(),
        };
        let mut got = 0u32;
        let mut flags = flags;
        let Some(f) = self.table.lpWSPRecv else {
            return (Err(ws::WSAEOPNOTSUPP), flags);
        };
        let mut errno = 0i32;
        // SAFETY:
        // 1. WSPRecv's prototype; the buffer is the caller's, alive for the call.
        let r = unsafe {
            f(
                s,
                &b,
                1,
                &mut got,
                &mut flags,
                ptr::null_mut(),
                None,
                ptr::null(),
                (&raw mut errno).cast_const(),
            )
        };
        (check(r, errno).map(|()| got as usize), flags)
    }

    /// An overlapped WSPSendTo of `buf` to `to`: Ok(Some(n)) if it finished at once,
    /// Ok(None) if it pends.
    ///
    /// # Safety
    ///
    /// `ov` and the buffer stay valid until the request completes.
    pub unsafe fn send_to_overlapped(
        &self,
        s: SOCKET,
        buf: &[u8],
        to: &[u8],
        ov: *mut OVERLAPPED,
    ) -> Wsa<Option<usize>> {
        let b = WSABUF {
            len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            buf: buf.as_ptr().cast_mut(),
        };
        let mut n = 0u32;
        let mut errno = 0i32;
        let f = self.table.lpWSPSendTo.ok_or(ws::WSAEOPNOTSUPP)?;
        // SAFETY:
        // 1. WSPSendTo's prototype; `ov` and the buffer outlive the request (this
        //    function's contract); the address is copied before the call returns.
        let r = unsafe {
            f(
                s,
                &b,
                1,
                &mut n,
                0,
                to.as_ptr().cast(),
                i32::try_from(to.len()).unwrap_or(i32::MAX),
                ov,
                None,
                ptr::null(),
                &mut errno,
            )
        };
        match (r, errno) {
            (0, _) => Ok(Some(n as usize)),
            (_, ws::WSA_IO_PENDING) => Ok(None),
            (_, e) => Err(e),
        }
    }

    /// An overlapped WSPRecvFrom asking for the sender's address: the WSA error it gives at
    /// once, if any (a request that was started is cancelled and waited for).
    pub fn recv_from_overlapped_error(&self, s: SOCKET) -> Option<i32> {
        let mut buf = [0u8; 8];
        let b = WSABUF {
            len: 8,
            buf: buf.as_mut_ptr(),
        };
        let mut from = [0u8; 110];
        let mut fromlen = 110i32;
        let mut flags = 0u32;
        let mut n = 0u32;
        let mut errno = 0i32;
        // SAFETY:
        // 1. OVERLAPPED is plain data; all-zero is its initial state.
        let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
        let f = self.table.lpWSPRecvFrom?;
        // SAFETY:
        // 1. WSPRecvFrom's prototype; every buffer and `ov` live on this frame, and a
        //    request that was started is cancelled and waited for below.
        let r = unsafe {
            f(
                s,
                &b,
                1,
                &mut n,
                &mut flags,
                from.as_mut_ptr().cast(),
                &mut fromlen,
                &mut ov,
                None,
                ptr::null(),
                &mut errno,
            )
        };
        if r == 0 || errno == ws::WSA_IO_PENDING {
            // SAFETY:
            // 1. Cancels only this request on the socket's handle.
            unsafe { windows_sys::Win32::System::IO::CancelIoEx(s as HANDLE, &ov) };
            let _ = self.overlapped_result(s, &ov, true);
            return None;
        }
        Some(errno)
    }

    /// WSPSocket with explicit arguments (for the error checks).
    pub fn socket_with(&self, af: i32, ty: i32, protocol: i32) -> Wsa<SOCKET> {
        let f = self.table.lpWSPSocket.ok_or(ws::WSAEOPNOTSUPP)?;
        let mut errno = 0;
        // SAFETY:
        // 1. WSPSocket's prototype; a null protocol info is allowed.
        let s = unsafe { f(af, ty, protocol, ptr::null(), 0, 1, &mut errno) };
        if s == INVALID_SOCKET {
            Err(errno)
        } else {
            Ok(s)
        }
    }

    /// WSPSocket(FROM_PROTOCOL_INFO) with what WSPDuplicateSocket filled in.
    pub fn socket_from(&self, info: &WSAPROTOCOL_INFOW) -> Wsa<SOCKET> {
        let f = self.table.lpWSPSocket.ok_or(ws::WSAEOPNOTSUPP)?;
        let mut errno = 0;
        // SAFETY:
        // 1. WSPSocket's prototype; `info` lives for the call.
        let s = unsafe { f(-1, -1, -1, info, 0, 1, &mut errno) };
        if s == INVALID_SOCKET {
            Err(errno)
        } else {
            Ok(s)
        }
    }

    pub fn duplicate(&self, s: SOCKET, pid: u32) -> Wsa<WSAPROTOCOL_INFOW> {
        let mut info = WSAPROTOCOL_INFOW::default();
        let (r, e) = call!(self.lpWSPDuplicateSocket(s, pid, &mut info));
        check(r, e).map(|()| info)
    }

    pub fn bind(&self, s: SOCKET, addr: &[u8]) -> Wsa<()> {
        let len = i32::try_from(addr.len()).unwrap_or(i32::MAX);
        let (r, e) = call!(self.lpWSPBind(s, addr.as_ptr().cast(), len));
        check(r, e)
    }

    pub fn listen(&self, s: SOCKET, backlog: i32) -> Wsa<()> {
        let (r, e) = call!(self.lpWSPListen(s, backlog));
        check(r, e)
    }

    pub fn connect(&self, s: SOCKET, addr: &[u8]) -> Wsa<()> {
        let len = i32::try_from(addr.len()).unwrap_or(i32::MAX);
        let (r, e) = call!(self.lpWSPConnect(
            s,
            addr.as_ptr().cast(),
            len,
            ptr::null(),
            ptr::null_mut(),
            ptr::null(),
            ptr::null()
        ));
        check(r, e)
    }

    /// WSPAccept: the new socket and the peer's address (as much as 110 bytes hold).
    pub fn accept(&self, s: SOCKET) -> Wsa<(SOCKET, Vec<u8>)> {
        let mut addr = [0u8; 110];
        let mut len = 110i32;
        let (new, e) = call!(self.lpWSPAccept(s, addr.as_mut_ptr().cast(), &mut len, None, 0));
        if new == INVALID_SOCKET {
            return Err(e);
        }
        let n = usize::try_from(len).unwrap_or(0).min(addr.len());
        Ok((new, addr[..n].to_vec()))
    }

    pub fn send(&self, s: SOCKET, data: &[u8]) -> Wsa<usize> {
        let buf = WSABUF {
            len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            buf: data.as_ptr().cast_mut(),
        };
        self.send_bufs(s, &[buf])
    }

    pub fn send_bufs(&self, s: SOCKET, bufs: &[WSABUF]) -> Wsa<usize> {
        let mut sent = 0u32;
        let (r, e) = call!(self.lpWSPSend(
            s,
            bufs.as_ptr(),
            u32::try_from(bufs.len()).unwrap_or(0),
            &mut sent,
            0,
            ptr::null_mut(),
            None,
            ptr::null()
        ));
        check(r, e).map(|()| sent as usize)
    }

    pub fn recv(&self, s: SOCKET, buf: &mut [u8], flags: u32) -> Wsa<usize> {
        let b = WSABUF {
            len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            buf: buf.as_mut_ptr(),
        };
        self.recv_bufs(s, &[b], flags)
    }

    pub fn recv_bufs(&self, s: SOCKET, bufs: &[WSABUF], flags: u32) -> Wsa<usize> {
        let mut got = 0u32;
        let mut flags = flags;
        let f = self.table.lpWSPRecv.ok_or(ws::WSAEOPNOTSUPP)?;
        let mut errno = 0i32;
        // SAFETY:
        // 1. WSPRecv's prototype; the buffers are the caller's, alive for the call.
        let r = unsafe {
            f(
                s,
                bufs.as_ptr(),
                u32::try_from(bufs.len()).unwrap_or(0),
                &mut got,
                &mut flags,
                ptr::null_mut(),
                None,
                ptr::null(),
                (&raw mut errno).cast_const(),
            )
        };
        check(r, errno).map(|()| got as usize)
    }

    /// An overlapped WSPSend or WSPRecv: Ok(Some(n)) if it finished at once, Ok(None) if it
    /// pends (WSA_IO_PENDING).
    ///
    /// # Safety
    ///
    /// `ov` and the buffer stay valid until the request completes.
    pub unsafe fn start_overlapped(
        &self,
        s: SOCKET,
        buf: &mut [u8],
        receive: bool,
        ov: *mut OVERLAPPED,
        routine: windows_sys::Win32::Networking::WinSock::LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    ) -> Wsa<Option<usize>> {
        let b = WSABUF {
            len: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            buf: buf.as_mut_ptr(),
        };
        let mut n = 0u32;
        let mut errno = 0i32;
        let r = if receive {
            let f = self.table.lpWSPRecv.ok_or(ws::WSAEOPNOTSUPP)?;
            let mut flags = 0u32;
            // SAFETY:
            // 1. WSPRecv's prototype; `ov` and the buffer outlive the request (this
            //    function's contract).
            unsafe {
                f(
                    s,
                    &b,
                    1,
                    &mut n,
                    &mut flags,
                    ov,
                    routine,
                    ptr::null(),
                    (&raw mut errno).cast_const(),
                )
            }
        } else {
            let f = self.table.lpWSPSend.ok_or(ws::WSAEOPNOTSUPP)?;
            // SAFETY:
            // 1. As above, for WSPSend.
            unsafe { f(s, &b, 1, &mut n, 0, ov, routine, ptr::null(), &mut errno) }
        };
        match (r, errno) {
            (0, _) => Ok(Some(n as usize)),
            (_, ws::WSA_IO_PENDING) => Ok(None),
            (_, e) => Err(e),
        }
    }

    /// WSPGetOverlappedResult: Ok(bytes) or the request's WSA error.
    pub fn overlapped_result(&self, s: SOCKET, ov: *const OVERLAPPED, wait: bool) -> Wsa<usize> {
        let mut n = 0u32;
        let mut flags = 0u32;
        let (ok, e) =
            call!(self.lpWSPGetOverlappedResult(s, ov, &mut n, i32::from(wait), &mut flags));
        if ok == 0 { Err(e) } else { Ok(n as usize) }
    }

    pub fn shutdown(&self, s: SOCKET, how: i32) -> Wsa<()> {
        let (r, e) = call!(self.lpWSPShutdown(s, how));
        check(r, e)
    }

    pub fn close(&self, s: SOCKET) -> Wsa<()> {
        let (r, e) = call!(self.lpWSPCloseSocket(s));
        check(r, e)
    }

    /// getsockname (`peer` false) or getpeername into a buffer of `room` bytes.
    pub fn name(&self, s: SOCKET, peer: bool, room: usize) -> Wsa<Vec<u8>> {
        let mut buf = vec![0u8; room];
        let mut len = i32::try_from(room).unwrap_or(i32::MAX);
        let (r, e) = if peer {
            call!(self.lpWSPGetPeerName(s, buf.as_mut_ptr().cast(), &mut len))
        } else {
            call!(self.lpWSPGetSockName(s, buf.as_mut_ptr().cast(), &mut len))
        };
        check(r, e)?;
        buf.truncate(usize::try_from(len).unwrap_or(0));
        Ok(buf)
    }

    pub fn getsockopt(&self, s: SOCKET, level: i32, name: i32, room: usize) -> Wsa<Vec<u8>> {
        let mut buf = vec![0u8; room];
        let mut len = i32::try_from(room).unwrap_or(i32::MAX);
        let (r, e) = call!(self.lpWSPGetSockOpt(s, level, name, buf.as_mut_ptr(), &mut len));
        check(r, e)?;
        buf.truncate(usize::try_from(len).unwrap_or(0));
        Ok(buf)
    }

    pub fn getsockopt_int(&self, s: SOCKET, level: i32, name: i32) -> Wsa<i32> {
        let v = self.getsockopt(s, level, name, 4)?;
        let bytes: [u8; 4] = v
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(ws::WSAEFAULT)?;
        Ok(i32::from_ne_bytes(bytes))
    }

    pub fn setsockopt(&self, s: SOCKET, level: i32, name: i32, value: &[u8]) -> Wsa<()> {
        let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
        let (r, e) = call!(self.lpWSPSetSockOpt(s, level, name, value.as_ptr(), len));
        check(r, e)
    }

    /// WSPIoctl without overlapped I/O: the bytes returned.
    pub fn ioctl(&self, s: SOCKET, code: u32, input: &[u8], output: &mut [u8]) -> Wsa<usize> {
        let mut returned = 0u32;
        let (r, e) = call!(self.lpWSPIoctl(
            s,
            code,
            input.as_ptr().cast::<c_void>(),
            u32::try_from(input.len()).unwrap_or(0),
            output.as_mut_ptr().cast::<c_void>(),
            u32::try_from(output.len()).unwrap_or(0),
            &mut returned,
            ptr::null_mut(),
            None,
            ptr::null()
        ));
        check(r, e).map(|()| returned as usize)
    }

    pub fn set_nonblocking(&self, s: SOCKET, on: bool) -> Wsa<()> {
        self.ioctl(s, ws::FIONBIO as u32, &u32::from(on).to_ne_bytes(), &mut [])
            .map(|_| ())
    }

    pub fn fionread(&self, s: SOCKET) -> Wsa<u32> {
        let mut out = [0u8; 4];
        self.ioctl(s, ws::FIONREAD as u32, &[], &mut out)?;
        Ok(u32::from_ne_bytes(out))
    }

    /// select over read, write and except sets; the sockets reported in each.
    pub fn select(
        &self,
        read: &[SOCKET],
        write: &[SOCKET],
        except: &[SOCKET],
        timeout: Option<std::time::Duration>,
    ) -> Wsa<(i32, [Vec<SOCKET>; 3])> {
        let make = |list: &[SOCKET]| {
            let mut set = FD_SET::default();
            for (slot, s) in set.fd_array.iter_mut().zip(list) {
                *slot = *s;
            }
            set.fd_count = u32::try_from(list.len().min(64)).unwrap_or(0);
            set
        };
        let (mut r, mut w, mut x) = (make(read), make(write), make(except));
        let tv = timeout.map(|t| TIMEVAL {
            tv_sec: i32::try_from(t.as_secs()).unwrap_or(i32::MAX),
            tv_usec: i32::try_from(t.subsec_micros()).unwrap_or(0),
        });
        let tvp = tv.as_ref().map_or(ptr::null(), ptr::from_ref);
        let (n, e) = call!(self.lpWSPSelect(0, &mut r, &mut w, &mut x, tvp));
        if n == SOCKET_ERROR {
            return Err(e);
        }
        let list = |set: &FD_SET| set.fd_array[..set.fd_count.min(64) as usize].to_vec();
        Ok((n, [list(&r), list(&w), list(&x)]))
    }

    pub fn event_select(&self, s: SOCKET, event: HANDLE, events: i32) -> Wsa<()> {
        let (r, e) = call!(self.lpWSPEventSelect(s, event as isize, events));
        check(r, e)
    }

    pub fn enum_events(&self, s: SOCKET, event: HANDLE) -> Wsa<WSANETWORKEVENTS> {
        let mut out = WSANETWORKEVENTS::default();
        let (r, e) = call!(self.lpWSPEnumNetworkEvents(s, event, &mut out));
        check(r, e).map(|()| out)
    }

    /// WSAPoll through SIO_EXT_POLL: (result, revents per entry).
    pub fn wsapoll(&self, fds: &[(SOCKET, i16)], timeout_ms: i32) -> Wsa<(i32, Vec<i16>)> {
        let mut data = vec![0u8; 16 + 16 * fds.len()];
        data[4..8].copy_from_slice(&u32::try_from(fds.len()).unwrap_or(0).to_ne_bytes());
        data[8..12].copy_from_slice(&timeout_ms.to_ne_bytes());
        for (i, (s, ev)) in fds.iter().enumerate() {
            let at = 16 + 16 * i;
            data[at..at + 8].copy_from_slice(&s.to_ne_bytes());
            data[at + 8..at + 10].copy_from_slice(&ev.to_ne_bytes());
        }
        // WSAPoll passes one WSAPOLLDATA as both input and output, issued on the first
        // socket; so does this.
        let first = fds.first().map_or(0, |f| f.0);
        let len = u32::try_from(data.len()).unwrap_or(0);
        let buffer = data.as_mut_ptr();
        let mut returned = 0u32;
        let (r, e) = call!(self.lpWSPIoctl(
            first,
            ws::SIO_EXT_POLL,
            buffer.cast_const().cast::<c_void>(),
            len,
            buffer.cast::<c_void>(),
            len,
            &mut returned,
            ptr::null_mut(),
            None,
            ptr::null()
        ));
        check(r, e)?;
        let out = data;
        let result = i32::from_ne_bytes(out[0..4].try_into().unwrap_or([0; 4]));
        let revents = (0..fds.len())
            .map(|i| {
                let at = 16 + 16 * i + 10;
                i16::from_ne_bytes(out[at..at + 2].try_into().unwrap_or([0; 2]))
            })
            .collect();
        Ok((result, revents))
    }

    pub fn cleanup(&self) -> Wsa<()> {
        let f = self.table.lpWSPCleanup.ok_or(ws::WSAEOPNOTSUPP)?;
        let mut errno = 0;
        // SAFETY:
        // 1. WSPCleanup's prototype.
        let r = unsafe { f(&mut errno) };
        check(r, errno)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // WSPCleanup first: it stops the provider's watcher thread and closes its sockets,
        // so none of its code runs once the DLL is gone.
        let _ = self.cleanup();
        // SAFETY:
        // 1. The module this Provider loaded, freed once; WSPCleanup has stopped the
        //    provider's thread.
        unsafe { FreeLibrary(self.module) };
    }
}
