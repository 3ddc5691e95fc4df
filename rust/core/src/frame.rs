//! Encoding of the data frames the server sends.
//!
//! Server frames are never masked (RFC 6455 §5.1), so one encoding serves every recipient: a
//! broadcast encodes once and shares the bytes. Incoming frames, control frames and the closing
//! handshake are tungstenite's.

use bytes::{BufMut, Bytes, BytesMut};

const FIN: u8 = 0x80;
const OPCODE_TEXT: u8 = 0x1;
const OPCODE_BINARY: u8 = 0x2;
const OPCODE_CLOSE: u8 = 0x8;
const OPCODE_PING: u8 = 0x9;

/// Encodes `payload` as one final text or binary frame.
pub fn encode_data_frame(payload: &[u8], text: bool) -> Bytes {
    let opcode = if text { OPCODE_TEXT } else { OPCODE_BINARY };
    let len = payload.len();
    let mut out = BytesMut::with_capacity(len + 10);
    out.put_u8(FIN | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
    out.put_slice(payload);
    out.freeze()
}

/// Cuts a close reason to the 123 bytes a close frame can carry (control frames hold at most 125
/// bytes, 2 of them the code), on a character boundary.
pub fn fit_close_reason(reason: &str) -> &str {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    &reason[..cut]
}

/// Encodes a close frame with `code` and `reason` (cut with [`fit_close_reason`]).
pub fn encode_close_frame(code: u16, reason: &str) -> Bytes {
    let reason = fit_close_reason(reason).as_bytes();
    let mut out = BytesMut::with_capacity(4 + reason.len());
    out.put_u8(FIN | OPCODE_CLOSE);
    out.put_u8((2 + reason.len()) as u8);
    out.put_u16(code);
    out.put_slice(reason);
    out.freeze()
}

/// An empty ping frame: the heartbeat.
pub fn encode_ping_frame() -> Bytes {
    Bytes::from_static(&[FIN | OPCODE_PING, 0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_binary_frame_has_two_byte_header() {
        let f = encode_data_frame(b"abc", false);
        assert_eq!(&f[..], &[0x82, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn medium_text_frame_uses_16_bit_length() {
        let f = encode_data_frame(&[b'x'; 300], true);
        assert_eq!(&f[..4], &[0x81, 126, 1, 44]);
        assert_eq!(f.len(), 304);
    }

    #[test]
    fn close_frame_reason_is_cut_on_a_char_boundary() {
        let f = encode_close_frame(1001, &"é".repeat(100));
        assert_eq!(&f[..4], &[0x88, 124, 0x03, 0xe9]);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }

    #[test]
    fn large_frame_uses_64_bit_length() {
        let f = encode_data_frame(&vec![0u8; 70_000], false);
        assert_eq!(&f[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }
}
