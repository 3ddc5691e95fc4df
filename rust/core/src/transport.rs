//! What a connection reads and writes through: a plain TCP socket, or a rustls session over one.
//!
//! Both are non-blocking. With TLS, a read may also have to write (handshake messages, alerts) and
//! a write may stop short because rustls holds its bounded buffer of records the socket did not
//! take yet; `flush_pending` writes those, and the writable event that follows a `WouldBlock`
//! brings the connection back here.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use mio::net::TcpStream;

/// A connection's byte stream.
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    /// The fuzz harness's in-memory stream (`fuzzing/`); never registered with a poller.
    #[cfg(any(test, feature = "fuzzing"))]
    Memory(crate::fuzzing::MemorySocket),
    /// rustls over the fuzz harness's in-memory stream.
    #[cfg(any(test, feature = "fuzzing"))]
    MemoryTls(Box<TlsStream<crate::fuzzing::MemorySocket>>),
}

/// What a TLS session runs over: a TCP socket, or the fuzz harness's in-memory stream.
pub(crate) trait Socket: Read {
    /// A writer for TLS records (for TCP: without SIGPIPE, see [`NoSigPipe`]).
    fn sender(&mut self) -> impl Write + '_;
}

impl Socket for TcpStream {
    fn sender(&mut self) -> impl Write + '_ {
        NoSigPipe(self)
    }
}

pub(crate) struct TlsStream<S = TcpStream> {
    tcp: S,
    session: rustls::ServerConnection,
    /// The TCP stream ended; what rustls already decrypted may still be read.
    tcp_eof: bool,
}

impl Transport {
    pub fn new(tcp: TcpStream, tls: Option<&Arc<rustls::ServerConfig>>) -> io::Result<Transport> {
        Ok(match tls {
            None => Transport::Plain(tcp),
            Some(config) => {
                let session =
                    rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                Transport::Tls(Box::new(TlsStream {
                    tcp,
                    session,
                    tcp_eof: false,
                }))
            }
        })
    }

    /// A socket without TLS: what a read returns is what the kernel had (see `input.rs`).
    pub fn is_plain_socket(&self) -> bool {
        match self {
            Transport::Plain(_) => true,
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(_) => true,
            _ => false,
        }
    }

    /// The socket, for registration and socket options.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &mut tls.tcp,
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(_) | Transport::MemoryTls(_) => {
                unreachable!("in-memory connections are never registered")
            }
        }
    }

    /// Writes as much of `bufs` as the socket (or rustls' bounded buffer) takes now.
    pub fn write_vectored(&mut self, bufs: &[IoSlice]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => NoSigPipe(tcp).write_vectored(bufs),
            Transport::Tls(tls) => tls.write_plaintext(bufs),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(socket) => socket.write_vectored(bufs),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::MemoryTls(tls) => tls.write_plaintext(bufs),
        }
    }

    /// Writes what the transport itself still holds (TLS records); `WouldBlock` if some remain.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(tls) => tls.write_records(),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(_) => Ok(()),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::MemoryTls(tls) => tls.write_records(),
        }
    }

    /// Ends our direction: TLS close_notify (best effort), then FIN.
    pub fn shutdown_write(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.session.send_close_notify();
            let _ = tls.write_records();
        }
        #[cfg(any(test, feature = "fuzzing"))]
        match self {
            Transport::Memory(socket) => return socket.shutdown(Shutdown::Write),
            Transport::MemoryTls(tls) => {
                tls.session.send_close_notify();
                let _ = tls.write_records();
                return tls.tcp.shutdown(Shutdown::Write);
            }
            _ => {}
        }
        let _ = self.tcp_mut().shutdown(Shutdown::Write);
    }

    /// Closes both directions at once.
    pub fn shutdown(&mut self) {
        #[cfg(any(test, feature = "fuzzing"))]
        match self {
            Transport::Memory(socket) => return socket.shutdown(Shutdown::Both),
            Transport::MemoryTls(tls) => return tls.tcp.shutdown(Shutdown::Both),
            _ => {}
        }
        let _ = self.tcp_mut().shutdown(Shutdown::Both);
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buf),
            Transport::Tls(tls) => tls.read_plaintext(buf),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(socket) => socket.read(buf),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::MemoryTls(tls) => tls.read_plaintext(buf),
        }
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl TlsStream<crate::fuzzing::MemorySocket> {
    /// A rustls session over the fuzz harness's in-memory stream.
    pub fn over_memory(
        socket: crate::fuzzing::MemorySocket,
        config: &Arc<rustls::ServerConfig>,
    ) -> io::Result<Box<Self>> {
        let session = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(Box::new(TlsStream {
            tcp: socket,
            session,
            tcp_eof: false,
        }))
    }
}

impl<S: Socket> TlsStream<S> {
    /// Writes as much of `bufs` as rustls' bounded buffer takes now.
    fn write_plaintext(&mut self, bufs: &[IoSlice]) -> io::Result<usize> {
        // Older records first; a socket that is still full stops us here.
        self.write_records()?;
        let n = self.session.writer().write_vectored(bufs)?;
        match self.write_records() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            // rustls' buffer is full of records the socket has not taken yet.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn read_plaintext(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the peer sent close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.tcp_eof {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(e),
            }
            match self.session.read_tls(&mut self.tcp) {
                Ok(0) => self.tcp_eof = true,
                Ok(_) => {}
                Err(e) => return Err(e), // WouldBlock included: nothing more to decrypt now
            }
            if let Err(e) = self.session.process_new_packets() {
                // rustls queued an alert telling the peer why; send it if the socket takes it.
                let _ = self.write_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake replies are written as soon as rustls has them.
            match self.write_records() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn write_records(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.tcp.sender()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes to a socket without SIGPIPE. A plain write(2) to a socket the peer has reset raises
/// SIGPIPE, which kills a host process that does not ignore it (Godot does not; Rust programs
/// do). `send(MSG_NOSIGNAL)` returns EPIPE instead, which ends only that connection.
struct NoSigPipe<'a>(&'a TcpStream);

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const SEND_FLAGS: std::ffi::c_int = libc::MSG_NOSIGNAL;
// Elsewhere: Apple sockets get SO_NOSIGPIPE at accept (see reactor), Windows has no SIGPIPE.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const SEND_FLAGS: std::ffi::c_int = 0;

impl Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        socket2::SockRef::from(self.0).send_with_flags(buf, SEND_FLAGS)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice]) -> io::Result<usize> {
        socket2::SockRef::from(self.0).send_vectored_with_flags(bufs, SEND_FLAGS)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
