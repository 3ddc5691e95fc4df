//! Reading a connection's socket through one buffer shared by every connection of the reactor.
//!
//! tungstenite asks its stream for small pieces (a frame header, then the rest of the payload),
//! so reading it straight from the socket costs several system calls per message. Instead each
//! read takes what the socket has into the reactor's 64 KiB [`ReadBuffer`] and tungstenite is
//! served from there. The buffer belongs to the connection being read only while it is read:
//! bytes left over when the connection stops early (inbound limits reached, connection closing)
//! move to that connection's own `carry`, which is served first next time; it is empty otherwise,
//! so an idle connection holds no read buffer of its own.

use std::io::{self, Read};

use crate::transport::Transport;

/// Bytes taken from the socket per read.
const READ_BUFFER_SIZE: usize = 64 * 1024;

/// The reactor's read buffer: `data[start..end]` is not yet consumed.
pub(crate) struct ReadBuffer {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    pub fn new() -> ReadBuffer {
        ReadBuffer {
            data: vec![0; READ_BUFFER_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }
}

/// The socket of one connection, read through the shared buffer.
pub(crate) struct SocketReader<'a> {
    stream: &'a mut Transport,
    buffer: &'a mut ReadBuffer,
    carry: &'a mut Vec<u8>,
    /// A short read means the socket is empty until its next readiness event, so the read
    /// that would only return `WouldBlock` is skipped (see [`SocketReader::new`]).
    short_read_drains: bool,
    drained: bool,
}

impl<'a> SocketReader<'a> {
    /// `after_readiness`: reading because of a readiness event that did not report a hang-up.
    /// Only then, on Linux and a plain socket, is a short read taken to mean the socket is empty:
    /// epoll (edge-triggered) reports any byte that arrives after the read as a new event. A TLS
    /// session may hold decrypted bytes the socket no longer shows, and elsewhere mio only re-arms
    /// readiness after a `WouldBlock`.
    pub fn new(
        stream: &'a mut Transport,
        buffer: &'a mut ReadBuffer,
        carry: &'a mut Vec<u8>,
        after_readiness: bool,
    ) -> SocketReader<'a> {
        debug_assert!(buffer.pending().is_empty(), "another connection's bytes");
        let short_read_drains = after_readiness
            && cfg!(any(target_os = "linux", target_os = "android"))
            && stream.is_plain_socket();
        SocketReader {
            stream,
            buffer,
            carry,
            short_read_drains,
            drained: false,
        }
    }
}

impl Read for SocketReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.carry.is_empty() {
            let n = out.len().min(self.carry.len());
            out[..n].copy_from_slice(&self.carry[..n]);
            self.carry.drain(..n);
            if self.carry.is_empty() {
                *self.carry = Vec::new(); // give the memory back
            }
            return Ok(n);
        }
        if self.buffer.pending().is_empty() {
            if self.drained {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = self.stream.read(&mut self.buffer.data)?;
            if n == 0 {
                return Ok(0); // end of stream
            }
            self.drained = self.short_read_drains && n < self.buffer.data.len();
            self.buffer.start = 0;
            self.buffer.end = n;
        }
        let pending = self.buffer.pending();
        let n = out.len().min(pending.len());
        out[..n].copy_from_slice(&pending[..n]);
        self.buffer.start += n;
        Ok(n)
    }
}

impl Drop for SocketReader<'_> {
    /// Whatever was read from the socket and not consumed stays with the connection.
    fn drop(&mut self) {
        let pending = self.buffer.pending();
        if !pending.is_empty() {
            self.carry.extend_from_slice(pending);
        }
        self.buffer.start = 0;
        self.buffer.end = 0;
    }
}
