//! The client end of a TLS tunnel: a real rustls client that accepts the test certificate.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// A rustls client session.
pub(crate) struct TlsClient {
    session: rustls::ClientConnection,
}

impl TlsClient {
    pub fn new(config: &Arc<rustls::ClientConfig>) -> TlsClient {
        let name = ServerName::try_from("localhost").expect("valid name");
        TlsClient {
            session: rustls::ClientConnection::new(config.clone(), name).expect("client session"),
        }
    }

    /// Hands plaintext to the session; returns how much it took (it buffers a bounded amount
    /// until the handshake is done).
    pub fn send_plaintext(&mut self, plaintext: &[u8]) -> usize {
        if plaintext.is_empty() {
            return 0;
        }
        self.session.writer().write(plaintext).unwrap_or(0)
    }

    /// Appends the records the session wants to send to `wire`.
    pub fn write_records(&mut self, wire: &mut Vec<u8>) {
        while self.session.wants_write() {
            if self.session.write_tls(wire).is_err() {
                return;
            }
        }
    }

    /// Takes records from the server and appends the plaintext they carry to `plaintext`.
    pub fn receive(&mut self, mut records: &[u8], plaintext: &mut Vec<u8>) -> Result<(), ()> {
        while !records.is_empty() {
            match self.session.read_tls(&mut records) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => return Err(()),
            }
            self.session.process_new_packets().map_err(|_| ())?;
            let mut buf = [0u8; 4096];
            loop {
                match self.session.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => plaintext.extend_from_slice(&buf[..n]),
                    Err(_) => break, // WouldBlock: nothing more decrypted yet
                }
            }
        }
        Ok(())
    }
}

/// The client configuration: trusts whatever certificate the server shows (the harness's own).
pub(crate) fn client_config() -> Arc<rustls::ClientConfig> {
    let provider = crate::tls::crypto_provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
