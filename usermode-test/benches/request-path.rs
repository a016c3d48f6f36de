//! The path every request takes, measured (issue 11).
//!
//! `cargo bench -p usermode-test --bench request-path` drives what the driver runs for each
//! request, without the driver: the wire decode of the request's encoded bytes
//! (`afunix_proto::decode`), the shared request path of `afunix-device` (`Prepared::new`,
//! `Prepared::execute` on a `Device` under one mutex, `Prepared::settle`, a drain of the
//! completions after every call that takes the lock once per completion, `write_reply`), and
//! the engine under it. It is a benchmark that prints figures, not a timed test.
//!
//! Each request's data buffer is reached in place, as the driver reaches an IRP's locked
//! pages: the `Buffers` given to the device reach the executing request's buffer, borrowed
//! from its thread, and every pending request's buffer by token. A request that pends lends
//! its thread's own `Vec` to the table of pending requests (the `Vec` moves, its bytes do
//! not), and gets it back with its completion; no byte is copied into a buffer of the
//! request's own. This needs no `unsafe` (the bench's only `unsafe` is its counting
//! allocator and the libc calls of the Linux side and of pinning).
//!
//! It prints, in one run:
//!
//! 1. Stream throughput of one connected pair (SOCKET, SOCKET, SOCKETPAIR through the path),
//!    a writer and a reader thread pinned to one CPU, at 64 B, 4 KiB, 64 KiB and 1 MiB per
//!    send/recv: the path's MB/s, its ratio to a Linux socketpair in the same run (the first
//!    `N.NNx` of each row), requests per second and nanoseconds per request (both threads'
//!    requests, so on one CPU this is the CPU time a request costs, copying included), and
//!    the ratio to the engine alone, driven the way `benches/throughput.rs` drives it (one
//!    lock per call, completions drained in it), with the same buffers and waits. Beside them:
//!    how many times each byte was copied (through `Buffers`, on both sides), and how many
//!    allocations a request made.
//! 2. Connection churn: CONNECT + ACCEPT + closing both ends, per second, through the path,
//!    beside Linux's socket + connect + accept + close + close on abstract names; once with
//!    the listener kept, once making and closing the listener (SOCKET, BIND, LISTEN) each time.
//! 3. Memory per idle connected pair at 10,000 pairs made through the path (SOCKETPAIR, and
//!    CONNECT + ACCEPT): the live bytes a counting global allocator sees the device and engine
//!    hold, as the driver's pool counter does for STATS, and what `DeviceStats` says. The
//!    driver's cap of 16,384 sockets (`driver_limits`) holds only 8,192 pairs, so this part
//!    lifts it.
//!
//! Options: `--quick` moves 1/8 of the bytes and runs everything once (a smoke run);
//! `--runs N` best of N (default 5); `--size N` only that size; `--only throughput|churn|
//! memory` one part; `--path-only` runs no engine-alone or Linux throughput (for profiling;
//! their figures then read as nonsense).

#[cfg(target_os = "linux")]
mod bench {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use afunix_core::{
        AF_UNIX, Buffers, Completed, Credentials, Engine, Errno, KeyedHash, KeyedMap, Outcome,
        RecvFlags, SendFlags, SocketId, Token,
    };
    use afunix_device::{
        Device, DeviceStats, Done, FileId, FileIdentity, FsError, Host, Limits, Prepared, Reply,
        ReplyBuffer, driver_limits, write_reply,
    };
    use afunix_proto::decode::{NtPath, decode};
    use afunix_proto::encode;
    use afunix_proto::ioctl::{
        IOCTL_AFUNIX_ACCEPT, IOCTL_AFUNIX_BIND, IOCTL_AFUNIX_CONNECT, IOCTL_AFUNIX_LISTEN,
        IOCTL_AFUNIX_RECV, IOCTL_AFUNIX_SEND, IOCTL_AFUNIX_SOCKET, IOCTL_AFUNIX_SOCKETPAIR,
    };
    use afunix_proto::wire::AddressOut;
    use zerocopy::IntoBytes;

    // ---------------------------------------------------------------------------------------
    // Counting allocator: live bytes and blocks, as the driver's pool counter keeps them.

    /// Bytes allocated and not yet freed (the driver's `pool::bytes_in_use`).
    static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
    /// Blocks allocated and not yet freed (each costs a pool header in the kernel).
    static LIVE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
    /// Allocations made, ever (to see whether a request allocates).
    static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

    struct Counting;

    fn counted(size: usize) {
        LIVE_BYTES.fetch_add(size, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }

    fn uncounted(size: usize) {
        LIVE_BYTES.fetch_sub(size, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    // SAFETY:
    // 1. Every method passes its arguments unchanged to the system allocator, which upholds
    //    `GlobalAlloc`'s contract; the counters only observe sizes and never touch memory.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY:
            // 1. The caller guarantees `layout` has a non-zero size, as `System.alloc` needs.
            let block = unsafe { System.alloc(layout) };
            if !block.is_null() {
                counted(layout.size());
            }
            block
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY:
            // 1. As for `alloc`: the caller's non-zero-size layout is passed on.
            let block = unsafe { System.alloc_zeroed(layout) };
            if !block.is_null() {
                counted(layout.size());
            }
            block
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY:
            // 1. The caller guarantees `ptr` came from this allocator (so from `System`) with
            //    this `layout`, and is not used again.
            unsafe { System.dealloc(ptr, layout) };
            uncounted(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY:
            // 1. The caller guarantees `ptr` came from this allocator (so from `System`) with
            //    `layout`, and that `new_size` is non-zero and does not overflow when rounded
            //    up to `layout.align()`.
            let block = unsafe { System.realloc(ptr, layout, new_size) };
            if !block.is_null() {
                LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
                LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
                ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            }
            block
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    // ---------------------------------------------------------------------------------------
    // Placement.

    fn pin_to_cpu0() {
        // SAFETY:
        // 1. cpu_set_t is plain data, for which all zeroes is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY:
        // 1. CPU 0 is within the set's capacity; `set` is a valid, exclusive cpu_set_t.
        unsafe { libc::CPU_SET(0, &mut set) };
        // SAFETY:
        // 1. `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
        let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
        assert_eq!(rc, 0, "sched_setaffinity failed");
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---------------------------------------------------------------------------------------
    // The front end: what the driver's dispatch routine does around the request path.

    /// The writer's and the reader's requests carry these tokens (one request at a time each;
    /// the driver's token is the IRP's address).
    fn token_of(side: usize) -> Token {
        Token(side as u64 + 1)
    }

    fn side_of(token: Token) -> usize {
        usize::try_from(token.0).map_or(0, |t| t.saturating_sub(1)) & 1
    }

    /// A completed request handed to its waiting thread: its result and its data buffer back.
    type Finished = (Result<Done, Errno>, Vec<u8>);

    /// What sits under the lock: the device (or, for the comparison, the engine alone), the
    /// data buffers of pending requests (the driver's table of pending IRPs), and for each of
    /// the two threads its finished request and whether it sleeps.
    struct State<C> {
        core: C,
        pending: KeyedMap<Token, Vec<u8>>,
        done: [Option<Finished>; 2],
        sleeping: [bool; 2],
        /// Bytes copied through `Buffers`: every copy of data the engine makes.
        copied: u64,
    }

    struct Front<C> {
        state: Mutex<State<C>>,
        wake: [Condvar; 2],
        /// The process's handle table (the object manager's, not the driver's memory).
        handles: Mutex<HashMap<u64, FileId>>,
        credentials: Credentials,
        next: AtomicU64,
        /// Requests that pended and waited, and waits that slept on the condition variable.
        waits: AtomicU64,
        sleeps: AtomicU64,
    }

    /// The `Buffers` the engine reaches requests' data through: the executing request's
    /// buffer, borrowed from its thread, and every pending request's, lent to the table.
    struct RequestBuffers<'a> {
        pending: &'a mut KeyedMap<Token, Vec<u8>>,
        current: Option<(Token, &'a mut [u8])>,
        copied: &'a mut u64,
    }

    impl RequestBuffers<'_> {
        fn buffer(&mut self, token: Token) -> Option<&mut [u8]> {
            match &mut self.current {
                Some((t, data)) if *t == token => Some(data),
                _ => self.pending.get_mut(&token).map(Vec::as_mut_slice),
            }
        }
    }

    fn range(len: usize, offset: usize, n: usize) -> Option<std::ops::Range<usize>> {
        let end = offset.checked_add(n)?;
        (end <= len).then_some(offset..end)
    }

    impl Buffers for RequestBuffers<'_> {
        fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool {
            let Some(to) = self.buffer(token) else {
                return false;
            };
            let Some(r) = range(to.len(), offset, src.len()) else {
                return false;
            };
            to[r].copy_from_slice(src);
            *self.copied += src.len() as u64;
            true
        }

        fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool {
            let Some(from) = self.buffer(token) else {
                return false;
            };
            let Some(r) = range(from.len(), offset, dst.len()) else {
                return false;
            };
            dst.copy_from_slice(&from[r]);
            *self.copied += dst.len() as u64;
            true
        }

        fn send_to_recv(
            &mut self,
            send: Token,
            send_offset: usize,
            recv: Token,
            recv_offset: usize,
            len: usize,
        ) -> bool {
            if send == recv {
                return false;
            }
            // One of them may be the executing request; the other is pending. If both are
            // pending, the recv's buffer leaves the table for the copy and goes back (the
            // `Vec` moves, not its bytes).
            let current = self.current.as_mut().map(|(t, d)| (*t, &mut **d));
            let ok = match current {
                Some((t, cur)) if t == send => self
                    .pending
                    .get_mut(&recv)
                    .is_some_and(|to| copy(cur, send_offset, to, recv_offset, len)),
                Some((t, cur)) if t == recv => self
                    .pending
                    .get(&send)
                    .is_some_and(|from| copy(from, send_offset, cur, recv_offset, len)),
                _ => match self.pending.remove(&recv) {
                    Some(mut to) => {
                        let ok = self
                            .pending
                            .get(&send)
                            .is_some_and(|from| copy(from, send_offset, &mut to, recv_offset, len));
                        // Cannot fail: the entry just removed left its room.
                        let _ = self.pending.try_insert(recv, to);
                        ok
                    }
                    None => false,
                },
            };
            if ok {
                *self.copied += len as u64;
            }
            ok
        }
    }

    fn copy(from: &[u8], from_off: usize, to: &mut [u8], to_off: usize, len: usize) -> bool {
        match (
            range(from.len(), from_off, len),
            range(to.len(), to_off, len),
        ) {
            (Some(s), Some(d)) => {
                to[d].copy_from_slice(&from[s]);
                true
            }
            _ => false,
        }
    }

    impl<C> Front<C> {
        fn new(core: C) -> Front<C> {
            Front {
                state: Mutex::new(State {
                    core,
                    pending: KeyedMap::new(KeyedHash::new(0)),
                    done: [None, None],
                    sleeping: [false, false],
                    copied: 0,
                }),
                wake: [Condvar::new(), Condvar::new()],
                handles: Mutex::new(HashMap::new()),
                credentials: Credentials {
                    pid: std::process::id(),
                    // A user SID as Windows gives it (S-1-5-21-a-b-c-rid: 28 bytes), which the
                    // engine keeps per socket as the driver's would.
                    sid: user_sid(),
                    ..Credentials::default()
                },
                next: AtomicU64::new(1),
                waits: AtomicU64::new(0),
                sleeps: AtomicU64::new(0),
            }
        }

        /// Waits for `side`'s request to finish: first a few yields (on one CPU the other
        /// thread runs meanwhile, as the kernel's synchronous wake-ups allow), then on its
        /// condition variable, flagged so that it is notified only when it sleeps: one wake
        /// per wait.
        fn wait(&self, side: usize) -> Finished {
            self.waits.fetch_add(1, Ordering::Relaxed);
            for _ in 0..4 {
                std::thread::yield_now();
                if let Some(f) = lock(&self.state).done[side].take() {
                    return f;
                }
            }
            let mut st = lock(&self.state);
            loop {
                if let Some(f) = st.done[side].take() {
                    return f;
                }
                st.sleeping[side] = true;
                self.sleeps.fetch_add(1, Ordering::Relaxed);
                let (guard, timeout) = self.wake[side]
                    .wait_timeout(st, Duration::from_secs(30))
                    .unwrap_or_else(PoisonError::into_inner);
                st = guard;
                st.sleeping[side] = false;
                assert!(
                    !timeout.timed_out() || st.done[side].is_some(),
                    "a request never completed"
                );
            }
        }

        /// Hands a completion to its thread, under the lock; true if that thread sleeps and
        /// must be notified once the lock is released.
        fn hand_over(st: &mut State<C>, token: Token, result: Result<Done, Errno>) -> bool {
            // The driver's `drain`: the pending request leaves the table with its buffer.
            let buffer = st.pending.remove(&token).unwrap_or_default();
            let side = side_of(token);
            st.done[side] = Some((result, buffer));
            st.sleeping[side]
        }
    }

    fn user_sid() -> Vec<u8> {
        let mut sid = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 0x1234_5678, 0x2345_6789, 0x3456_789a, 1001] {
            sid.extend_from_slice(&sub.to_le_bytes());
        }
        sid
    }

    fn errno_of(e: afunix_proto::decode::DecodeError) -> Errno {
        Errno::from_number(e.errno()).unwrap_or(Errno::EINVAL)
    }

    /// The bench's part of the request path (`afunix_device::Host`): credentials, handles.
    /// Only abstract names are used, so no socket file is ever made.
    struct BenchHost<'f> {
        front: &'f Front<Device>,
    }

    impl Host for BenchHost<'_> {
        type SocketFile = ();
        type HandleRef = ();

        fn credentials(&mut self) -> Result<Credentials, Errno> {
            Ok(self.front.credentials.clone())
        }

        fn secret(&mut self) -> Result<u128, Errno> {
            Ok(u128::from(self.front.next.fetch_add(1, Ordering::Relaxed)))
        }

        fn create_socket_file(
            &mut self,
            _path: NtPath<'_>,
            _secret: u128,
            _ty: afunix_device::SockType,
        ) -> Result<(FileIdentity, ()), FsError> {
            Err(FsError::Other(Errno::EOPNOTSUPP))
        }

        fn remove_socket_file(&mut self, _file: ()) {}

        fn open_socket_file(
            &mut self,
            _path: NtPath<'_>,
        ) -> Result<(FileIdentity, Option<u128>), FsError> {
            Err(FsError::Other(Errno::EOPNOTSUPP))
        }

        fn reference(
            &mut self,
            handle: u64,
            _access: afunix_proto::handle::HandleAccess,
        ) -> Result<(FileId, ()), Errno> {
            lock(&self.front.handles)
                .get(&handle)
                .map(|f| (*f, ()))
                .ok_or(Errno::EBADF)
        }

        fn with_device<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> Result<R, Errno> {
            Ok(f(&mut lock(&self.front.state).core))
        }
    }

    /// A handle on the device: its value in the caller's table and its file.
    #[derive(Clone, Copy)]
    struct Handle {
        value: u64,
        file: FileId,
    }

    impl Front<Device> {
        /// CREATE: a new handle on a new, unconfigured file.
        fn open(&self) -> Handle {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let handle = Handle {
                value: n * 4,
                file: FileId(0x1000 + n * 0x100),
            };
            lock(&self.state).core.open(handle.file).expect("open");
            lock(&self.handles).insert(handle.value, handle.file);
            handle
        }

        /// CLEANUP/CLOSE: the file goes, then completions are drained (the driver's `close`).
        fn close(&self, handle: Handle) {
            lock(&self.handles).remove(&handle.value);
            {
                let mut st = lock(&self.state);
                let State {
                    core,
                    pending,
                    copied,
                    ..
                } = &mut *st;
                core.close(
                    handle.file,
                    &mut RequestBuffers {
                        pending,
                        current: None,
                        copied,
                    },
                );
            }
            self.drain();
        }

        /// The driver's `drain`: each completion is taken under the lock, one at a time, and
        /// its thread woken after the lock is released.
        fn drain(&self) {
            loop {
                let mut st = lock(&self.state);
                let Some(c) = st.core.poll_completion() else {
                    return;
                };
                let notify = Self::hand_over(&mut st, c.token, c.result);
                drop(st);
                if notify {
                    self.wake[side_of(c.token)].notify_one();
                }
            }
        }

        /// One request, as the driver's `execute` runs it: decode the request's bytes,
        /// resolve it in the caller's context, execute it under the lock with the request's
        /// data buffer `data` reachable in place, settle, drain, and (if it pended) wait;
        /// then write its reply into `out`.
        fn call(
            &self,
            side: usize,
            file: FileId,
            code: u32,
            input: &[u8],
            mut data: Option<&mut Vec<u8>>,
            out: Option<&mut [u8]>,
        ) -> Result<usize, Errno> {
            let data_len = data.as_ref().map_or(0, |d| d.len());
            let out_len = out.as_ref().map_or(data_len, |o| o.len());
            let request = decode(code, input, out_len).map_err(errno_of)?;
            let mut host = BenchHost { front: self };
            let mut prepared = Prepared::new(&mut host, file, request, data_len)?;
            let token = token_of(side);
            let mut st = lock(&self.state);
            // Room to hold it pending first, as the driver makes it.
            st.pending.try_reserve(1)?;
            let State {
                core,
                pending,
                copied,
                ..
            } = &mut *st;
            let mut bufs = RequestBuffers {
                pending,
                current: data.as_deref_mut().map(|d| (token, d.as_mut_slice())),
                copied,
            };
            let reply = prepared.execute(core, token, &mut bufs);
            let failed = reply.failed();
            let result = match reply {
                Reply::Ready(r) => {
                    drop(st);
                    prepared.settle(&mut host, failed);
                    self.drain();
                    r
                }
                Reply::Pending => {
                    // The request waits: its thread's buffer is lent to the table.
                    let lent = data.as_deref_mut().map(std::mem::take).unwrap_or_default();
                    let _ = st.pending.try_insert(token, lent);
                    drop(st);
                    prepared.settle(&mut host, false);
                    self.drain();
                    let (r, back) = self.wait(side);
                    if let Some(d) = data {
                        *d = back;
                    }
                    r
                }
            };
            write_reply(&result?, out.map(ReplyBuffer::Out))
        }

        fn socket(&self, handle: Handle) {
            let input = encode::socket(1, false);
            self.call(
                0,
                handle.file,
                IOCTL_AFUNIX_SOCKET,
                input.as_bytes(),
                None,
                None,
            )
            .expect("SOCKET");
        }

        /// Two new handles, made a connected pair by SOCKET, SOCKET, SOCKETPAIR.
        fn socketpair(&self) -> (Handle, Handle) {
            let (a, b) = (self.open(), self.open());
            self.socket(a);
            self.socket(b);
            let input = encode::handle(b.value);
            self.call(
                0,
                a.file,
                IOCTL_AFUNIX_SOCKETPAIR,
                input.as_bytes(),
                None,
                None,
            )
            .expect("SOCKETPAIR");
            (a, b)
        }

        /// A listener on abstract name `name`: CREATE, SOCKET, BIND, LISTEN.
        fn listener(&self, name: &[u8]) -> Handle {
            let l = self.open();
            self.socket(l);
            let bind = encode::address(&abstract_sockaddr(name), &[]).expect("encode");
            self.call(0, l.file, IOCTL_AFUNIX_BIND, &bind, None, None)
                .expect("BIND");
            let listen = encode::listen(128);
            self.call(
                0,
                l.file,
                IOCTL_AFUNIX_LISTEN,
                listen.as_bytes(),
                None,
                None,
            )
            .expect("LISTEN");
            l
        }

        /// A connection to `listener` (abstract `name`): CREATE, SOCKET, CONNECT; then
        /// CREATE, SOCKET and ACCEPT onto that new handle. Returns (client, accepted).
        fn connect_accept(&self, listener: Handle, name: &[u8]) -> (Handle, Handle) {
            let c = self.open();
            self.socket(c);
            let connect = encode::address(&abstract_sockaddr(name), &[]).expect("encode");
            self.call(0, c.file, IOCTL_AFUNIX_CONNECT, &connect, None, None)
                .expect("CONNECT");
            let a = self.open();
            self.socket(a);
            let accept = encode::handle(a.value);
            let mut out = [0u8; size_of::<AddressOut>()];
            self.call(
                0,
                listener.file,
                IOCTL_AFUNIX_ACCEPT,
                accept.as_bytes(),
                None,
                Some(&mut out),
            )
            .expect("ACCEPT");
            (c, a)
        }
    }

    fn abstract_sockaddr(name: &[u8]) -> Vec<u8> {
        let mut a = AF_UNIX.to_ne_bytes().to_vec();
        a.push(0);
        a.extend_from_slice(name);
        a
    }

    impl Front<Engine> {
        /// The engine alone, as `benches/throughput.rs` drives it: one lock per call, the
        /// engine called directly, completions drained in the same critical section.
        fn call(&self, side: usize, id: SocketId, send: bool, data: &mut Vec<u8>) -> usize {
            let token = token_of(side);
            let len = data.len();
            let mut st = lock(&self.state);
            st.pending.try_reserve(1).expect("reserve");
            let State {
                core,
                pending,
                copied,
                ..
            } = &mut *st;
            let mut bufs = RequestBuffers {
                pending,
                current: Some((token, data.as_mut_slice())),
                copied,
            };
            let outcome = if send {
                core.send(id, len, SendFlags::default(), token, &mut bufs)
            } else {
                core.recv(id, len, RecvFlags::default(), token, &mut bufs)
            };
            if matches!(outcome, Outcome::Pending) {
                let _ = st.pending.try_insert(token, std::mem::take(data));
            }
            let mut notify = [false; 2];
            while let Some(c) = st.core.poll_completion() {
                let result = c.result.map(|done| match done {
                    Completed::Sent(n) | Completed::Received(n) => Done::Count(n),
                    Completed::Message(r) => Done::Count(r.copied),
                    Completed::Connected | Completed::Accepted => Done::Ok,
                });
                notify[side_of(c.token)] |= Self::hand_over(&mut st, c.token, result);
            }
            drop(st);
            for (cv, n) in self.wake.iter().zip(notify) {
                if n {
                    cv.notify_one();
                }
            }
            match outcome {
                Outcome::Ready(r) => r.expect("send or recv"),
                Outcome::Pending => {
                    let (r, back) = self.wait(side);
                    *data = back;
                    match r {
                        Ok(Done::Count(n)) => n,
                        other => panic!("completion {other:?}"),
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Throughput.

    /// One run: the time, and how many requests both threads made.
    #[derive(Clone, Copy, Default)]
    struct Run {
        time: Duration,
        requests: u64,
        allocations: u64,
        /// Bytes the engine copied (through `Buffers`); zero for Linux.
        copied: u64,
        /// Requests that pended, and waits that slept (not counted for Linux).
        waits: u64,
        sleeps: u64,
    }

    /// Runs a writer (side 0) and a reader (side 1), both pinned to CPU 0, each calling
    /// `step(side, buffer)` (returning the bytes it moved) until `total` bytes have moved.
    fn two_threads<S>(
        size: usize,
        total: usize,
        shared: &Arc<S>,
        step: fn(&S, usize, &mut Vec<u8>) -> usize,
    ) -> Run
    where
        S: Send + Sync + 'static,
    {
        let allocations = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        let threads: Vec<_> = (0..2)
            .map(|side| {
                let shared = Arc::clone(shared);
                std::thread::spawn(move || {
                    pin_to_cpu0();
                    let mut buffer = vec![if side == 0 { 0x5A } else { 0 }; size];
                    let (mut moved, mut requests) = (0, 0u64);
                    while moved < total {
                        moved += step(&shared, side, &mut buffer);
                        requests += 1;
                    }
                    std::hint::black_box(&buffer);
                    requests
                })
            })
            .collect();
        let requests = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        Run {
            time: start.elapsed(),
            requests,
            allocations: ALLOCATIONS.load(Ordering::Relaxed) - allocations,
            copied: 0,
            waits: 0,
            sleeps: 0,
        }
    }

    /// The pair whose writer and reader the path's throughput run drives.
    struct PathPair {
        front: Front<Device>,
        ends: [FileId; 2],
    }

    fn path_run(size: usize, total: usize) -> Run {
        let front = Front::new(Device::new(driver_limits()));
        let (a, b) = front.socketpair();
        let pair = Arc::new(PathPair {
            front,
            ends: [a.file, b.file],
        });
        let run = two_threads(size, total, &pair, |pair, side, buffer| {
            let (code, input) = if side == 0 {
                (IOCTL_AFUNIX_SEND, encode::data(0))
            } else {
                (IOCTL_AFUNIX_RECV, encode::data(0))
            };
            pair.front
                .call(
                    side,
                    pair.ends[side],
                    code,
                    input.as_bytes(),
                    Some(buffer),
                    None,
                )
                .expect("SEND or RECV")
        });
        let copied = lock(&pair.front.state).copied;
        Run {
            copied,
            waits: pair.front.waits.load(Ordering::Relaxed),
            sleeps: pair.front.sleeps.load(Ordering::Relaxed),
            ..run
        }
    }

    struct EnginePair {
        front: Front<Engine>,
        ends: [SocketId; 2],
    }

    fn engine_run(size: usize, total: usize) -> Run {
        let mut engine = Engine::new(driver_limits());
        let (a, b) = engine
            .socketpair(&Credentials::default())
            .expect("socketpair");
        let pair = Arc::new(EnginePair {
            front: Front::new(engine),
            ends: [a, b],
        });
        let run = two_threads(size, total, &pair, |pair, side, buffer| {
            pair.front.call(side, pair.ends[side], side == 0, buffer)
        });
        let copied = lock(&pair.front.state).copied;
        Run {
            copied,
            waits: pair.front.waits.load(Ordering::Relaxed),
            sleeps: pair.front.sleeps.load(Ordering::Relaxed),
            ..run
        }
    }

    struct Fds([libc::c_int; 2]);

    impl Drop for Fds {
        fn drop(&mut self) {
            for fd in self.0 {
                // SAFETY:
                // 1. `fd` is ours, opened by socketpair, and no thread uses it any more.
                unsafe { libc::close(fd) };
            }
        }
    }

    fn linux_run(size: usize, total: usize) -> Run {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY:
        // 1. `fds` is a writable array of two c_ints.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(rc, 0, "socketpair");
        let fds = Arc::new(Fds(fds));
        two_threads(size, total, &fds, |fds, side, buffer| {
            let n = if side == 0 {
                // SAFETY:
                // 1. `buffer` is readable for its length; the fd is open.
                unsafe { libc::send(fds.0[0], buffer.as_ptr().cast(), buffer.len(), 0) }
            } else {
                // SAFETY:
                // 1. `buffer` is writable for its length; the fd is open.
                unsafe { libc::recv(fds.0[1], buffer.as_mut_ptr().cast(), buffer.len(), 0) }
            };
            usize::try_from(n).expect("send or recv")
        })
    }

    fn best(runs: usize, mut f: impl FnMut() -> Run) -> Run {
        (0..runs)
            .map(|_| f())
            .min_by_key(|r| r.time)
            .unwrap_or_default()
    }

    fn mb_s(total: usize, d: Duration) -> f64 {
        total as f64 / d.as_secs_f64() / 1e6
    }

    fn met(ok: bool) -> &'static str {
        if ok { "MET" } else { "NOT MET" }
    }

    fn throughput(opts: &Options) {
        println!("## Stream throughput, one connected pair, writer and reader pinned to CPU 0");
        println!();
        println!(
            "best of {} runs; MB/s = 10^6 bytes/s; requests = both threads' sends and recvs; \
             ns/request = run time / requests (one CPU: what a request costs, copy included)",
            opts.runs
        );
        println!();
        println!(
            "| size | path MB/s | vs Linux | Linux MB/s | path requests/s | path ns/request \
             | engine alone MB/s | path/engine | engine ns/request | copies per byte, path / engine \
             | allocations per request | pended / slept per 1000 requests, path; engine | targets |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let sizes: [(usize, &str, usize); 4] = [
            (64, "64 B", 16 << 20),
            (4 << 10, "4 KiB", 512 << 20),
            (64 << 10, "64 KiB", 2 << 30),
            (1 << 20, "1 MiB", 2 << 30),
        ];
        for (size, label, total) in sizes {
            if opts.size.is_some_and(|s| s != size) {
                continue;
            }
            let total = if opts.quick { total / 8 } else { total };
            // Interleaved, so that a slow moment of the machine hits all three alike.
            let (mut path, mut engine, mut linux) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..opts.runs {
                path.push(path_run(size, total));
                if !opts.path_only {
                    engine.push(engine_run(size, total));
                    linux.push(linux_run(size, total));
                }
            }
            let pick = |v: Vec<Run>| {
                best(v.len(), {
                    let mut it = v.into_iter();
                    move || it.next().unwrap_or_default()
                })
            };
            let (p, e, l) = (pick(path), pick(engine), pick(linux));
            let (pm, em, lm) = (
                mb_s(total, p.time),
                mb_s(total, e.time),
                mb_s(total, l.time),
            );
            let vs_linux = pm / lm;
            let vs_engine = pm / em;
            let mut targets = Vec::new();
            match size {
                64 => targets.push(format!(">= 4x Linux: {}", met(vs_linux >= 4.0))),
                0x10_0000 => {
                    targets.push(format!(">= 2x Linux: {}", met(vs_linux >= 2.0)));
                    targets.push(format!(">= 0.9 of engine: {}", met(vs_engine >= 0.9)));
                }
                _ => {}
            }
            println!(
                "| {label} | {pm:.0} | {vs_linux:.2}x | {lm:.0} | {:.0} | {:.0} | {em:.0} \
                 | {vs_engine:.2} of engine | {:.0} | {:.2} / {:.2} | {:.2} | {:.1} / {:.1}; {:.1} / {:.1} | {} |",
                p.requests as f64 / p.time.as_secs_f64(),
                p.time.as_nanos() as f64 / p.requests as f64,
                e.time.as_nanos() as f64 / e.requests as f64,
                p.copied as f64 / total as f64,
                e.copied as f64 / total as f64,
                p.allocations as f64 / p.requests as f64,
                1000.0 * p.waits as f64 / p.requests as f64,
                1000.0 * p.sleeps as f64 / p.requests as f64,
                1000.0 * e.waits as f64 / e.requests as f64,
                1000.0 * e.sleeps as f64 / e.requests as f64,
                if targets.is_empty() {
                    "-".to_string()
                } else {
                    targets.join("; ")
                }
            );
        }
        println!();
    }

    // ---------------------------------------------------------------------------------------
    // Connection churn.

    /// Linux: the same sequence on real AF_UNIX sockets with abstract names.
    mod linux {
        pub(super) struct Fd(pub(super) libc::c_int);

        impl Drop for Fd {
            fn drop(&mut self) {
                // SAFETY:
                // 1. The fd is ours and is closed exactly once, here.
                unsafe { libc::close(self.0) };
            }
        }

        fn socket() -> Fd {
            // SAFETY:
            // 1. socket() takes no pointers.
            let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            Fd(fd)
        }

        fn address(name: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
            // SAFETY:
            // 1. sockaddr_un is plain data, for which all zeroes is valid.
            let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
            a.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (slot, b) in a.sun_path[1..].iter_mut().zip(name) {
                *slot = *b as libc::c_char;
            }
            let len = 2 + 1 + name.len();
            (a, libc::socklen_t::try_from(len).expect("length"))
        }

        pub(super) fn listener(name: &[u8]) -> Fd {
            let l = socket();
            let (a, len) = address(name);
            // SAFETY:
            // 1. `a` is a valid sockaddr_un of at least `len` bytes; the fd is open.
            let rc = unsafe { libc::bind(l.0, (&raw const a).cast(), len) };
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            // SAFETY:
            // 1. listen() takes no pointers; the fd is open.
            let rc = unsafe { libc::listen(l.0, 128) };
            assert_eq!(rc, 0, "listen: {}", std::io::Error::last_os_error());
            l
        }

        pub(super) fn connect_accept(listener: &Fd, name: &[u8]) -> (Fd, Fd) {
            let c = socket();
            let (a, len) = address(name);
            // SAFETY:
            // 1. `a` is a valid sockaddr_un of at least `len` bytes; the fd is open.
            let rc = unsafe { libc::connect(c.0, (&raw const a).cast(), len) };
            assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
            // SAFETY:
            // 1. Null address and length pointers are allowed (the peer's name is not wanted).
            let fd =
                unsafe { libc::accept(listener.0, std::ptr::null_mut(), std::ptr::null_mut()) };
            assert!(fd >= 0, "accept: {}", std::io::Error::last_os_error());
            (c, Fd(fd))
        }
    }

    fn churn_name(tag: &str) -> Vec<u8> {
        format!("afunix-request-path-{tag}-{}", std::process::id()).into_bytes()
    }

    /// Abstract names for the listeners of a churn: with `full`, a new one each time (Linux
    /// may not yet have released a closed listener's name when the next bind comes, and then
    /// gives EADDRINUSE), written over the last 16 bytes of one buffer; otherwise one name.
    struct Names {
        name: Vec<u8>,
        full: bool,
    }

    impl Names {
        fn new(tag: &str, full: bool) -> Names {
            let mut name = churn_name(tag);
            name.extend_from_slice(b"-0000000000000000");
            Names { name, full }
        }

        fn get(&mut self, i: usize) -> &[u8] {
            if self.full {
                let at = self.name.len() - 16;
                for (k, slot) in self.name[at..].iter_mut().enumerate() {
                    *slot = b"0123456789abcdef"[(i >> (4 * (15 - k))) & 0xF];
                }
            }
            &self.name
        }
    }

    /// Pairs per second: `iterations` of connect + accept + close of both ends; with
    /// `full`, the listener too is made (SOCKET, BIND, LISTEN) and closed each time.
    fn path_churn(iterations: usize, full: bool) -> Duration {
        let front = Front::new(Device::new(driver_limits()));
        let mut names = Names::new("path", full);
        let kept = (!full).then(|| front.listener(names.get(0)));
        let start = Instant::now();
        for i in 0..iterations {
            let name = names.get(i);
            let listener = kept.unwrap_or_else(|| front.listener(name));
            let (c, a) = front.connect_accept(listener, name);
            front.close(c);
            front.close(a);
            if full {
                front.close(listener);
            }
        }
        let time = start.elapsed();
        let stats = lock(&front.state).core.stats();
        assert_eq!(stats.sockets, usize::from(!full), "churn leaked sockets");
        time
    }

    fn linux_churn(iterations: usize, full: bool) -> Duration {
        let mut names = Names::new("linux", full);
        let kept = (!full).then(|| linux::listener(names.get(0)));
        let start = Instant::now();
        for i in 0..iterations {
            let name = names.get(i);
            let made = full.then(|| linux::listener(name));
            let listener = kept.as_ref().or(made.as_ref()).expect("listener");
            let (c, a) = linux::connect_accept(listener, name);
            drop(c);
            drop(a);
            drop(made);
        }
        start.elapsed()
    }

    fn churn(opts: &Options) {
        let iterations = if opts.quick { 5_000 } else { 50_000 };
        println!(
            "## Connection churn, pinned to CPU 0, best of {} runs of {iterations}",
            opts.runs
        );
        println!();
        println!(
            "path: CREATE, SOCKET, CONNECT; CREATE, SOCKET, ACCEPT; close both (Device::close). \
             Linux: socket, connect, accept, close, close. Abstract names."
        );
        println!();
        println!("| churn | path pairs/s | Linux pairs/s | path/Linux | target |");
        println!("|---|---|---|---|---|");
        let handle = std::thread::spawn({
            let runs = opts.runs;
            move || {
                pin_to_cpu0();
                for (full, label) in [
                    (false, "connect + accept + close both, listener kept"),
                    (true, "listener made (SOCKET, BIND, LISTEN) and closed too"),
                ] {
                    let p = (0..runs)
                        .map(|_| path_churn(iterations, full))
                        .min()
                        .unwrap_or_default();
                    let l = (0..runs)
                        .map(|_| linux_churn(iterations, full))
                        .min()
                        .unwrap_or_default();
                    let (pr, lr) = (
                        iterations as f64 / p.as_secs_f64(),
                        iterations as f64 / l.as_secs_f64(),
                    );
                    println!(
                        "| {label} | {pr:.0} | {lr:.0} | {:.2} | >= Linux: {} |",
                        pr / lr,
                        met(pr >= lr)
                    );
                }
            }
        });
        handle.join().expect("churn");
        println!();
    }

    // ---------------------------------------------------------------------------------------
    // Memory per idle connected pair.

    const PAIRS: usize = 10_000;

    struct Held {
        bytes: usize,
        blocks: usize,
        stats: DeviceStats,
    }

    /// Makes `PAIRS` connected pairs with `make` and measures what the device and engine hold
    /// for them: live bytes and blocks after, less before. The handle table's room is made
    /// before the first figure is read, so it is not counted.
    fn held(
        make: impl Fn(&Front<Device>, Option<Handle>) -> (Handle, Handle),
        listen: bool,
    ) -> Held {
        // The driver's cap of 16,384 sockets holds only 8,192 pairs; lift it to hold 10,000.
        let limits = Limits {
            max_sockets: 4 * PAIRS,
            // One user holds them all here.
            user_share: afunix_core::UserShare { divisor: 1 },
            ..driver_limits()
        };
        let front = Front::new(Device::new(limits));
        lock(&front.handles).reserve(3 * PAIRS + 16);
        let listener = listen.then(|| front.listener(&churn_name("memory")));
        // `ends` is the bench's own: made before the first figure is read.
        let mut ends = Vec::with_capacity(PAIRS);
        let before = (
            LIVE_BYTES.load(Ordering::Relaxed),
            LIVE_BLOCKS.load(Ordering::Relaxed),
        );
        for _ in 0..PAIRS {
            ends.push(make(&front, listener));
        }
        let after = (
            LIVE_BYTES.load(Ordering::Relaxed),
            LIVE_BLOCKS.load(Ordering::Relaxed),
        );
        let stats = lock(&front.state).core.stats();
        Held {
            bytes: after.0 - before.0,
            blocks: after.1 - before.1,
            stats,
        }
    }

    fn memory() {
        println!("## Memory per idle connected pair, {PAIRS} pairs made through the path");
        println!();
        println!(
            "live heap bytes of device + engine (a counting global allocator, as the driver's \
             pool counter for STATS), after the pairs were made less before; blocks are \
             allocations (each also costs a pool header in the kernel)"
        );
        println!();
        println!("| pairs made by | bytes per pair | blocks per pair | DeviceStats | target |");
        println!("|---|---|---|---|---|");
        let ways: [(&str, Held); 2] = [
            ("SOCKETPAIR", held(|front, _| front.socketpair(), false)),
            (
                "CONNECT + ACCEPT (abstract name)",
                held(
                    |front, l| front.connect_accept(l.expect("listener"), &churn_name("memory")),
                    true,
                ),
            ),
        ];
        for (label, h) in ways {
            let per_pair = h.bytes as f64 / PAIRS as f64;
            println!(
                "| {label} | {per_pair:.0} | {:.1} | files {}, sockets {}, bindings {}, \
                 bytes_buffered {}, pending {} | <= 2 KiB: {} |",
                h.blocks as f64 / PAIRS as f64,
                h.stats.files,
                h.stats.sockets,
                h.stats.bindings,
                h.stats.bytes_buffered,
                h.stats.pending,
                met(per_pair <= 2048.0)
            );
        }
        println!();
    }

    // ---------------------------------------------------------------------------------------

    struct Options {
        quick: bool,
        runs: usize,
        size: Option<usize>,
        only: Option<String>,
        path_only: bool,
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().collect();
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let quick = args.iter().any(|a| a == "--quick");
        let opts = Options {
            quick,
            runs: value("--runs")
                .and_then(|v| v.parse().ok())
                .unwrap_or(if quick { 1 } else { 5 }),
            size: value("--size").and_then(|v| v.parse().ok()),
            only: value("--only"),
            path_only: args.iter().any(|a| a == "--path-only"),
        };
        let part = |name: &str| opts.only.as_deref().is_none_or(|o| o == name);
        println!("# The request path: decode + afunix-device + engine, against Linux AF_UNIX");
        println!();
        if part("throughput") {
            throughput(&opts);
        }
        if part("churn") {
            churn(&opts);
        }
        if part("memory") {
            memory();
        }
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    bench::main();
    #[cfg(not(target_os = "linux"))]
    println!("the request-path benchmark compares with Linux AF_UNIX and runs on Linux only");
}
