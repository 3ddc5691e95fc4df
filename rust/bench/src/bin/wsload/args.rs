//! `--name value` and `--flag` arguments after a subcommand.

use std::collections::HashMap;
use std::str::FromStr;

/// Parsed arguments; every option must be taken by the mode or it is reported as unknown.
pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

/// Options that take no value.
const FLAGS: &[&str] = &["--mp", "--insecure", "--quiet"];

impl Args {
    pub fn parse(raw: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut values = HashMap::new();
        let mut flags = Vec::new();
        let mut raw = raw.peekable();
        while let Some(arg) = raw.next() {
            if !arg.starts_with("--") {
                return Err(format!("unexpected argument {arg:?}"));
            }
            if let Some((name, value)) = arg.split_once('=') {
                values.insert(name.to_string(), value.to_string());
            } else if FLAGS.contains(&arg.as_str()) {
                flags.push(arg);
            } else {
                let value = raw.next().ok_or(format!("{arg} needs a value"))?;
                values.insert(arg, value);
            }
        }
        Ok(Args { values, flags })
    }

    /// A flag (no value).
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.flags.len();
        self.flags.retain(|f| f != name);
        self.flags.len() != before
    }

    /// An optional value.
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.remove(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|e| format!("{name} {text:?}: {e}")),
        }
    }

    /// A value with a default.
    pub fn or<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        Ok(self.opt(name)?.unwrap_or(default))
    }

    /// A value that must be given.
    pub fn req<T: FromStr>(&mut self, name: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        self.opt(name)?.ok_or(format!("{name} is required"))
    }

    /// Fails on anything no mode asked for (a typo must not run a different benchmark).
    pub fn finish(self) -> Result<(), String> {
        let mut left: Vec<String> = self.values.into_keys().chain(self.flags).collect();
        left.sort();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("unknown or unused option(s): {}", left.join(" ")))
        }
    }
}
