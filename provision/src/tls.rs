//! Certificates for servers started with TLS on: a certificate authority made on the spot
//! ([`TestCa`]), the server certificates it signs for chosen host names ([`TestCa::issue`]),
//! and the PEM files a server and its clients read ([`TlsFiles`]), in a temp dir removed on
//! drop. What a managed database gives its clients (a CA bundle to trust, a server
//! certificate for its host name), made locally so that a test can check the client really
//! verifies: against the right CA it connects; against another CA, or a certificate for
//! another host name, it must refuse.
//!
//! Keys are ECDSA P-256 (rcgen's default, through ring like the rest of the workspace);
//! validity is rcgen's default (1975 to 4096): a test certificate never expires mid-run.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate authority that exists only for one test: its certificate (what clients
/// trust) and the key it signs server certificates with.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    /// Leaves out the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A server certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    /// Leaves out the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A fresh CA named `name` (its subject's common name, which shows in a client's errors).
    pub fn new(name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .context("certificate parameters for the test CA")?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().context("generating the test CA's key")?;
        let issuer =
            CertifiedIssuer::self_signed(params, key).context("self-signing the test CA")?;
        Ok(TestCa { issuer })
    }

    /// The CA's certificate, PEM: what a client is given to trust.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names, or IP addresses such as `127.0.0.1`, each
    /// a subject alternative name), signed by this CA, with a fresh key.
    pub fn issue(&self, names: &[&str]) -> Result<Issued> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())
            .with_context(|| format!("certificate parameters for {names:?}"))?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().context("generating a server key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing the certificate for {names:?}"))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The PEM files of one server's TLS: the CA a client trusts, the server's certificate and
/// its key, in a temp dir that is removed when this is dropped.
pub struct TlsFiles {
    dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl TlsFiles {
    /// `ca.pem` (the certificate of `ca`), `server.pem` and `server.key` (`server`) in a
    /// fresh temp dir; the key readable by its owner only, as servers demand.
    pub fn write(ca: &TestCa, server: &Issued) -> Result<TlsFiles> {
        let dir = tempfile::Builder::new()
            .prefix("stepwise-tls-")
            .tempdir()
            .context("creating a temp dir for TLS files")?;
        let ca_file = write_file(dir.path(), "ca.pem", &ca.cert_pem(), 0o644)?;
        let cert_file = write_file(dir.path(), "server.pem", &server.cert_pem, 0o644)?;
        let key_file = write_file(dir.path(), "server.key", &server.key_pem, 0o600)?;
        Ok(TlsFiles {
            dir,
            ca_file,
            cert_file,
            key_file,
        })
    }

    /// A CA and a certificate for `localhost` and `127.0.0.1`, written out: what a local
    /// server with TLS on needs in most tests.
    pub fn localhost(ca_name: &str) -> Result<(TestCa, TlsFiles)> {
        let ca = TestCa::new(ca_name)?;
        let server = ca.issue(&["localhost", "127.0.0.1"])?;
        let files = TlsFiles::write(&ca, &server)?;
        Ok((ca, files))
    }

    /// The dir the files are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Writes `contents` to `dir/name` with `mode`.
pub(crate) fn write_file(dir: &Path, name: &str, contents: &str, mode: u32) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::PostgresServer;
    use crate::redis::{TlsRedis, ping_tls};

    #[test]
    fn a_postgres_started_with_tls_serves_its_certificate_and_refuses_plain_connections() {
        let (ca, files) = TlsFiles::localhost("provision test CA").unwrap();
        let server = PostgresServer::start_local_with_tls(&files).unwrap();
        let verified = format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            server.url().replace("127.0.0.1", "localhost"),
            files.ca_file.display()
        );
        crate::postgres::select_one(&verified).unwrap();
        let plain = format!("{}?sslmode=disable", server.url());
        let refused = crate::postgres::select_one(&plain).unwrap_err();
        assert!(
            format!("{refused:#}").contains("no encryption"),
            "{refused:#}"
        );
        drop(ca);
    }

    #[test]
    fn a_redis_started_with_tls_answers_clients_that_trust_its_ca_only() {
        let (_ca, files) = TlsFiles::localhost("provision test CA").unwrap();
        let redis = TlsRedis::start(&files).unwrap();
        let ca_pem = fs::read(&files.ca_file).unwrap();
        ping_tls(&redis.url(), &ca_pem).unwrap();
        let other = TestCa::new("another CA").unwrap();
        let refused = ping_tls(&redis.url(), other.cert_pem().as_bytes()).unwrap_err();
        assert!(
            format!("{refused:#}").contains("UnknownIssuer"),
            "{refused:#}"
        );
    }
}
