//! Admission control and trusted proxies on the Godot side: the `request` Dictionary of the
//! `client_handshake` signal and the `trusted_proxies` list. The decisions themselves (pausing the
//! upgrade, reading `Forwarded` / `X-Forwarded-For`) are in the core.

use std::net::SocketAddr;

use godot::prelude::*;
use websocket_server_core::{Cidr, UpgradeRequest};

/// The request headers, names lower-cased; a repeated header's values joined with ", ".
pub fn headers_dictionary(request: &UpgradeRequest) -> Dictionary<GString, GString> {
    let mut dict = Dictionary::new();
    for (name, value) in &request.headers {
        let key = GString::from(&name.to_ascii_lowercase());
        let joined = match dict.get(&key) {
            Some(previous) => GString::from(&format!("{previous}, {value}")),
            None => GString::from(value),
        };
        dict.set(&key, &joined);
    }
    dict
}

/// The `request` argument of `client_handshake`: path, query (without "?"), headers, address,
/// port and the offered sub-protocols.
pub fn request_dictionary(addr: SocketAddr, request: &UpgradeRequest) -> VarDictionary {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let protocols: PackedStringArray = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(GString::from)
        .collect();
    let mut dict = VarDictionary::new();
    let mut put = |key: &str, value: Variant| dict.set(&key.to_variant(), &value);
    put("path", GString::from(path).to_variant());
    put("query", GString::from(query).to_variant());
    put("headers", headers_dictionary(request).to_variant());
    put(
        "address",
        GString::from(&addr.ip().to_string()).to_variant(),
    );
    put("port", (addr.port() as i64).to_variant());
    put("protocols", protocols.to_variant());
    dict
}

/// Parses every entry of `trusted_proxies`, or says which one is wrong.
pub fn parse_trusted_proxies(list: &PackedStringArray) -> Result<Vec<Cidr>, String> {
    list.as_slice()
        .iter()
        .map(|entry| Cidr::parse(&entry.to_string()))
        .collect()
}
