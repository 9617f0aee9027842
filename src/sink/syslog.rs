//! The syslog sink: RFC 5424 messages over TCP (optionally TLS), octet-counted (RFC 6587
//! §3.4.1), for the SIEMs that ingest syslog and nothing else.
//!
//! At-least-once, not exactly-once: syslog over TCP has no acknowledgement of its own, so the
//! collector cannot know what the server stored. The writer commits a checkpoint only after
//! `flush` has written every frame, and, on Linux, after the server's TCP stack has acknowledged
//! every byte and the connection is still open: a server that went away before reading them
//! fails the flush, nothing is committed, and the stream sends the batch again on a new
//! connection (duplicates, never a gap on our side). A server that crashes with messages in its
//! own memory still loses them; that is the server's queue to make durable.
//!
//! Each message's TIMESTAMP is when the collector created it (RFC 5424 §6.2.3), not the
//! event's time, which is in the JSON in every format; severity is always `info`: the formats
//! say how severe an event is each in their own field, and a SIEM reads them from the JSON.
//! The writer is a plain thread, so the socket is a blocking `std` one, bounded by timeouts.

use super::SinkError;
use crate::config::syslog::parse_certificates;
use crate::config::SyslogConfig;
use crate::state::StreamKey;
use rustls::pki_types::ServerName;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server that does not answer a connection attempt within this is down for this attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the server to take (and acknowledge) what is sent: it may apply
/// backpressure, but a server that takes nothing for this long is treated as gone.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// After a failed connection attempt, the next is made no sooner than this: the writer retries
/// each batch of a failed group alone, and against a server that drops packets every attempt
/// would wait out [`CONNECT_TIMEOUT`] (the streams retry at their next poll anyway).
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);
/// RFC 5424 §6.2.1: informational.
const SEVERITY_INFO: u8 = 6;
/// The structured-data ID: the private enterprise number 32473 is reserved for documentation
/// (RFC 5612), and names no real organisation.
const SD_ID: &str = "mimecast@32473";

fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        for cert in parse_certificates(pem)? {
            roots.add(cert).map_err(|e| e.to_string())?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The machine's name as RFC 5424 HOSTNAME takes it: printable ASCII, else `-` (NILVALUE).
fn machine_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = if rc == 0 { &buf[..end] } else { &[][..] };
    if name.is_empty() || !name.iter().all(u8::is_ascii_graphic) {
        "-".into()
    } else {
        String::from_utf8_lossy(name).into_owned()
    }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped with a backslash (RFC 5424 §6.3.3).
fn escape_param(value: &str, out: &mut Vec<u8>) {
    for b in value.bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// MSGID: the stream's name, or `-` for a name RFC 5424 would not take (32 printable ASCII).
fn msgid(stream: &str) -> &str {
    if !stream.is_empty() && stream.len() <= 32 && stream.bytes().all(|b| b.is_ascii_graphic()) {
        stream
    } else {
        "-"
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Conn::Tls(t) => t.write_all(bytes).and_then(|()| t.flush()),
        }
    }

    /// Whether the server has closed or reset the connection, seen without blocking. A syslog
    /// server sends nothing on its own; TLS records (session tickets, a close_notify) are read
    /// and processed.
    fn closed(&mut self) -> Option<std::io::Error> {
        if let Err(e) = self.socket().set_nonblocking(true) {
            return Some(e);
        }
        let result = match self {
            Conn::Plain(s) => match s.peek(&mut [0u8; 1]) {
                Ok(0) => Some(ErrorKind::UnexpectedEof.into()),
                Ok(_) => None,
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Err(e) => Some(e),
            },
            Conn::Tls(t) => tls_closed(t),
        };
        if let Err(e) = self.socket().set_nonblocking(false) {
            return Some(e);
        }
        result
    }

    /// Bytes sent but not yet acknowledged by the server's TCP stack.
    #[cfg(target_os = "linux")]
    fn unacknowledged(&self) -> std::io::Result<i32> {
        use std::os::fd::AsRawFd;
        let mut n: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ on a socket) writes one int to the pointer given.
        let rc = unsafe { libc::ioctl(self.socket().as_raw_fd(), libc::TIOCOUTQ, &mut n) };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n)
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn unacknowledged(&self) -> std::io::Result<i32> {
        Ok(0)
    }
}

fn tls_closed(
    t: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
) -> Option<std::io::Error> {
    loop {
        match t.conn.read_tls(&mut t.sock) {
            Ok(0) => return Some(ErrorKind::UnexpectedEof.into()),
            Ok(_) => {
                if let Err(e) = t.conn.process_new_packets() {
                    return Some(std::io::Error::new(ErrorKind::InvalidData, e));
                }
                let mut sink = [0u8; 512];
                loop {
                    match t.conn.reader().read(&mut sink) {
                        Ok(0) => return Some(ErrorKind::UnexpectedEof.into()),
                        Ok(_) => continue,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Some(e),
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) => return Some(e),
        }
    }
}

pub struct SyslogSink {
    address: String,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    /// `<PRI>1 `: the same for every message.
    pri: Vec<u8>,
    /// ` HOSTNAME APP-NAME PROCID `, after the timestamp.
    origin: Vec<u8>,
    /// Frames not yet sent. Kept by hand: a rollback drops them without a call that can fail.
    buf: Vec<u8>,
    conn: Option<Conn>,
    /// When the last connection attempt failed, and why.
    refused: Option<(Instant, String)>,
    /// Reusable header of the batch being framed.
    header: Vec<u8>,
}

impl SyslogSink {
    /// Prepares the sink; the connection is made at the first flush (and again after a
    /// failure), so a server down at start-up delays output instead of stopping the daemon.
    pub fn new(cfg: &SyslogConfig) -> Result<SyslogSink, SinkError> {
        let tls = match &cfg.tls {
            None => None,
            Some(t) => {
                let config = tls_config(t.extra_ca_pem.as_deref()).map_err(|e| {
                    error(&cfg.address, "cannot set up TLS", std::io::Error::other(e))
                })?;
                let name = ServerName::try_from(t.server_name.clone()).map_err(|e| {
                    error(
                        &cfg.address,
                        "invalid server_name",
                        std::io::Error::other(e),
                    )
                })?;
                Some((config, name))
            }
        };
        let hostname = cfg.hostname.clone().unwrap_or_else(machine_hostname);
        let pri = u16::from(cfg.facility) * 8 + u16::from(SEVERITY_INFO);
        Ok(SyslogSink {
            address: cfg.address.clone(),
            tls,
            pri: format!("<{pri}>1 ").into_bytes(),
            origin: format!(" {hostname} {} {} ", cfg.app_name, std::process::id()).into_bytes(),
            buf: Vec::with_capacity(256 * 1024),
            conn: None,
            refused: None,
            header: Vec::with_capacity(256),
        })
    }

    /// Frames every line of a batch (newline-terminated JSON objects of one stream).
    pub fn write(&mut self, key: &StreamKey, lines: &[u8]) -> Result<(), SinkError> {
        let now = time::OffsetDateTime::now_utc();
        let stamp = now
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            ))
            .map_err(|e| {
                error(
                    &self.address,
                    "cannot format the time",
                    std::io::Error::other(e),
                )
            })?;
        let header = &mut self.header;
        header.clear();
        header.extend_from_slice(&self.pri);
        header.extend_from_slice(stamp.as_bytes());
        header.extend_from_slice(&self.origin);
        header.extend_from_slice(msgid(&key.stream).as_bytes());
        header.extend_from_slice(b" [");
        header.extend_from_slice(SD_ID.as_bytes());
        header.extend_from_slice(b" tenant=\"");
        escape_param(&key.tenant, header);
        header.extend_from_slice(b"\" stream=\"");
        escape_param(&key.stream, header);
        header.extend_from_slice(b"\"] ");
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let len = header.len() + line.len();
            // Writing to a Vec cannot fail.
            let _ = write!(self.buf, "{len} ");
            self.buf.extend_from_slice(header);
            self.buf.extend_from_slice(line);
        }
        Ok(())
    }

    /// Sends every frame written since the last flush; returns once the server holds them as
    /// far as TCP can tell. On any failure the connection is dropped (a frame cut half-way is
    /// lost with it), and the frames are sent again in full by the stream's retry.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.send();
        self.buf.clear();
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn send(&mut self) -> Result<(), SinkError> {
        // A connection the server closed since the last flush would take the bytes into the
        // kernel and lose them: find out first.
        if let Some(e) = self.conn.as_mut().and_then(Conn::closed) {
            tracing::info!(address = %self.address, error = %e, "the syslog server closed the connection; reconnecting");
            self.conn = None;
        }
        if self.conn.is_none() {
            if let Some((at, why)) = &self.refused {
                if at.elapsed() < RECONNECT_PAUSE {
                    return Err(error(
                        &self.address,
                        "not connected",
                        std::io::Error::other(format!("the last attempt just failed: {why}")),
                    ));
                }
            }
            let conn = self.connect().inspect_err(|e| {
                self.refused = Some((Instant::now(), e.to_string()));
            })?;
            self.refused = None;
            self.conn = Some(conn);
            tracing::info!(address = %self.address, tls = self.tls.is_some(), "connected to the syslog server");
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(error(
                &self.address,
                "not connected",
                ErrorKind::NotConnected.into(),
            ));
        };
        let address = &self.address;
        conn.send(&self.buf)
            .map_err(|e| error(address, "cannot send", e))?;
        wait_acknowledged(conn).map_err(|e| error(address, "sent, but not acknowledged", e))?;
        if let Some(e) = conn.closed() {
            return Err(error(address, "the connection closed while sending", e));
        }
        Ok(())
    }

    fn connect(&self) -> Result<Conn, SinkError> {
        connect(&self.address, self.tls.as_ref())
    }

    /// Forgets the frames not yet sent (a failed commit: the stream sends them again).
    pub fn rollback(&mut self) {
        self.buf.clear();
    }
}

impl Drop for SyslogSink {
    /// Ends a TLS session cleanly, so the server does not log a truncated stream.
    fn drop(&mut self) {
        if let Some(Conn::Tls(t)) = &mut self.conn {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
    }
}

/// Waits until the server's TCP stack has acknowledged every byte sent (Linux), so that a
/// server gone in the meantime shows as a reset instead of bytes silently lost in our kernel.
fn wait_acknowledged(conn: &mut Conn) -> std::io::Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        if conn.unacknowledged()? <= 0 {
            return Ok(());
        }
        if let Some(e) = conn.closed() {
            return Err(e);
        }
        if started.elapsed() > IO_TIMEOUT {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                format!("the server took nothing for {} s", IO_TIMEOUT.as_secs()),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

fn error(address: &str, action: &'static str, source: std::io::Error) -> SinkError {
    SinkError::Syslog {
        address: address.to_string(),
        action,
        source,
    }
}

fn connect(
    address: &str,
    tls: Option<&(Arc<rustls::ClientConfig>, ServerName<'static>)>,
) -> Result<Conn, SinkError> {
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| error(address, "cannot resolve", e))?
        .collect();
    let mut last = std::io::Error::new(ErrorKind::NotFound, "the name has no address");
    let mut socket = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let socket = socket.ok_or_else(|| error(address, "cannot connect", last))?;
    let setup = |s: &TcpStream| {
        s.set_nodelay(true)?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.set_read_timeout(Some(IO_TIMEOUT))
    };
    setup(&socket).map_err(|e| error(address, "cannot set up the socket", e))?;
    let Some((config, name)) = tls else {
        return Ok(Conn::Plain(socket));
    };
    let session = rustls::ClientConnection::new(config.clone(), name.clone())
        .map_err(|e| error(address, "cannot start TLS", std::io::Error::other(e)))?;
    let mut stream = rustls::StreamOwned::new(session, socket);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| error(address, "TLS handshake failed", e))?;
    }
    Ok(Conn::Tls(Box::new(stream)))
}

/// `check`: connects (and completes the TLS handshake) as the sink would, then hangs up.
pub fn probe(cfg: &SyslogConfig) -> Result<(), SinkError> {
    let sink = SyslogSink::new(cfg)?;
    let conn = sink.connect()?;
    if let Conn::Tls(mut t) = conn {
        t.conn.send_close_notify();
        let _ = t.flush();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: &str) -> SyslogConfig {
        SyslogConfig {
            address: address.into(),
            tls: None,
            app_name: "mimecast-collector".into(),
            hostname: Some("collector-1".into()),
            facility: 16,
        }
    }

    #[test]
    fn frames_are_octet_counted_rfc5424_messages() {
        let mut sink = SyslogSink::new(&config("127.0.0.1:1")).unwrap();
        let key = StreamKey::new("ac\"me]\\", "siem_cg", "receipt");
        sink.write(&key, b"{\"id\":\"a\"}\n{\"id\":\"\xc3\xa9\"}\n")
            .unwrap();
        let text = String::from_utf8(sink.buf.clone()).unwrap();
        let mut rest = text.as_str();
        let mut messages = Vec::new();
        while !rest.is_empty() {
            let (len, after) = rest.split_once(' ').unwrap();
            let len: usize = len.parse().unwrap();
            messages.push(&after[..len]);
            rest = &after[len..];
        }
        assert_eq!(messages.len(), 2);
        let pid = std::process::id();
        for (m, body) in messages.iter().zip(["{\"id\":\"a\"}", "{\"id\":\"é\"}"]) {
            assert!(m.starts_with("<134>1 "), "{m}");
            let fields: Vec<&str> = m.splitn(7, ' ').collect();
            assert!(fields[1].ends_with('Z') && fields[1].len() == 27, "{m}");
            assert_eq!(
                &fields[2..6],
                [
                    "collector-1",
                    "mimecast-collector",
                    &pid.to_string(),
                    "siem_cg"
                ]
            );
            assert_eq!(
                fields[6],
                format!("[mimecast@32473 tenant=\"ac\\\"me\\]\\\\\" stream=\"siem_cg\"] {body}")
            );
        }
        sink.rollback();
        assert!(sink.buf.is_empty());
    }

    #[test]
    fn message_ids() {
        assert_eq!(msgid("siem_cg"), "siem_cg");
        assert_eq!(msgid("has space"), "-");
    }

    /// A server that refuses: the flush fails (nothing is committed), and the frames are gone
    /// from the buffer (the stream sends its batch again).
    #[test]
    fn a_refused_connection_fails_the_flush() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let mut sink = SyslogSink::new(&config(&address)).unwrap();
        sink.write(&StreamKey::new("t", "audit", ""), b"{}\n")
            .unwrap();
        let err = sink.flush().unwrap_err();
        assert!(err.to_string().contains("cannot connect"), "{err}");
        assert!(sink.buf.is_empty() && sink.conn.is_none());
        // The batches of the failed group, retried alone at once, do not each try again.
        sink.write(&StreamKey::new("t", "audit", ""), b"{}\n")
            .unwrap();
        let again = sink.flush().unwrap_err().to_string();
        assert!(again.contains("the last attempt just failed"), "{again}");
    }
}
