//! The server to load: a parsed ws:// or wss:// URL, its address, and the TLS client set-up.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where and how to connect.
pub struct Target {
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host_header: String,
    /// Request target, e.g. `/` or `/game?x=1`.
    pub path: String,
    /// wss:// only.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// How a wss:// server's certificate is checked.
pub enum Trust {
    /// PEM file of CA (or self-signed) certificates.
    CaFile(String),
    /// The system's CA bundle.
    System,
    /// No check at all (`--insecure`).
    Nothing,
}

const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

pub fn parse(url: &str, trust: Trust) -> Result<Target, String> {
    let (secure, rest) = if let Some(rest) = url.strip_prefix("ws://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else {
        return Err(format!("{url:?}: the URL must start with ws:// or wss://"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let default_port = if secure { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or(format!("{url:?}: unclosed [ in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|e| format!("{url:?}: port: {e}"))?,
            None => default_port,
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|e| format!("{url:?}: port: {e}"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .collect();
    // Servers here bind 127.0.0.1 by default: prefer IPv4 when a name has both.
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or(format!("{host} has no address"))?;
    let host_header = if authority.is_empty() {
        host.clone()
    } else {
        authority.to_string()
    };
    let tls = if secure {
        let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
        Some((client_config(trust)?, name))
    } else {
        None
    };
    Ok(Target {
        addr,
        host_header,
        path,
        tls,
    })
}

fn client_config(trust: Trust) -> Result<Arc<ClientConfig>, String> {
    let provider = websocket_server_core::tls::crypto_provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = match trust {
        Trust::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth(),
        Trust::CaFile(path) => builder
            .with_root_certificates(roots(&path)?)
            .with_no_client_auth(),
        Trust::System => builder
            .with_root_certificates(roots(SYSTEM_BUNDLE)?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every connection makes a full TLS handshake (a server that issues tickets or caches sessions
    // would otherwise see cheaper resumed handshakes after the first ones).
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

fn roots(path: &str) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading {path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {path}: {e}"))?;
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("{path} holds no usable certificate"));
    }
    Ok(store)
}

/// `--insecure`: any certificate is taken (signatures are still checked for form).
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split() {
        let t = parse("ws://127.0.0.1:9000/game?x=1", Trust::Nothing).unwrap();
        assert_eq!(t.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(t.path, "/game?x=1");
        assert_eq!(t.host_header, "127.0.0.1:9000");
        assert!(t.tls.is_none());
        let t = parse("ws://[::1]:81", Trust::Nothing).unwrap();
        assert_eq!(t.addr, "[::1]:81".parse().unwrap());
        assert_eq!(t.path, "/");
        let t = parse("wss://127.0.0.1:9001?a", Trust::Nothing).unwrap();
        assert_eq!(t.path, "/?a");
        assert!(t.tls.is_some());
        assert!(parse("http://x", Trust::Nothing).is_err());
    }
}
