//! wss://: turning PEM text into a rustls server configuration, with errors a user can act on.
//!
//! PEM is what Godot's `CryptoKey.save_to_string()` and `X509Certificate.save_to_string()` give,
//! so the binding hands over text and the core needs no Godot type.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(target_os = "linux")]
use rustls::crypto::aws_lc_rs as crypto;
#[cfg(not(target_os = "linux"))]
use rustls::crypto::ring as crypto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The server's identity for wss://, as PEM text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsIdentity {
    /// The server certificate, optionally followed by its chain (leaf first).
    pub certificate_chain: String,
    /// The private key of the first certificate (PKCS#8, PKCS#1 or SEC1).
    pub private_key: String,
    /// More chain certificates, sent after `certificate_chain` (Godot 3's `ca_chain`).
    pub extra_chain: String,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// Why a TLS identity cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// No certificate could be read from the certificate text.
    NoCertificate,
    /// The certificate text is not valid PEM.
    BadCertificate(String),
    /// The CA chain text is not valid PEM.
    BadChain(String),
    /// No private key could be read from the key text.
    BadKey(String),
    /// The private key does not belong to the (first) certificate.
    KeyMismatch,
    /// rustls refused the combination for another reason.
    Rejected(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoCertificate => write!(f, "the certificate holds no certificate"),
            TlsError::BadCertificate(e) => write!(f, "the certificate cannot be read ({e})"),
            TlsError::BadChain(e) => write!(f, "the CA chain cannot be read ({e})"),
            TlsError::BadKey(e) => write!(f, "the private key cannot be read ({e})"),
            TlsError::KeyMismatch => write!(f, "the private key does not match the certificate"),
            TlsError::Rejected(e) => write!(f, "TLS set-up failed ({e})"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Builds the server configuration: TLS 1.2 and 1.3 with rustls' safe defaults, ALPN
/// `http/1.1`, no client certificates.
pub fn server_config(identity: &TlsIdentity) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut chain =
        read_certificates(&identity.certificate_chain).map_err(TlsError::BadCertificate)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    chain.extend(read_certificates(&identity.extra_chain).map_err(TlsError::BadChain)?);
    let key = PrivateKeyDer::from_pem_slice(identity.private_key.as_bytes())
        .map_err(|e| TlsError::BadKey(e.to_string()))?;

    let mut config = rustls::ServerConfig::builder_with_provider(server_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rejected(e.to_string()))?
        .with_no_client_auth()
        // Checks that the key belongs to the first certificate.
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
            // The first certificate is parsed to compare its public key with the key's.
            rustls::Error::InvalidCertificate(e) => TlsError::BadCertificate(e.to_string()),
            other => TlsError::BadKey(other.to_string()),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The server's order of suites, not the client's (see server_provider).
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// The crypto provider compiled in for this platform (see the core's Cargo.toml): AWS-LC on
/// Linux, ring elsewhere.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(crypto::default_provider())
}

/// The provider with TLS 1.3's AES-128-GCM-SHA256 first. Some clients (OpenSSL's defaults, so
/// Python's; rustls) ask for AES-256-GCM-SHA384 first, whose key schedule hashes with SHA-384,
/// without instructions of its own on most CPUs (about 6% of the server's time in a handshake
/// burst on an AMD EPYC), where SHA-256 has SHA-NI on current x86 and ARMv8 CPUs. AES-128-GCM is the suite
/// every TLS 1.3 implementation must offer (RFC 8446, 9.1), and what browsers ask for first.
fn server_provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = crypto::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

fn read_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if pem.trim().is_empty() {
        return Ok(Vec::new());
    }
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    // rustls parses only the leaf; a broken chain certificate would otherwise be sent to every
    // client and fail each handshake. An X.509 certificate has a readable validity period.
    for (index, certificate) in certificates.iter().enumerate() {
        if validity(certificate).is_none() {
            return Err(format!(
                "certificate {} of {} is not an X.509 certificate",
                index + 1,
                certificates.len()
            ));
        }
    }
    Ok(certificates)
}

/// Problems worth a warning that do not stop the server: certificates expired or not yet valid.
pub fn identity_warnings(identity: &TlsIdentity, now: SystemTime) -> Vec<String> {
    let mut warnings = Vec::new();
    let all = read_certificates(&identity.certificate_chain)
        .unwrap_or_default()
        .into_iter()
        .chain(read_certificates(&identity.extra_chain).unwrap_or_default());
    for (index, cert) in all.enumerate() {
        let which = if index == 0 {
            "the certificate".to_string()
        } else {
            format!("chain certificate {index}")
        };
        match validity(&cert) {
            Some((_, not_after)) if not_after < now => warnings.push(format!(
                "{which} expired {} day(s) ago: clients will refuse it",
                days(now, not_after)
            )),
            Some((not_before, _)) if not_before > now => warnings.push(format!(
                "{which} is not valid for another {} day(s): clients will refuse it",
                days(not_before, now)
            )),
            _ => {}
        }
    }
    warnings
}

fn days(later: SystemTime, earlier: SystemTime) -> u64 {
    later
        .duration_since(earlier)
        .unwrap_or_default()
        .as_secs()
        .div_ceil(86_400)
}

/// Reads notBefore/notAfter from a DER certificate (RFC 5280 §4.1): Certificate → tbsCertificate
/// → [version] serial signature issuer validity.
pub fn validity(cert: &[u8]) -> Option<(SystemTime, SystemTime)> {
    let (tag, certificate, _) = der_element(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _) = der_element(certificate)?;
    if tag != 0x30 {
        return None;
    }
    let mut field = 0;
    loop {
        let (tag, value, rest) = der_element(tbs)?;
        tbs = rest;
        if tag == 0xa0 {
            continue; // explicit version
        }
        field += 1;
        // serial (1), signature algorithm (2), issuer (3), validity (4)
        if field == 4 {
            let (t1, before, rest) = der_element(value)?;
            let (t2, after, _) = der_element(rest)?;
            return Some((der_time(t1, before)?, der_time(t2, after)?));
        }
    }
}

/// One DER element: (tag, contents, what follows).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..count {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + count)
    };
    let end = header.checked_add(len)?;
    Some((tag, input.get(header..end)?, input.get(end..)?))
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ).
fn der_time(tag: u8, value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(value).ok()?;
    let text = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        0x18 if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let num = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute, second) = (num(0)?, num(2)?, num(4)?, num(6)?, num(8)?);
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    if secs >= 0 {
        Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
    } else {
        Some(UNIX_EPOCH - Duration::from_secs((-secs) as u64))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_for(params: rcgen::CertificateParams) -> (TlsIdentity, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let identity = TlsIdentity {
            certificate_chain: cert.pem(),
            private_key: key.serialize_pem(),
            extra_chain: String::new(),
        };
        (identity, key)
    }

    fn localhost() -> rcgen::CertificateParams {
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap()
    }

    #[test]
    fn a_matching_key_and_certificate_make_a_config_offering_http11() {
        let (identity, _) = identity_for(localhost());
        let config = server_config(&identity).expect("valid identity");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_key_of_another_certificate_is_a_mismatch() {
        let (mut identity, _) = identity_for(localhost());
        identity.private_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        assert_eq!(server_config(&identity).unwrap_err(), TlsError::KeyMismatch);
    }

    #[test]
    fn garbage_is_reported_for_what_it_is() {
        let (identity, _) = identity_for(localhost());
        let no_cert = TlsIdentity {
            certificate_chain: "hello".into(),
            ..identity.clone()
        };
        assert!(matches!(
            server_config(&no_cert),
            Err(TlsError::NoCertificate | TlsError::BadCertificate(_))
        ));
        let no_key = TlsIdentity {
            private_key: "hello".into(),
            ..identity
        };
        assert!(matches!(server_config(&no_key), Err(TlsError::BadKey(_))));
    }

    #[test]
    fn an_empty_or_broken_chain_certificate_is_a_bad_chain() {
        let (mut identity, _) = identity_for(localhost());
        identity.extra_chain = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into();
        assert!(matches!(
            server_config(&identity),
            Err(TlsError::BadChain(_))
        ));
        identity.extra_chain =
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into();
        assert!(matches!(
            server_config(&identity),
            Err(TlsError::BadChain(_))
        ));
    }

    #[test]
    fn validity_is_read_from_der() {
        let mut params = localhost();
        params.not_before = rcgen::date_time_ymd(2020, 1, 2);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (before, after) = validity(cert.der()).expect("validity");
        assert_eq!(before, UNIX_EPOCH + Duration::from_secs(1_577_923_200)); // 2020-01-02T00:00:00Z
        assert_eq!(after, UNIX_EPOCH + Duration::from_secs(2_524_521_600)); // 2049-12-31T00:00:00Z
    }

    #[test]
    fn an_expired_certificate_gives_a_warning() {
        let mut params = localhost();
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        let (identity, _) = identity_for(params);
        let warnings = identity_warnings(&identity, SystemTime::now());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("expired"), "{warnings:?}");
        let (fresh, _) = identity_for(localhost());
        assert!(identity_warnings(&fresh, SystemTime::now()).is_empty());
    }
}
