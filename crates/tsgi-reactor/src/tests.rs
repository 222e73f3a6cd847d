//! Reactor tests over real loopback sockets: a client thread talks uwsgi, the test
//! thread polls the reactor and plays JavaScript's part.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::batch::{self, Batch};
use crate::{Config, Protocol, Reactor, WriteEnd};

/// One decoded batch event, as JavaScript would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Request { token: u32, vars: Vec<(String, String)>, content_length: u64, flags: u32 },
    Body(u32, Vec<u8>),
    BodyEnd(u32),
    Abort(u32, u32),
    Drain(u32),
    Log(String),
}

fn decode(arena: &[u8], index: &[u32], words: usize) -> Vec<Event> {
    let text = |off: u32, len: u32| String::from_utf8_lossy(&arena[off as usize..(off + len) as usize]).into_owned();
    let mut events = Vec::new();
    let mut i = 0;
    while i < words {
        match index[i] {
            batch::REQUEST => {
                let nvars = index[i + 3] as usize;
                let vars = (0..nvars)
                    .map(|v| {
                        let w = &index[i + batch::REQUEST_HEADER_WORDS + v * batch::VAR_WORDS..];
                        (text(w[1], w[2]), text(w[3], w[4]))
                    })
                    .collect();
                let content_length = u64::from(index[i + 4]) | (u64::from(index[i + 5]) << 32);
                events.push(Event::Request { token: index[i + 1], vars, content_length, flags: index[i + 6] });
                i += batch::REQUEST_HEADER_WORDS + batch::VAR_WORDS * nvars;
            }
            batch::BODY => {
                let (off, len) = (index[i + 2] as usize, index[i + 3] as usize);
                events.push(Event::Body(index[i + 1], arena[off..off + len].to_vec()));
                i += 4;
            }
            batch::BODY_END => {
                events.push(Event::BodyEnd(index[i + 1]));
                i += 2;
            }
            batch::ABORT => {
                events.push(Event::Abort(index[i + 1], index[i + 2]));
                i += 3;
            }
            batch::DRAIN => {
                events.push(Event::Drain(index[i + 1]));
                i += 2;
            }
            batch::LOG => {
                events.push(Event::Log(text(index[i + 2], index[i + 3])));
                i += 4;
            }
            kind => panic!("unknown event kind {kind}"),
        }
    }
    events
}

struct Harness {
    reactor: Reactor,
    arena: Vec<u8>,
    index: Vec<u32>,
    address: String,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let mut reactor = Reactor::new(config).unwrap();
        let address = reactor.listen("127.0.0.1:0", Protocol::Uwsgi, 128, 0).unwrap().local;
        Harness { reactor, arena: vec![0; 1 << 20], index: vec![0; 1 << 16], address }
    }

    /// Polls until `done` says the events collected so far suffice, or 5 s pass.
    fn poll_until(&mut self, mut done: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
        let mut all = Vec::new();
        let start = Instant::now();
        while !done(&all) {
            assert!(start.elapsed() < Duration::from_secs(5), "timed out; events so far: {all:?}");
            all.extend(self.poll_once());
            thread::sleep(Duration::from_millis(2));
        }
        all
    }

    /// One poll, as the binding makes it, and the events of its batch.
    fn poll_once(&mut self) -> Vec<Event> {
        let words = {
            let mut batch = Batch::new(&mut self.arena, &mut self.index);
            self.reactor.poll(&mut batch);
            batch.words()
        };
        let events = decode(&self.arena, &self.index, words);
        self.reactor.flush_corked();
        events
    }

    /// Polls until every connection is closed, or 5 s pass.
    fn until_no_connections(&mut self) -> Vec<Event> {
        let start = Instant::now();
        let mut all = Vec::new();
        while self.reactor.connections() > 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "a connection stays open; events: {all:?}");
            all.extend(self.poll_once());
            thread::sleep(Duration::from_millis(2));
        }
        all
    }

    /// A GET is delivered and answered.
    fn serves_a_request(&mut self) {
        let reply = client(&self.address, packet(&[("REQUEST_METHOD", "GET")], b""));
        let events = self.poll_until(|e| !e.is_empty());
        self.respond(token_of(&events), b"HTTP/1.1 200 OK\r\n\r\n");
        self.reactor.flush_corked();
        assert_eq!(reply.join().unwrap(), b"HTTP/1.1 200 OK\r\n\r\n");
    }

    fn respond(&mut self, token: u32, bytes: &[u8]) {
        self.write(token, bytes, WriteEnd::Close);
    }

    /// Writes `bytes` of the response to `token`, flushed at once.
    fn write(&mut self, token: u32, bytes: &[u8], end: WriteEnd) -> i64 {
        self.reactor.output(token).expect("request alive").extend_from_slice(bytes);
        let queued = self.reactor.commit_write(token, end);
        assert!(queued >= 0);
        queued
    }
}

fn packet(vars: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (k, v) in vars {
        block.extend_from_slice(&(k.len() as u16).to_le_bytes());
        block.extend_from_slice(k.as_bytes());
        block.extend_from_slice(&(v.len() as u16).to_le_bytes());
        block.extend_from_slice(v.as_bytes());
    }
    let mut out = vec![0, block.len() as u8, (block.len() >> 8) as u8, 0];
    out.extend_from_slice(&block);
    out.extend_from_slice(body);
    out
}

fn client(address: &str, bytes: Vec<u8>) -> thread::JoinHandle<Vec<u8>> {
    let address = address.to_string();
    thread::spawn(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(&bytes).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        response
    })
}

fn token_of(events: &[Event]) -> u32 {
    events
        .iter()
        .find_map(|e| if let Event::Request { token, .. } = e { Some(*token) } else { None })
        .expect("a request")
}

#[test]
fn a_request_is_delivered_with_its_vars_and_answered() {
    let mut h = Harness::new(Config::default());
    let reply = client(
        &h.address,
        packet(&[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/x"), ("HTTP_CONTENT_LENGTH", "9")], b""),
    );
    let events = h.poll_until(|e| !e.is_empty());
    let Event::Request { token, vars, content_length, .. } = &events[0] else { panic!("{events:?}") };
    // HTTP_CONTENT_LENGTH never reaches the app (PEP 3333).
    assert_eq!(vars, &[("REQUEST_METHOD".into(), "GET".into()), ("PATH_INFO".into(), "/x".into())]);
    assert_eq!(*content_length, 0);
    h.respond(*token, b"HTTP/1.1 200 OK\r\n\r\nhi");
    h.reactor.flush_corked();
    assert_eq!(reply.join().unwrap(), b"HTTP/1.1 200 OK\r\n\r\nhi");
}

#[test]
fn the_body_streams_and_ends() {
    let mut h = Harness::new(Config::default());
    let body = vec![7u8; 300_000];
    let reply = client(&h.address, packet(&[("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "300000")], &body));
    let events = h.poll_until(|e| e.iter().any(|e| matches!(e, Event::BodyEnd(_))));
    let token = token_of(&events);
    let received: Vec<u8> = events
        .iter()
        .filter_map(|e| if let Event::Body(_, b) = e { Some(b.clone()) } else { None })
        .flatten()
        .collect();
    assert_eq!(received, body);
    h.respond(token, b"HTTP/1.1 204 No Content\r\n\r\n");
    h.reactor.flush_corked();
    assert_eq!(reply.join().unwrap(), b"HTTP/1.1 204 No Content\r\n\r\n");
}

#[test]
fn a_body_cut_short_aborts_the_request() {
    let mut h = Harness::new(Config::default());
    let mut stream = TcpStream::connect(&h.address).unwrap();
    stream.write_all(&packet(&[("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "100")], b"only ten..")).unwrap();
    let events = h.poll_until(|e| e.iter().any(|e| matches!(e, Event::Body(..))));
    let token = token_of(&events);
    drop(stream);
    let events = h.poll_until(|e| e.iter().any(|e| matches!(e, Event::Abort(..))));
    assert!(events.contains(&Event::Abort(token, batch::AbortReason::BodyTruncated as u32)), "{events:?}");
    assert_eq!(h.reactor.output(token), None, "the request is gone");
}

#[test]
fn a_panic_costs_one_connection_and_is_logged() {
    let mut h = Harness::new(Config::default());
    h.reactor.panic_on_request = true;
    let reply = client(&h.address, packet(&[("REQUEST_METHOD", "GET")], b""));
    let events = h.poll_until(|e| e.iter().any(|e| matches!(e, Event::Log(_))));
    assert!(
        matches!(&events[..], [Event::Log(text)] if text.contains("internal error") && text.contains("injected")),
        "{events:?}"
    );
    assert!(reply.join().unwrap().is_empty(), "the connection was closed without a response");
    assert_eq!(h.reactor.connections(), 0);
    // The reactor goes on serving.
    h.reactor.panic_on_request = false;
    h.serves_a_request();
}

#[test]
fn a_panic_while_a_handler_holds_the_read_buffer_does_not_cost_the_next_connections() {
    let mut h = Harness::new(Config::default());
    // As a panic inside a parse leaves it: the buffer taken out of the scratch, not put back.
    h.reactor.cx.scratch.read = Box::default();
    h.reactor.panic_on_request = true;
    let reply = client(&h.address, packet(&[("REQUEST_METHOD", "GET")], b""));
    h.poll_until(|e| e.iter().any(|e| matches!(e, Event::Log(_))));
    assert!(reply.join().unwrap().is_empty());
    h.reactor.panic_on_request = false;
    // An empty read buffer would read as the peer's end: this request would never arrive.
    h.serves_a_request();
}

#[test]
fn a_stalled_head_is_closed_after_the_socket_timeout() {
    let mut h = Harness::new(Config { socket_timeout_ms: 200, ..Config::default() });
    let mut stream = TcpStream::connect(&h.address).unwrap();
    stream.write_all(&[0, 10]).unwrap();
    let started = Instant::now();
    let events = h.poll_until(|e| e.iter().any(|e| matches!(e, Event::Log(t) if t.contains("socket-timeout"))));
    assert!(started.elapsed() >= Duration::from_millis(150), "{events:?}");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn a_refused_request_gets_its_static_response_and_the_rest_is_drained() {
    let mut h = Harness::new(Config::default());
    // CONTENT_LENGTH "12abc" (U16): 400 before the app, and the body after it is not parsed.
    let reply = client(&h.address, packet(&[("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "12abc")], b"abcdefghijkl"));
    let events = h.poll_until(|e| e.iter().any(|e| matches!(e, Event::Log(_))));
    assert!(events.iter().all(|e| matches!(e, Event::Log(_))), "the app sees nothing: {events:?}");
    let response = reply.join().unwrap();
    assert!(response.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{}", String::from_utf8_lossy(&response));
}

#[test]
fn writes_past_the_high_water_mark_ask_for_drain() {
    let mut h = Harness::new(Config { write_high_water: 1024, ..Config::default() });
    let mut stream = TcpStream::connect(&h.address).unwrap();
    stream.write_all(&packet(&[("REQUEST_METHOD", "GET")], b"")).unwrap();
    let token = token_of(&h.poll_until(|e| !e.is_empty()));
    // Far more than the socket buffers hold, while the client reads nothing yet.
    h.reactor.output(token).unwrap().extend(std::iter::repeat_n(b'x', 16 << 20));
    let queued = h.reactor.commit_write(token, WriteEnd::More);
    assert!(queued > 1024, "queued {queued}");
    let reader = thread::spawn(move || {
        let mut buf = vec![0; 1 << 16];
        let mut total = 0;
        while total < 16 << 20 {
            total += stream.read(&mut buf).unwrap();
        }
        total
    });
    let events = h.poll_until(|e| e.contains(&Event::Drain(token)));
    assert_eq!(events.iter().filter(|e| **e == Event::Drain(token)).count(), 1);
    h.reactor.output(token).unwrap();
    assert_eq!(h.reactor.commit_write(token, WriteEnd::Close), 0);
    assert_eq!(reader.join().unwrap(), 16 << 20);
}

/// A TCP socket bound to a loopback port and not listening, as the master hands it to
/// its workers; returns the fd and the address.
fn bound_not_listening() -> (i32, String) {
    // SAFETY: socket, bind and getsockname on a socket this function owns; `addr` and
    // `bound` are live, correctly sized sockaddr_in values for the calls that read or
    // write them, with `len`/`bound_len` giving their size.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const addr).cast(), len), 0);
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut bound_len = len;
        assert_eq!(libc::getsockname(fd, (&raw mut bound).cast(), &mut bound_len), 0);
        (fd, format!("127.0.0.1:{}", u16::from_be(bound.sin_port)))
    }
}

#[test]
fn an_adopted_socket_is_listened_on_and_served() {
    // The master binds, the worker listens on the inherited fd and serves it.
    let (fd, address) = bound_not_listening();
    let mut h = Harness::new(Config::default());
    h.reactor.adopt(fd, Protocol::Uwsgi, Some(16)).unwrap();
    let reply = client(&address, packet(&[("REQUEST_METHOD", "GET")], b""));
    let events = h.poll_until(|e| !e.is_empty());
    h.respond(token_of(&events), b"HTTP/1.1 200 OK\r\n\r\n");
    h.reactor.flush_corked();
    assert_eq!(reply.join().unwrap(), b"HTTP/1.1 200 OK\r\n\r\n");
}

#[test]
fn a_shared_listener_given_up_no_longer_wakes_the_reactor() {
    // The worker's fd is a copy: the master (here `kept`) still holds the socket, so its
    // connections must stay in the queue for others and never reach this reactor.
    let (fd, address) = bound_not_listening();
    // SAFETY: dup(2) takes no pointers; `fd` is an open socket this test owns.
    let kept = unsafe { libc::dup(fd) };
    let mut h = Harness::new(Config::default());
    h.reactor.adopt(fd, Protocol::Uwsgi, Some(16)).unwrap();
    h.reactor.stop_listening();
    let mut connection = TcpStream::connect(&address).unwrap();
    // A byte, so that the connection is ready to be accepted (defer-accept).
    connection.write_all(b"x").unwrap();
    thread::sleep(Duration::from_millis(20));
    // Node polls the reactor's epoll fd: were the listener still in the set, it would be
    // readable for as long as the connection waits, and Node would spin.
    let mut pollfd = libc::pollfd { fd: h.reactor.fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: `pollfd` is one live pollfd for the duration of the call, the count passed.
    assert_eq!(unsafe { libc::poll(&mut pollfd, 1, 0) }, 0, "the reactor is woken for a connection it does not take");
    let mut batch = Batch::new(&mut h.arena, &mut h.index);
    h.reactor.poll(&mut batch);
    assert!(batch.is_empty());
    h.reactor.flush_corked();
    assert_eq!(h.reactor.accepted(), 0);
    // SAFETY: null address pointers are allowed by accept(2); `kept` is an open listening
    // socket this test owns, with the connection waiting in its queue.
    let accepted = unsafe { libc::accept(kept, std::ptr::null_mut(), std::ptr::null_mut()) };
    assert!(accepted >= 0, "the connection waited for another process");
    crate::sys::close(accepted);
    crate::sys::close(kept);
    drop(connection);
}

#[test]
fn a_ping_gets_a_pong_without_the_app() {
    let mut h = Harness::new(Config::default());
    let reply = client(&h.address, vec![100, 0, 0, 0]);
    let start = Instant::now();
    while !reply.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(5), "no pong");
        let mut batch = Batch::new(&mut h.arena, &mut h.index);
        h.reactor.poll(&mut batch);
        assert!(batch.is_empty(), "the app is not involved");
        h.reactor.flush_corked();
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(reply.join().unwrap(), [100, 0, 0, 1]);
}

/// The vars nginx sends for a WebSocket handshake, trimmed to those that make it one.
const HANDSHAKE: &[(&str, &str)] = &[
    ("REQUEST_METHOD", "GET"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("HTTP_CONNECTION", "Upgrade"),
    ("HTTP_UPGRADE", "websocket"),
];

/// The body bytes of `token` among `events`, in order.
fn body_of(events: &[Event], token: u32) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| if let Event::Body(t, b) = e { (*t == token).then_some(b.clone()) } else { None })
        .flatten()
        .collect()
}

/// Reads from `stream` until `want` bytes came (the read timeout fails the test otherwise).
fn read_exactly(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0; want];
    stream.read_exact(&mut got).unwrap();
    got
}

#[test]
fn a_uwsgi_upgrade_request_becomes_a_tunnel_after_101() {
    let mut h = Harness::new(Config::default());
    let mut stream = TcpStream::connect(&h.address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(&packet(HANDSHAKE, b"early")).unwrap();
    let events = h.poll_until(|e| !e.is_empty());
    let &[Event::Request { token, flags, content_length: 0, .. }] = &events[..] else { panic!("{events:?}") };
    // Flagged, and its input stays open: it may go on as the tunnel.
    assert_eq!(flags, batch::FLAG_UPGRADE);
    // What comes before the app switches is kept, not thrown away (U20) nor handed over.
    stream.write_all(b"+more").unwrap();
    thread::sleep(Duration::from_millis(20));
    assert_eq!(h.poll_once(), []);
    assert!(h.reactor.upgrade(token));
    h.write(token, b"HTTP/1.1 101 Switching Protocols\r\n\r\n", WriteEnd::More);
    let events = h.poll_until(|e| body_of(e, token).len() == 10);
    assert_eq!(body_of(&events, token), b"early+more");
    assert_eq!(read_exactly(&mut stream, 36), b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    // Both ways, raw, several times.
    for round in 0..3 {
        let ping = format!("ping {round}");
        stream.write_all(ping.as_bytes()).unwrap();
        let events = h.poll_until(|e| body_of(e, token).len() == ping.len());
        assert_eq!(body_of(&events, token), ping.as_bytes());
        h.write(token, format!("pong {round}").as_bytes(), WriteEnd::More);
        assert_eq!(read_exactly(&mut stream, 6), format!("pong {round}").as_bytes());
    }
    // The client's end is the input's end; the app may still write.
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let events = h.poll_until(|e| e.contains(&Event::BodyEnd(token)));
    assert_eq!(events, [Event::BodyEnd(token)]);
    h.write(token, b"bye", WriteEnd::More);
    assert_eq!(read_exactly(&mut stream, 3), b"bye");
    // The response's end closes the connection once its bytes are out.
    h.respond(token, b"!");
    h.reactor.flush_corked();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"!");
    h.until_no_connections();
}

#[test]
fn a_uwsgi_request_that_is_no_upgrade_cannot_switch() {
    let mut h = Harness::new(Config::default());
    let asks = |protocol| {
        vec![
            ("REQUEST_METHOD", "GET"),
            ("SERVER_PROTOCOL", protocol),
            ("HTTP_CONNECTION", "upgrade"),
            ("HTTP_UPGRADE", "websocket"),
        ]
    };
    let cases = [
        // Not asked for: no Connection: upgrade.
        ([&asks("HTTP/1.1")[..2], &asks("HTTP/1.1")[3..]].concat(), &b""[..], batch::FLAG_BODY_COMPLETE),
        // HTTP/1.0 cannot switch.
        (asks("HTTP/1.0"), b"", batch::FLAG_BODY_COMPLETE),
        // With a body, a plain request: its input ends with the body.
        ([HANDSHAKE, &[("CONTENT_LENGTH", "4")]].concat(), b"body", 0),
    ];
    for (vars, body, want) in cases {
        let mut stream = TcpStream::connect(&h.address).unwrap();
        stream.write_all(&packet(&vars, body)).unwrap();
        let events = h.poll_until(|e| {
            e.iter().any(|e| matches!(e, Event::BodyEnd(_) | Event::Request { flags: batch::FLAG_BODY_COMPLETE, .. }))
        });
        let token = token_of(&events);
        assert!(matches!(events[0], Event::Request { flags, .. } if flags == want), "{vars:?}: {events:?}");
        assert!(!h.reactor.upgrade(token), "{vars:?}");
        h.respond(token, b"HTTP/1.1 500 Internal Server Error\r\n\r\n");
        h.reactor.flush_corked();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"HTTP/1.1 500 Internal Server Error\r\n\r\n");
    }
}

#[test]
fn a_uwsgi_tunnel_whose_peer_reads_nothing_is_cut_after_the_socket_timeout() {
    let mut h = Harness::new(Config { socket_timeout_ms: 200, ..Config::default() });
    let mut stream = TcpStream::connect(&h.address).unwrap();
    stream.write_all(&packet(HANDSHAKE, b"")).unwrap();
    let token = token_of(&h.poll_until(|e| !e.is_empty()));
    assert!(h.reactor.upgrade(token));
    // Far more than the socket buffers hold, while the client reads nothing.
    h.reactor.output(token).unwrap().extend(std::iter::repeat_n(b'x', 16 << 20));
    assert!(h.reactor.commit_write(token, WriteEnd::More) > 0);
    let events = h.poll_until(|e| e.iter().any(|e| matches!(e, Event::Abort(..))));
    let line =
        "uwsgi: peer read nothing of the tunnel's output for socket-timeout 0.2 s; aborted (raise --socket-timeout)";
    assert!(events.contains(&Event::Log(line.to_string())), "{events:?}");
    assert!(events.contains(&Event::Abort(token, batch::AbortReason::Timeout as u32)), "{events:?}");
    assert_eq!(h.reactor.connections(), 0);
    drop(stream);
}
