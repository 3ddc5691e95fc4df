//! Admission control: the script decides whether a valid upgrade request becomes a peer.
//!
//! With [`crate::ServerConfig::admission_control`] a valid request does not get its 101 reply
//! at once: the connection waits and an [`crate::Event::Admission`] goes up to the main thread,
//! which answers with [`crate::Sender::admit`] or [`crate::Sender::reject`]. This module holds
//! what the refusal looks like on the wire.

/// Checks the status and reason of a refusal: a 4xx or 5xx status, a short printable reason (it
/// goes in the reply's body, so no line break or control character may sneak into the reply).
pub fn validate_rejection(status: u16, reason: &str) -> Result<(), String> {
    if !(400..=599).contains(&status) {
        return Err(format!("HTTP status {status} is not in 400..599"));
    }
    if reason.len() > 256 {
        return Err(format!(
            "reason is {} bytes long; at most 256",
            reason.len()
        ));
    }
    if reason.chars().any(char::is_control) {
        return Err("reason has a control character (line breaks included)".into());
    }
    Ok(())
}

/// The HTTP reply refusing an upgrade: `status`, its standard text, `reason` as the body.
pub fn rejection_reply(status: u16, reason: &str) -> Vec<u8> {
    let body = if reason.is_empty() {
        String::new()
    } else {
        format!("{reason}\n")
    };
    format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        status_text(status),
        body.len()
    )
    .into_bytes()
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ if status < 500 => "Client Error",
        _ => "Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_outside_4xx_5xx_and_line_breaks_are_refused() {
        assert!(validate_rejection(403, "bad token").is_ok());
        assert!(validate_rejection(599, "").is_ok());
        assert!(validate_rejection(200, "").is_err());
        assert!(validate_rejection(101, "").is_err());
        assert!(validate_rejection(600, "").is_err());
        assert!(validate_rejection(403, "a\r\nSet-Cookie: x=1").is_err());
        assert!(validate_rejection(403, "a\nb").is_err());
        assert!(validate_rejection(403, &"x".repeat(257)).is_err());
    }

    #[test]
    fn reply_has_the_status_and_the_reason_as_body() {
        let reply = String::from_utf8(rejection_reply(401, "token expired")).unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
            "{reply}"
        );
        assert!(reply.ends_with("\r\n\r\ntoken expired\n"), "{reply}");
        assert!(reply.contains("Content-Length: 14\r\n"), "{reply}");
        let reply = String::from_utf8(rejection_reply(418, "")).unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 418 Client Error\r\n"),
            "{reply}"
        );
        assert!(reply.ends_with("Content-Length: 0\r\n\r\n"), "{reply}");
    }
}
