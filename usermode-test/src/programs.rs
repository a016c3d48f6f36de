//! The stand-alone programs the Wine harness runs: `server` and `client` in two processes,
//! `stress`, and the cancellation checks `cancel` and `hold`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use afunix::{Net, UnixStream};

/// `usermode-test server PATH --connections N`: binds PATH, then for each of N connections
/// reads lines and answers each in upper case, until the client closes.
pub fn server(path: &Path, connections: usize) -> Result<(), String> {
    let net = Net::system();
    let listener = match net.bind(path) {
        // A socket file left by an earlier server that nobody listens on any more: remove
        // it and bind again, as servers on Linux do, so that the server can be run again.
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && stale(&net, path) => {
            std::fs::remove_file(path).map_err(|e| about_path("remove", path, &e))?;
            println!("server: removed the stale socket file {}", path.display());
            net.bind(path)
        }
        bound => bound,
    }
    .map_err(|e| about_path("bind", path, &e))?;
    println!("server: listening on {}", path.display());
    for n in 1..=connections {
        let (stream, peer) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        let cred = stream.peer_cred().map_err(|e| format!("peer_cred: {e}"))?;
        println!("server: connection {n} from {peer:?}, pid {}", cred.pid);
        let mut lines = 0;
        for line in BufReader::new(&stream).lines() {
            let line = line.map_err(|e| format!("read: {e}"))?;
            (&stream)
                .write_all(format!("{}\n", line.to_uppercase()).as_bytes())
                .map_err(|e| format!("write: {e}"))?;
            lines += 1;
        }
        println!("server: connection {n} closed after {lines} line(s)");
    }
    Ok(())
}

/// Whether `path` is a socket file nobody listens on: connecting is refused.
fn stale(net: &Net, path: &Path) -> bool {
    matches!(net.connect(path), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// "OP PATH: error", or the error alone when it is about the driver rather than the path
/// (it then says that the driver is not running, and how to start it).
fn about_path(op: &str, path: &Path, e: &std::io::Error) -> String {
    if afunix::DriverUnavailable::of(e).is_some() {
        e.to_string()
    } else {
        format!("{op} {}: {e}", path.display())
    }
}

/// `usermode-test client PATH --message M`: connects, sends M as a few lines, checks each
/// answer.
pub fn client(path: &Path, message: &str) -> Result<(), String> {
    // The server may still be starting: retry while the socket file is missing or nobody
    // listens yet, for a few seconds; but not when the driver itself is missing.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline && afunix::DriverUnavailable::of(&e).is_none() => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(about_path("connect", path, &e)),
        }
    };
    println!(
        "client: connected to {:?}",
        stream.peer_addr().map_err(|e| format!("peer_addr: {e}"))?
    );
    let mut reader = BufReader::new(&stream);
    for word in message.split_whitespace() {
        (&stream)
            .write_all(format!("{word}\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut reply = String::new();
        reader
            .read_line(&mut reply)
            .map_err(|e| format!("read: {e}"))?;
        println!("client: sent {word:?}, got {:?}", reply.trim_end());
        if reply.trim_end() != word.to_uppercase() {
            return Err(format!("expected {:?}", word.to_uppercase()));
        }
    }
    Ok(())
}

/// `usermode-test stress`: `connections` concurrent connections, each moving `megabytes`
/// MiB in chunks of random size, checked end to end with a checksum of position-dependent
/// bytes. Prints the throughput.
pub fn stress(connections: usize, megabytes: usize, faults: bool) -> Result<(), String> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let net = Net::system();
    let total = megabytes << 20;
    let start = Instant::now();
    // With --faults, calls the driver refuses for want of memory (ENOBUFS, ENOMEM) are
    // counted and made again; every byte a write reported accepted must still arrive, once
    // and in order.
    let refusals = Arc::new(AtomicU64::new(0));
    let tolerate = move |e: &std::io::Error| faults && crate::faults::refused(e);
    let workers: Vec<_> = (0..connections)
        .map(|id| {
            let mut n = 0;
            let pair = if faults {
                crate::faults::retry(&mut n, || net.pair())
            } else {
                net.pair()
            };
            refusals.fetch_add(n, Ordering::Relaxed);
            let (a, b) = pair.map_err(|e| format!("pair: {e}"))?;
            let writer_refusals = Arc::clone(&refusals);
            let writer = std::thread::spawn(move || -> Result<u64, String> {
                let mut seed = 0x9E37_79B9u32 ^ (id as u32).wrapping_mul(0x85EB_CA6B);
                let mut chunk = vec![0u8; 256 * 1024];
                let (mut sent, mut sum) = (0usize, 0u64);
                while sent < total {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let n = (1 + seed as usize % chunk.len()).min(total - sent);
                    for (i, byte) in chunk[..n].iter_mut().enumerate() {
                        *byte = pattern(id, sent + i);
                        sum = sum.wrapping_mul(31).wrapping_add(u64::from(*byte));
                    }
                    let mut done = 0;
                    while done < n {
                        match (&a).write(&chunk[done..n]) {
                            Ok(0) => {
                                return Err(format!("connection {id}: write accepted 0 bytes"));
                            }
                            Ok(k) => done += k,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) if tolerate(&e) => {
                                writer_refusals.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            Err(e) => return Err(format!("connection {id}: write: {e}")),
                        }
                    }
                    sent += n;
                }
                Ok(sum)
            });
            let reader_refusals = Arc::clone(&refusals);
            let reader = std::thread::spawn(move || -> Result<u64, String> {
                let mut buf = vec![0u8; 100_000];
                let (mut received, mut sum) = (0usize, 0u64);
                while received < total {
                    let n = match (&b).read(&mut buf) {
                        Ok(n) => n,
                        Err(e) if tolerate(&e) => {
                            reader_refusals.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        Err(e) => return Err(format!("connection {id}: read: {e}")),
                    };
                    if n == 0 {
                        return Err(format!("connection {id}: EOF after {received} bytes"));
                    }
                    for (i, byte) in buf[..n].iter().enumerate() {
                        if *byte != pattern(id, received + i) {
                            return Err(format!("connection {id}: byte {} is wrong", received + i));
                        }
                        sum = sum.wrapping_mul(31).wrapping_add(u64::from(*byte));
                    }
                    received += n;
                }
                Ok(sum)
            });
            Ok((id, writer, reader))
        })
        .collect::<Result<_, String>>()?;
    for (id, writer, reader) in workers {
        let sent = writer.join().map_err(|_| "writer panicked".to_string())??;
        let received = reader.join().map_err(|_| "reader panicked".to_string())??;
        if sent != received {
            return Err(format!(
                "connection {id}: checksum {sent:#x} sent, {received:#x} received"
            ));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let moved = (connections * total) as f64 / (1 << 20) as f64;
    println!(
        "stress: {connections} connections x {megabytes} MiB in random chunks, checksums equal: {moved:.0} MiB in {seconds:.2} s ({:.0} MiB/s)",
        moved / seconds
    );
    if faults {
        println!(
            "stress: {} calls refused with ENOBUFS/ENOMEM and made again; no accepted byte lost",
            refusals.load(Ordering::Relaxed)
        );
        crate::faults::expect_empty("stress with faults")?;
    }
    Ok(())
}

/// The byte at `offset` of connection `id`'s stream: a position-dependent pattern, so a lost,
/// repeated or reordered byte shows.
fn pattern(id: usize, offset: usize) -> u8 {
    (offset
        .wrapping_mul(7)
        .wrapping_add(offset >> 8)
        .wrapping_add(id * 13)
        % 251) as u8
}

/// `usermode-test bench`: throughput at a few sizes and round-trip time between two threads,
/// through whatever `Net::system()` is here (the driver on Windows and under Wine).
pub fn bench() -> Result<(), String> {
    let net = Net::system();
    for size in [64usize, 4096, 65536, 1 << 20] {
        let (a, b) = net.pair().map_err(|e| format!("pair: {e}"))?;
        // 16 MiB, in at least 20 and at most 20000 writes (small writes cost per call).
        let total = size * ((16usize << 20) / size).clamp(20, 20_000);
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            let chunk = vec![0x5Au8; size];
            let mut sent = 0;
            while sent < total {
                (&a).write_all(&chunk)?;
                sent += size;
            }
            Ok(())
        });
        let start = Instant::now();
        let mut buf = vec![0u8; size.max(65536)];
        let mut received = 0;
        while received < total {
            let n = (&b).read(&mut buf).map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("early EOF".into());
            }
            received += n;
        }
        writer
            .join()
            .map_err(|_| "writer panicked".to_string())?
            .map_err(|e| format!("write: {e}"))?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "bench: {size:>8} B writes: {:>8.1} MiB/s",
            total as f64 / (1 << 20) as f64 / seconds
        );
    }
    let (a, b) = net.pair().map_err(|e| format!("pair: {e}"))?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let mut byte = [0u8; 1];
        while (&b).read(&mut byte)? == 1 {
            (&b).write_all(&byte)?;
        }
        Ok(())
    });
    let rounds = 2000;
    let start = Instant::now();
    let mut byte = [1u8; 1];
    for _ in 0..rounds {
        (&a).write_all(&byte).map_err(|e| format!("write: {e}"))?;
        (&a).read_exact(&mut byte)
            .map_err(|e| format!("read: {e}"))?;
    }
    let rtt = start.elapsed() / rounds;
    drop(a);
    let _ = echo.join();
    println!(
        "bench: round trip (1 byte each way, two threads): {:.1} us",
        rtt.as_secs_f64() * 1e6
    );
    Ok(())
}

/// `usermode-test permissions`: run as an unprivileged user (under Wine, an unprivileged Linux
/// user, whose permissions Wine maps onto Windows access checks). Binding in a directory the
/// user may not write is EACCES; connecting to a socket file the user may not write is
/// EACCES, and works again once the file is writable.
pub fn permissions(read_only_dir: &Path, work_dir: &Path) -> Result<(), String> {
    use std::io::ErrorKind;
    let net = Net::system();
    match net.bind(read_only_dir.join("denied.sock")) {
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            println!(
                "permissions: bind in {} refused: {e}",
                read_only_dir.display()
            );
        }
        other => {
            return Err(format!(
                "bind in a read-only directory: expected EACCES, got {other:?}"
            ));
        }
    }
    let path = work_dir.join("read-only.sock");
    let _ = std::fs::remove_file(&path);
    let _listener = net
        .bind(&path)
        .map_err(|e| format!("bind {}: {e}", path.display()))?;
    let set_read_only = |read_only: bool| -> Result<(), String> {
        let mut perms = std::fs::metadata(&path)
            .map_err(|e| format!("metadata: {e}"))?
            .permissions();
        perms.set_readonly(read_only);
        std::fs::set_permissions(&path, perms).map_err(|e| format!("set_permissions: {e}"))
    };
    set_read_only(true)?;
    match net.connect(&path) {
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            println!("permissions: connect to a socket file without write permission refused: {e}");
        }
        other => {
            return Err(format!(
                "connect to a read-only socket file: expected EACCES, got {other:?}"
            ));
        }
    }
    set_read_only(false)?;
    net.connect(&path)
        .map_err(|e| format!("connect once writable again: {e}"))?;
    println!("permissions: connect works again once the file is writable");
    Ok(())
}
