//! Checks of what the server wrote: an HTTP response, then (after a 101) valid server frames.
//! Each check takes everything written so far; the last item may be cut short by a partial write.

use crate::peer::PeerId;

/// What the server's output showed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OutputSummary {
    /// The response's status code, once its head is complete.
    pub status: Option<u16>,
    /// Complete frames after the 101.
    pub frames: usize,
    /// A close frame was written.
    pub closed: bool,
}

/// Checks `out` (everything the server wrote, in plaintext). `announced`: the id multiplayer mode
/// must send as the first frame after the 101.
pub fn check_output(out: &[u8], announced: Option<PeerId>) -> Result<OutputSummary, String> {
    let mut summary = OutputSummary::default();
    let Some(head_end) = find(out, b"\r\n\r\n") else {
        return check_head_prefix(out).map(|()| summary);
    };
    let head = std::str::from_utf8(&out[..head_end])
        .map_err(|_| "response head is not UTF-8".to_string())?;
    let status = parse_status(head)?;
    summary.status = Some(status);
    let rest = &out[head_end + 4..];
    if status != 101 {
        let length = content_length(head)?;
        if rest.len() > length {
            return Err(format!(
                "{} bytes after a {status} response with Content-Length {length}",
                rest.len()
            ));
        }
        return Ok(summary);
    }
    check_frames(rest, announced, &mut summary)?;
    Ok(summary)
}

fn check_head_prefix(out: &[u8]) -> Result<(), String> {
    let start = b"HTTP/1.1 ";
    let n = out.len().min(start.len());
    if out[..n] != start[..n] {
        return Err(format!(
            "output does not start as an HTTP/1.1 response: {:?}",
            String::from_utf8_lossy(&out[..out.len().min(40)])
        ));
    }
    Ok(())
}

fn parse_status(head: &str) -> Result<u16, String> {
    let line = head.lines().next().unwrap_or_default();
    let code = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    if !(100..=599).contains(&code) {
        return Err(format!("status {code} out of range"));
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let full = format!("{head}\r\n\r\n");
    match response.parse(full.as_bytes()) {
        Ok(httparse::Status::Complete(_)) => Ok(code),
        other => Err(format!("response head does not parse: {other:?}")),
    }
}

fn content_length(head: &str) -> Result<usize, String> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .ok_or_else(|| "error response without Content-Length".to_string())
}

/// Server frames: unmasked, no reserved bits, known opcodes, whole messages (the server never
/// fragments), control frames within 125 bytes, nothing after a close frame.
fn check_frames(
    mut rest: &[u8],
    announced: Option<PeerId>,
    summary: &mut OutputSummary,
) -> Result<(), String> {
    while !rest.is_empty() {
        if summary.closed {
            return Err(format!("{} bytes after the close frame", rest.len()));
        }
        if rest.len() < 2 {
            return Ok(()); // cut short
        }
        let (b0, b1) = (rest[0], rest[1]);
        if b0 & 0x80 == 0 {
            return Err("server frame without FIN".into());
        }
        if b0 & 0x70 != 0 {
            return Err("server frame with reserved bits".into());
        }
        if b1 & 0x80 != 0 {
            return Err("server frame is masked".into());
        }
        let opcode = b0 & 0x0f;
        let (len, header) = match b1 & 0x7f {
            126 if rest.len() >= 4 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 if rest.len() >= 10 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&rest[2..10]);
                let len = u64::from_be_bytes(bytes);
                (
                    usize::try_from(len).map_err(|_| "frame length overflow")?,
                    10,
                )
            }
            126 | 127 => return Ok(()), // cut short
            n => (n as usize, 2),
        };
        if (len < 126 && header > 2) || (len <= 0xffff && header == 10) {
            return Err("frame length not in its shortest form".into());
        }
        if opcode >= 0x8 && len > 125 {
            return Err("control frame over 125 bytes".into());
        }
        if rest.len() < header + len {
            return Ok(()); // cut short
        }
        let payload = &rest[header..header + len];
        match opcode {
            0x1 => {
                std::str::from_utf8(payload).map_err(|_| "text frame is not UTF-8")?;
            }
            0x2 => {}
            0x8 => {
                if len == 1 {
                    return Err("close frame with a 1-byte payload".into());
                }
                if len >= 2 {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    if !(1000..=4999).contains(&code) || matches!(code, 1004..=1006 | 1015) {
                        return Err(format!("close frame with code {code}"));
                    }
                    std::str::from_utf8(&payload[2..]).map_err(|_| "close reason not UTF-8")?;
                }
                summary.closed = true;
            }
            0x9 | 0xA => {}
            op => return Err(format!("server frame with opcode {op:#x}")),
        }
        if summary.frames == 0 {
            if let Some(id) = announced {
                if opcode != 0x2 || payload != id.to_le_bytes() {
                    return Err(format!(
                        "first frame is not the id announcement (opcode {opcode:#x}, {len} bytes)"
                    ));
                }
            }
        }
        summary.frames += 1;
        rest = &rest[header + len..];
    }
    Ok(())
}

/// TLS records: known content types and versions, lengths within the limit (RFC 8446 §5.2).
pub fn check_tls_records(mut out: &[u8]) -> Result<(), String> {
    while out.len() >= 5 {
        let content_type = out[0];
        if !(20..=23).contains(&content_type) {
            return Err(format!("TLS record of type {content_type}"));
        }
        if out[1] != 3 || out[2] > 4 {
            return Err(format!("TLS record version {}.{}", out[1], out[2]));
        }
        let len = u16::from_be_bytes([out[3], out[4]]) as usize;
        if len > (1 << 14) + 2048 {
            return Err(format!("TLS record of {len} bytes"));
        }
        if out.len() < 5 + len {
            return Ok(());
        }
        out = &out[5 + len..];
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
