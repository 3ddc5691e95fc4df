//! One flat JSON object, written by hand (the output is a few numbers and strings).

use std::fmt::Write;

/// Builds `{"key":value,...}` in insertion order.
#[derive(Debug, Default)]
pub struct JsonObject {
    buf: String,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    fn key(&mut self, key: &str) {
        self.buf.push(if self.buf.is_empty() { '{' } else { ',' });
        push_string(&mut self.buf, key);
        self.buf.push(':');
    }

    /// A string field.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.buf, value);
        self
    }

    /// An integer field.
    pub fn int(mut self, key: &str, value: impl Into<i128>) -> Self {
        self.key(key);
        let _ = write!(self.buf, "{}", value.into());
        self
    }

    /// A number field with `decimals` digits after the point (`null` when not finite).
    pub fn num(mut self, key: &str, value: f64, decimals: usize) -> Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.buf, "{value:.decimals$}");
        } else {
            self.buf.push_str("null");
        }
        self
    }

    /// A boolean field.
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// A field whose value is already JSON text (an array, a nested object), written as is.
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// The finished text.
    pub fn finish(mut self) -> String {
        if self.buf.is_empty() {
            self.buf.push('{');
        }
        self.buf.push('}');
        self.buf
    }
}

fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_flat_object() {
        let text = JsonObject::new()
            .str("mode", "echo\"x")
            .int("n", 3u64)
            .num("r", 1.25, 1)
            .num("bad", f64::NAN, 1)
            .bool("ok", true)
            .raw("list", "[1,2]")
            .finish();
        assert_eq!(
            text,
            r#"{"mode":"echo\"x","n":3,"r":1.2,"bad":null,"ok":true,"list":[1,2]}"#
        );
        assert_eq!(JsonObject::new().finish(), "{}");
    }
}
