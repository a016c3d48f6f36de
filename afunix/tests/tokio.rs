//! The async sockets (`afunix::tokio`) over the in-process transport, on tokio's stock
//! runtimes: echo with checksums, cancellation by drop with every byte and connection
//! accounted for, and the device left with no socket and no pending request.

use std::future::Future;
use std::io::ErrorKind;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use afunix::tokio::{UnixDatagram, UnixListener, UnixSeqpacket, UnixSeqpacketListener, UnixStream};
use afunix::{Net, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `len` seeded random bytes.
fn payload(rng: &mut fastrand::Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.u8(..)).collect()
}

fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

fn pending(net: &Net) -> usize {
    net.stats().unwrap().pending
}

fn sockets(net: &Net) -> usize {
    net.stats().unwrap().sockets
}

/// The `sockaddr_un` bytes of abstract name `name`.
fn raw_abstract(name: &[u8]) -> Vec<u8> {
    let mut sockaddr = 1u16.to_ne_bytes().to_vec(); // AF_UNIX
    sockaddr.push(0);
    sockaddr.extend_from_slice(name);
    sockaddr
}

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// An echo server on `addr` for `clients` connections, each copied back on its own task.
async fn echo_server(listener: UnixListener, clients: usize) {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (mut stream, _) = listener.accept().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let (mut reader, mut writer) = stream.split();
            tokio::io::copy(&mut reader, &mut writer).await.unwrap();
            writer.shutdown().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// One client: `len` bytes in writes of random sizes, while a second task reads the echo;
/// the echo must have the payload's length and checksum.
async fn echo_client(net: Net, addr: SocketAddr, seed: u64, len: usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let payload = payload(&mut rng, len);
    let stream = UnixStream::connect_addr_on(&net, &addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let expect = (payload.len(), checksum(&payload));
    let reading = tokio::spawn(async move {
        let mut echo = Vec::new();
        reader.read_to_end(&mut echo).await.unwrap();
        (echo.len(), checksum(&echo))
    });
    let mut sent = 0;
    while sent < payload.len() {
        let size = rng.usize(1..=9000);
        let end = (sent + size).min(payload.len());
        writer.write_all(&payload[sent..end]).await.unwrap();
        sent = end;
    }
    writer.shutdown().await.unwrap();
    assert_eq!(
        reading.await.unwrap(),
        expect,
        "client {seed}: the echo differs"
    );
}

async fn echo_run(clients: usize, len: usize) {
    let net = Net::in_process();
    let addr = SocketAddr::from_abstract_name("tokio-echo").unwrap();
    let listener = UnixListener::bind_addr_on(&net, &addr).unwrap();
    let server = tokio::spawn(echo_server(listener, clients));
    let mut tasks = Vec::new();
    for seed in 0..clients as u64 {
        tasks.push(tokio::spawn(echo_client(
            net.clone(),
            addr.clone(),
            seed,
            len,
        )));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.await.unwrap();
    assert_eq!(sockets(&net), 0, "sockets left after every task ended");
    assert_eq!(
        pending(&net),
        0,
        "requests left pending after every task ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn echo_with_checksums_on_the_multi_threaded_runtime() {
    echo_run(100, 64 * 1024).await;
}

#[tokio::test(flavor = "current_thread")]
async fn echo_with_checksums_on_the_current_thread_runtime() {
    echo_run(20, 64 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_while_it_waits_loses_no_byte() {
    let net = Net::in_process();
    let (mut a, mut b) = UnixStream::pair_on(&net).unwrap();
    let data = payload(&mut fastrand::Rng::with_seed(7), 4 << 20);
    let mut sent = 0;
    let mut dropped = 0;
    // Nobody reads yet: the writes fill the buffers, then one waits and is dropped.
    while dropped < 3 {
        match tokio::time::timeout(Duration::from_millis(20), a.write(&data[sent..])).await {
            Ok(n) => sent += n.unwrap(),
            Err(_) => {
                dropped += 1;
                // `AsyncWrite::poll_write` has no future of its own to notice the drop: its
                // wait stays with the socket for the next write, one at most, however many
                // writes are dropped.
                assert_eq!(
                    pending(&net),
                    1,
                    "one wait per direction, kept by the socket"
                );
            }
        }
    }
    assert!(sent > 0 && sent < data.len(), "sent {sent}");
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        got
    });
    a.write_all(&data[sent..]).await.unwrap();
    a.shutdown().await.unwrap();
    let got = reader.await.unwrap();
    drop(a);
    assert_eq!(pending(&net), 0, "the socket's wait outlived it");
    assert_eq!(sockets(&net), 0);
    assert_eq!(got.len(), data.len());
    assert!(
        got == data,
        "bytes lost, repeated or reordered around the dropped writes"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_accept_dropped_while_it_waits_loses_no_connection() {
    let net = Net::in_process();
    let addr = SocketAddr::from_abstract_name("tokio-accept-drop").unwrap();
    let listener = UnixListener::bind_addr_on(&net, &addr).unwrap();
    for round in 0..50u8 {
        {
            let mut accept = pin!(listener.accept());
            assert!(poll_once(accept.as_mut()).is_pending());
            assert_eq!(pending(&net), 1, "the accept waits on one POLL");
            // A client connects while the accept waits, and the accept is dropped before it
            // runs again.
            let client = net.connect_addr(&addr).unwrap();
            std::io::Write::write_all(&mut &client, &[round]).unwrap();
            std::mem::forget(client);
        }
        assert_eq!(
            pending(&net),
            0,
            "the dropped accept's POLL was not cancelled"
        );
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut byte = [0u8];
        stream.read_exact(&mut byte).await.unwrap();
        assert_eq!(
            byte[0], round,
            "round {round}: a connection was lost or reordered"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_read_dropped_while_it_waits_loses_no_byte() {
    let net = Net::in_process();
    let (mut a, b) = UnixStream::pair_on(&net).unwrap();
    let mut buf = [0u8; 16];
    {
        let mut read = pin!(a.read(&mut buf));
        assert!(poll_once(read.as_mut()).is_pending());
        assert_eq!(pending(&net), 1);
        assert_eq!(b.try_write(b"kept").unwrap(), 4);
    }
    assert_eq!(pending(&net), 0);
    let n = a.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"kept");
}

#[tokio::test(flavor = "current_thread")]
async fn a_connect_waits_for_backlog_room_and_is_cancelled_by_drop() {
    let net = Net::in_process();
    let addr = SocketAddr::from_abstract_name("tokio-backlog").unwrap();
    let listener = net.bind_addr(&addr).unwrap();
    // Fill the backlog with non-blocking connects until one would block.
    let mut waiting = Vec::new();
    loop {
        let socket = net.socket().unwrap();
        socket.set_nonblocking(true).unwrap();
        match socket.connect_raw(&raw_abstract(b"tokio-backlog")) {
            Ok(()) => waiting.push(socket),
            Err(e) => {
                assert_eq!(e, afunix::Errno::EAGAIN);
                break;
            }
        }
    }
    {
        let mut connect = pin!(UnixStream::connect_addr_on(&net, &addr));
        assert!(poll_once(connect.as_mut()).is_pending());
        assert_eq!(pending(&net), 1, "the connect waits in the device");
    }
    assert_eq!(pending(&net), 0, "the dropped connect was not cancelled");
    let before = sockets(&net);
    let connect = tokio::spawn({
        let (net, addr) = (net.clone(), addr.clone());
        async move { UnixStream::connect_addr_on(&net, &addr).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !connect.is_finished(),
        "a connect into a full backlog did not wait"
    );
    // Room: the waiting connect completes.
    let _first = listener.accept().unwrap();
    let stream = connect.await.unwrap().unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    assert!(sockets(&net) > before);
}

#[tokio::test(flavor = "current_thread")]
async fn halves_reunite_and_report_the_peer() {
    let net = Net::in_process();
    let (a, b) = UnixStream::pair_on(&net).unwrap();
    assert_eq!(a.peer_cred().unwrap().pid, std::process::id());
    let (read, write) = a.into_split();
    let (read2, write2) = b.into_split();
    let err = read.reunite(write2).unwrap_err();
    let (read, write2) = (err.0, err.1);
    let mut a = read.reunite(write).unwrap();
    let b = read2.reunite(write2).unwrap();
    a.write_all(b"whole").await.unwrap();
    b.readable().await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.try_read(&mut buf).unwrap(), 5);
    assert_eq!(
        b.try_read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_owned_write_half_ends_the_stream() {
    let net = Net::in_process();
    let (a, mut b) = UnixStream::pair_on(&net).unwrap();
    let (_read, mut write) = a.into_split();
    write.write_all(b"last").await.unwrap();
    drop(write);
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last");
}

#[tokio::test(flavor = "current_thread")]
async fn try_write_would_block_when_full_and_writable_waits_for_room() {
    let net = Net::in_process();
    let (a, mut b) = UnixStream::pair_on(&net).unwrap();
    let chunk = vec![1u8; 64 * 1024];
    let mut sent = 0;
    loop {
        match a.try_write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::WouldBlock);
                break;
            }
        }
    }
    {
        // A `writable()` future dropped while it waits takes its request with it.
        let mut writable = pin!(a.writable());
        assert!(poll_once(writable.as_mut()).is_pending());
        assert_eq!(pending(&net), 1);
    }
    assert_eq!(pending(&net), 0, "the dropped writable() was not cancelled");
    let mut writable = pin!(a.writable());
    assert!(poll_once(writable.as_mut()).is_pending());
    let mut sink = vec![0u8; sent];
    b.read_exact(&mut sink).await.unwrap();
    writable.await.unwrap();
    assert!(a.try_write(b"x").unwrap() == 1);
}

#[tokio::test(flavor = "current_thread")]
async fn std_streams_convert_both_ways() {
    let net = Net::in_process();
    let (a, b) = net.pair().unwrap();
    let a = UnixStream::from_std(a).unwrap();
    let b = UnixStream::from_std(b).unwrap();
    let mut a = a.into_std().unwrap();
    std::io::Write::write_all(&mut a, b"blocking").unwrap();
    let mut b = b;
    let mut buf = [0u8; 8];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"blocking");
    // Blocking again: a read waits rather than failing with WouldBlock.
    a.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    let err = std::io::Read::read(&mut a, &mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_keep_boundaries_and_a_dropped_recv_loses_none() {
    let net = Net::in_process();
    let (a, b) = UnixDatagram::pair_on(&net).unwrap();
    {
        let mut buf = [0u8; 32];
        let mut recv = pin!(b.recv(&mut buf));
        assert!(poll_once(recv.as_mut()).is_pending());
        a.send(b"first").await.unwrap();
    }
    a.send(b"second").await.unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(b.recv(&mut buf).await.unwrap(), 5);
    assert_eq!(&buf[..5], b"first");
    assert_eq!(b.recv(&mut buf).await.unwrap(), 6);
    assert_eq!(&buf[..6], b"second");

    // A receiver's queue holds a bounded number of messages: a sender waits for room.
    let named = SocketAddr::from_abstract_name("tokio-dgram").unwrap();
    let server = UnixDatagram::bind_addr_on(&net, &named).unwrap();
    let client = UnixDatagram::from_std(net.unbound_datagram().unwrap()).unwrap();
    client.connect_addr(&named).unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..100u32 {
            client.send(&i.to_le_bytes()).await.unwrap();
        }
    });
    for i in 0..100u32 {
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &i.to_le_bytes());
        assert!(from.is_unnamed());
    }
    sender.await.unwrap();
    assert_eq!(pending(&net), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn seqpacket_records_arrive_whole() {
    let net = Net::in_process();
    let addr = SocketAddr::from_abstract_name("tokio-seqpacket").unwrap();
    let listener = afunix::tokio::UnixSeqpacketListener::bind_addr_on(&net, &addr).unwrap();
    let client = tokio::spawn({
        let net = net.clone();
        let addr = addr.clone();
        async move {
            let conn = UnixSeqpacket::connect_addr_on(&net, &addr).await.unwrap();
            conn.send(b"one").await.unwrap();
            conn.send(b"two!").await.unwrap();
        }
    });
    let conn = listener.accept().await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(conn.recv(&mut buf).await.unwrap(), 3);
    assert_eq!(conn.recv(&mut buf).await.unwrap(), 4);
    client.await.unwrap();
    assert_eq!(
        conn.recv(&mut buf).await.unwrap(),
        0,
        "end of the connection"
    );
    let _: &UnixSeqpacketListener = &listener;
}
