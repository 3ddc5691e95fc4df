//! An in-memory stand-in for a non-blocking TCP socket: the harness decides how many bytes each
//! read returns and each write takes, and when either would block.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use parking_lot::Mutex;

/// One end of an in-memory connection; clones share it (the connection holds one, the harness
/// the other).
#[derive(Debug, Clone, Default)]
pub struct MemorySocket(Arc<Mutex<Pipe>>);

#[derive(Debug, Default)]
struct Pipe {
    /// Client bytes the server has not read yet.
    input: VecDeque<u8>,
    /// Most bytes one read returns (0: no limit).
    read_limit: usize,
    /// The client ended its side: reads return 0 once `input` is empty.
    input_closed: bool,
    /// The connection was reset: reads and writes fail.
    reset: bool,
    /// What the server wrote and the harness has not taken yet.
    output: Vec<u8>,
    /// Bytes the socket takes before writes would block.
    write_allowance: usize,
    /// Most bytes one write takes (0: no limit).
    write_limit: usize,
    /// The server shut its writing side.
    write_shut: bool,
    /// The server closed the socket.
    closed: bool,
}

impl MemorySocket {
    /// Client bytes arrive.
    pub fn push_input(&self, bytes: &[u8]) {
        self.0.lock().input.extend(bytes);
    }

    /// Client bytes not read yet.
    pub fn unread(&self) -> usize {
        self.0.lock().input.len()
    }

    /// The client sends FIN.
    pub fn close_input(&self) {
        self.0.lock().input_closed = true;
    }

    /// The connection is reset: every later read and write fails.
    pub fn reset(&self) {
        self.0.lock().reset = true;
    }

    /// Each read returns at most `limit` bytes (0: no limit).
    pub fn set_read_limit(&self, limit: usize) {
        self.0.lock().read_limit = limit;
    }

    /// The socket takes `bytes` more bytes before blocking, at most `per_write` per call (0: no
    /// limit).
    pub fn allow_writes(&self, bytes: usize, per_write: usize) {
        let mut pipe = self.0.lock();
        pipe.write_allowance = bytes;
        pipe.write_limit = per_write;
    }

    /// Takes what the server wrote since the last call.
    pub fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.lock().output)
    }

    /// Whether the server closed the socket.
    pub fn is_closed(&self) -> bool {
        self.0.lock().closed
    }

    pub(crate) fn shutdown(&self, how: Shutdown) {
        let mut pipe = self.0.lock();
        pipe.write_shut = true;
        if how == Shutdown::Both {
            pipe.closed = true;
        }
    }
}

impl Read for MemorySocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut pipe = self.0.lock();
        if pipe.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if pipe.closed {
            return Ok(0);
        }
        if pipe.input.is_empty() {
            return if pipe.input_closed {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let mut n = buf.len().min(pipe.input.len());
        if pipe.read_limit > 0 {
            n = n.min(pipe.read_limit);
        }
        for (slot, byte) in buf.iter_mut().zip(pipe.input.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for MemorySocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice]) -> io::Result<usize> {
        let mut pipe = self.0.lock();
        if pipe.reset || pipe.write_shut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        let mut room = pipe.write_allowance;
        if pipe.write_limit > 0 {
            room = room.min(pipe.write_limit);
        }
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut written = 0;
        for buf in bufs {
            let n = buf.len().min(room - written);
            pipe.output.extend_from_slice(&buf[..n]);
            written += n;
            if written == room {
                break;
            }
        }
        pipe.write_allowance -= written;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl crate::transport::Socket for MemorySocket {
    fn sender(&mut self) -> impl Write + '_ {
        self
    }
}
