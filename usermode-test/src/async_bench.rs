//! `bench-async`: the async sockets (`afunix::tokio`, tokio's multi-threaded runtime with two
//! workers) beside the blocking library (a thread per connection), on the same echo server
//! load: requests per second (64-byte request, 64-byte answer, one at a time per
//! connection) over 1 and 64 connections, and echo throughput in 64 KiB writes over one
//! connection. Then the cost of waiting sockets: requests per second on one connection while
//! 1000 other sockets wait to read. On Windows, also the alternative the async design was
//! weighed against: tokio's named-pipe client wrapped around the driver's stream handle,
//! whose overlapped ReadFile/WriteFile complete through tokio's own completion port.
//!
//! Prints a table; not a pass/fail test. On Windows (or Wine) through the driver, elsewhere
//! through the in-process engine: the first line says which.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use afunix::tokio::{UnixListener, UnixStream};

use crate::tokio_echo::socket_path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REQUEST: usize = 64;
/// Round trips in all, over the connections, in the requests-per-second runs.
const ROUND_TRIPS: usize = 4000;
/// Bytes echoed in the throughput runs.
const ECHOED: usize = 16 << 20;
const CHUNK: usize = 64 * 1024;

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// An async echo server: each connection echoed on its own task, through a buffer of
/// `CHUNK` bytes as the blocking server's.
async fn async_server(listener: UnixListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// An async echo server bound at a fresh path for `what`, on its own task.
fn serve_async(what: &str) -> Result<(PathBuf, tokio::task::JoinHandle<()>), String> {
    let path = socket_path(&format!("bench-{what}"));
    let listener = UnixListener::bind(&path).map_err(|e| format!("bind: {e}"))?;
    Ok((path, tokio::spawn(async_server(listener))))
}

/// Requests per second: `connections` async clients, each `ROUND_TRIPS / connections`
/// request/answer pairs one after the other.
async fn async_requests(connections: usize) -> Result<f64, String> {
    let (path, server) = serve_async("rps")?;
    let mut streams = Vec::new();
    for _ in 0..connections {
        streams.push(
            UnixStream::connect(&path)
                .await
                .map_err(|e| format!("connect: {e}"))?,
        );
    }
    let start = Instant::now();
    let clients: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let request = [7u8; REQUEST];
                let mut answer = [0u8; REQUEST];
                for _ in 0..ROUND_TRIPS / connections {
                    stream.write_all(&request).await?;
                    stream.read_exact(&mut answer).await?;
                }
                std::io::Result::Ok(())
            })
        })
        .collect();
    for client in clients {
        client
            .await
            .map_err(|e| format!("client: {e}"))?
            .map_err(|e| format!("client: {e}"))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    server.abort();
    let _ = std::fs::remove_file(&path);
    Ok((ROUND_TRIPS / connections * connections) as f64 / seconds)
}

/// Echo throughput over one async connection: a task writes `ECHOED` bytes in `CHUNK`s while
/// the other reads the echo.
async fn async_throughput() -> Result<f64, String> {
    let (path, server) = serve_async("tput")?;
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let start = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let chunk = vec![0x5Au8; CHUNK];
        for _ in 0..ECHOED / CHUNK {
            writer.write_all(&chunk).await?;
        }
        std::io::Result::Ok(writer)
    });
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0;
    while received < ECHOED {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("early EOF".into());
        }
        received += n;
    }
    let seconds = start.elapsed().as_secs_f64();
    writing
        .await
        .map_err(|e| format!("writer: {e}"))?
        .map_err(|e| format!("write: {e}"))?;
    server.abort();
    let _ = std::fs::remove_file(&path);
    Ok(ECHOED as f64 / seconds / f64::from(1 << 20))
}

/// Requests per second on one connection while `idle` other connections each have a task
/// waiting to read (one waiting POLL each).
async fn async_requests_beside_idle(idle: usize) -> Result<f64, String> {
    let (path, server) = serve_async("idle")?;
    let mut waiting = Vec::new();
    for _ in 0..idle {
        let mut stream = UnixStream::connect(&path)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        waiting.push(tokio::spawn(async move {
            let mut byte = [0u8];
            let _ = stream.read(&mut byte).await;
        }));
    }
    // Let every idle reader reach its wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rate = async_requests(1).await;
    for task in waiting {
        task.abort();
    }
    server.abort();
    let _ = std::fs::remove_file(&path);
    rate
}

/// The blocking echo server: a thread per connection.
fn blocking_server(
    listener: afunix::UnixListener,
    connections: usize,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut threads = Vec::new();
        for _ in 0..connections {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    match (&stream).read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if (&stream).write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        for thread in threads {
            let _ = thread.join();
        }
    })
}

fn blocking_requests(connections: usize) -> Result<f64, String> {
    let path = socket_path("bench-brps");
    let listener = afunix::UnixListener::bind(&path).map_err(|e| format!("bind: {e}"))?;
    let server = blocking_server(listener, connections);
    let streams = (0..connections)
        .map(|_| afunix::UnixStream::connect(&path).map_err(|e| format!("connect: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let clients: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || -> std::io::Result<()> {
                let request = [7u8; REQUEST];
                let mut answer = [0u8; REQUEST];
                for _ in 0..ROUND_TRIPS / connections {
                    stream.write_all(&request)?;
                    stream.read_exact(&mut answer)?;
                }
                Ok(())
            })
        })
        .collect();
    for client in clients {
        client
            .join()
            .map_err(|_| "client panicked".to_string())?
            .map_err(|e| format!("client: {e}"))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let _ = server.join();
    let _ = std::fs::remove_file(&path);
    Ok((ROUND_TRIPS / connections * connections) as f64 / seconds)
}

fn blocking_throughput() -> Result<f64, String> {
    let path = socket_path("bench-btput");
    let listener = afunix::UnixListener::bind(&path).map_err(|e| format!("bind: {e}"))?;
    let server = blocking_server(listener, 1);
    let stream = afunix::UnixStream::connect(&path).map_err(|e| format!("connect: {e}"))?;
    let writer = stream.try_clone().map_err(|e| format!("clone: {e}"))?;
    let start = Instant::now();
    let writing = std::thread::spawn(move || -> std::io::Result<afunix::UnixStream> {
        let chunk = vec![0x5Au8; CHUNK];
        for _ in 0..ECHOED / CHUNK {
            (&writer).write_all(&chunk)?;
        }
        Ok(writer)
    });
    let mut buf = vec![0u8; CHUNK];
    let mut received = 0;
    while received < ECHOED {
        let n = (&stream).read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("early EOF".into());
        }
        received += n;
    }
    let seconds = start.elapsed().as_secs_f64();
    let writer = writing
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(|e| format!("write: {e}"))?;
    drop((writer, stream));
    let _ = server.join();
    let _ = std::fs::remove_file(&path);
    Ok(ECHOED as f64 / seconds / f64::from(1 << 20))
}

pub fn run() -> Result<(), String> {
    let place = if cfg!(windows) {
        "through the driver (Windows build; under Wine here)"
    } else {
        "through the in-process engine (host)"
    };
    println!(
        "bench-async: {place}; tokio multi-threaded runtime, 2 workers, against a thread per connection"
    );
    println!("| load | afunix::tokio | blocking | ratio |");
    println!("|------|---------------|----------|-------|");
    let rt = runtime()?;
    for connections in [1, 64] {
        let a = rt.block_on(async_requests(connections))?;
        let b = blocking_requests(connections)?;
        println!(
            "| requests/s, {REQUEST} B, {connections} connection(s) | {a:.0} | {b:.0} | {:.2}x |",
            a / b
        );
    }
    let a = rt.block_on(async_throughput())?;
    let b = blocking_throughput()?;
    println!(
        "| echo MiB/s, {} KiB writes, 1 connection | {a:.1} | {b:.1} | {:.2}x |",
        CHUNK / 1024,
        a / b
    );
    let idle = rt.block_on(async_requests_beside_idle(1000))?;
    println!("| requests/s, 1 connection, beside 1000 sockets waiting to read | {idle:.0} | | |");
    named_pipe(&rt)?;
    Ok(())
}

/// The named-pipe alternative: tokio's `NamedPipeClient` over the driver's stream handle.
#[cfg(windows)]
fn named_pipe(_: &tokio::runtime::Runtime) -> Result<(), String> {
    use std::os::windows::io::IntoRawHandle;
    use tokio::net::windows::named_pipe::NamedPipeClient;

    let path = socket_path("bench-pipe");
    let listener = afunix::UnixListener::bind(&path).map_err(|e| format!("bind: {e}"))?;
    let server = blocking_server(listener, 1);
    let stream = afunix::UnixStream::connect(&path).map_err(|e| format!("connect: {e}"))?;
    // tokio's own I/O driver (mio's completion port) serves the named-pipe client.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let rate = rt.block_on(async move {
        // SAFETY:
        // 1. An overlapped handle of the driver's, owned and given up here; ReadFile and
        //    WriteFile are all the named-pipe client issues on it.
        let mut pipe = unsafe { NamedPipeClient::from_raw_handle(stream.into_raw_handle()) }
            .map_err(|e| format!("NamedPipeClient::from_raw_handle: {e}"))?;
        let request = [7u8; REQUEST];
        let mut answer = [0u8; REQUEST];
        let start = Instant::now();
        for _ in 0..ROUND_TRIPS {
            pipe.write_all(&request)
                .await
                .map_err(|e| format!("write: {e}"))?;
            pipe.read_exact(&mut answer)
                .await
                .map_err(|e| format!("read: {e}"))?;
        }
        Ok::<f64, String>(ROUND_TRIPS as f64 / start.elapsed().as_secs_f64())
    })?;
    let _ = server.join();
    let _ = std::fs::remove_file(&path);
    println!(
        "| requests/s, 1 connection, tokio's NamedPipeClient over the driver's handle (overlapped ReadFile/WriteFile through tokio's port) | {rate:.0} | | |"
    );
    Ok(())
}

#[cfg(not(windows))]
fn named_pipe(_: &tokio::runtime::Runtime) -> Result<(), String> {
    Ok(())
}
