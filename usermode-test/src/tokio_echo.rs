//! `tokio-echo`: a tokio echo server and many concurrent clients through `afunix::tokio`, on
//! tokio's stock multi-threaded runtime: each client sends its payload in writes of random
//! sizes while another task reads the echo, and compares length and checksum. Then the same
//! load again, every task dropped at a random point; then the runtime goes, and the sockets
//! and pending requests must be back to zero (the driver's STATS on Windows, the in-process
//! device's counts elsewhere).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use afunix::tokio::{UnixListener, UnixStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Concurrent clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Bytes each client sends (and gets back).
    #[arg(long, default_value_t = 64 * 1024)]
    bytes: usize,
    /// Seed of the write sizes, payloads and drop points.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A socket path in the temporary directory for `what`, with no stale file left at it.
pub(crate) fn socket_path(what: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("afunix-{what}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Echoes every connection on its own task until the listener is dropped.
async fn serve(listener: UnixListener) -> Result<(), String> {
    loop {
        let (mut stream, _) = listener.accept().await.map_err(|e| {
            eprintln!("tokio-echo: the server's accept failed: {e}");
            format!("accept: {e}")
        })?;
        tokio::spawn(async move {
            let (mut reader, mut writer) = stream.split();
            match tokio::io::copy(&mut reader, &mut writer).await {
                Ok(_) => {
                    let _ = writer.shutdown().await;
                }
                Err(e) => eprintln!("tokio-echo: the server's copy failed: {e}"),
            }
        });
    }
}

/// One client: connect, write the payload in random-size writes while a second task reads
/// the echo; the echo's length and checksum must be the payload's.
async fn client(path: PathBuf, seed: u64, len: usize) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let payload: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|e| format!("client {seed}: connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let reading = tokio::spawn(async move {
        let mut echo = Vec::with_capacity(len);
        reader.read_to_end(&mut echo).await.map(|_| echo)
    });
    let mut sent = 0;
    while sent < payload.len() {
        let end = (sent + rng.usize(1..=8192)).min(payload.len());
        writer
            .write_all(&payload[sent..end])
            .await
            .map_err(|e| format!("client {seed}: write: {e}"))?;
        sent = end;
    }
    writer
        .shutdown()
        .await
        .map_err(|e| format!("client {seed}: shutdown: {e}"))?;
    let echo = reading
        .await
        .map_err(|e| format!("client {seed}: reader: {e}"))?
        .map_err(|e| format!("client {seed}: read: {e}"))?;
    let (got, sent) = (crc32fast::hash(&echo), crc32fast::hash(&payload));
    if (echo.len(), got) != (payload.len(), sent) {
        return Err(format!(
            "client {seed}: echo of {} bytes (CRC-32 {got:08x}) for {} sent ({sent:08x})",
            echo.len(),
            payload.len(),
        ));
    }
    Ok(())
}

/// Every client at once against one server: the time it took.
async fn echo_all(args: &Args) -> Result<Duration, String> {
    let path = socket_path("tokio-echo");
    let listener = UnixListener::bind(&path).map_err(|e| format!("bind: {e}"))?;
    let server = tokio::spawn(serve(listener));
    let start = Instant::now();
    let clients: Vec<_> = (0..args.clients as u64)
        .map(|i| tokio::spawn(client(path.clone(), args.seed.wrapping_add(i), args.bytes)))
        .collect();
    let mut failures = Vec::new();
    for task in clients {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("a client task failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_file(&path);
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} of {} clients failed; the first: {first}",
            failures.len(),
            args.clients
        ));
    }
    Ok(elapsed)
}

/// The same load, each client dropped at a random point within `span` (how long the whole
/// load took the first time): some while connecting, most while waiting to read or write.
/// The server and the clients' reading tasks go with the runtime. Returns how many clients
/// were dropped before they finished.
async fn drop_all(args: &Args, span: Duration) -> Result<usize, String> {
    let path = socket_path("tokio-drops");
    let listener = UnixListener::bind(&path).map_err(|e| format!("bind: {e}"))?;
    tokio::spawn(serve(listener));
    let mut rng = fastrand::Rng::with_seed(args.seed ^ 0xD209);
    let span_us = u64::try_from(span.as_micros()).unwrap_or(u64::MAX).max(1);
    let clients: Vec<_> = (0..args.clients as u64)
        .map(|i| {
            let deadline = Duration::from_micros(rng.u64(..span_us));
            let client = client(path.clone(), args.seed.wrapping_add(i), args.bytes);
            tokio::spawn(tokio::time::timeout(deadline, client))
        })
        .collect();
    let mut dropped = 0;
    for task in clients {
        match task.await {
            Err(e) => return Err(format!("a client task failed: {e}")),
            Ok(Err(_elapsed)) => dropped += 1,
            // Finished before its time: it must have finished right.
            Ok(Ok(result)) => result?,
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(dropped)
}

pub fn run(args: &Args) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let elapsed = runtime.block_on(echo_all(args))?;
    let total = (args.clients * args.bytes) as f64;
    println!(
        "tokio-echo: {} clients, {} bytes each in random-size writes, echoed with matching checksums in {:.2} s ({:.1} MiB/s each way)",
        args.clients,
        args.bytes,
        elapsed.as_secs_f64(),
        total / elapsed.as_secs_f64() / f64::from(1 << 20)
    );
    let dropped = runtime.block_on(drop_all(args, elapsed))?;
    // The runtime goes, and every task it still held with it.
    drop(runtime);
    println!(
        "tokio-echo: {} clients again, {dropped} of them dropped at random points before they finished; then the server and every other task dropped with the runtime",
        args.clients
    );
    expect_empty()
}

#[cfg(windows)]
fn expect_empty() -> Result<(), String> {
    crate::faults::expect_empty("tokio-echo")
}

/// On the host, the in-process engine's counts.
#[cfg(not(windows))]
fn expect_empty() -> Result<(), String> {
    let stats = afunix::Net::system()
        .stats()
        .ok_or("no counts from the in-process engine")?;
    if stats.sockets != 0 || stats.pending != 0 {
        return Err(format!(
            "tokio-echo: {} sockets and {} pending requests left",
            stats.sockets, stats.pending
        ));
    }
    println!("tokio-echo: 0 sockets and 0 pending requests left in the in-process engine");
    Ok(())
}
