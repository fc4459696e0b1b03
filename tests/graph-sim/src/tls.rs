//! HTTPS for the simulator: a CA generated per run (written to a PEM file clients can trust) and a server
//! certificate for `localhost` and `127.0.0.1` signed by it. azure_identity accepts only an https authority.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct Tls {
    pub server_config: Arc<rustls::ServerConfig>,
    pub ca_pem: String,
    pub ca_file: PathBuf,
}

/// Generates the CA and server certificate and writes the CA to `ca_file`.
pub fn generate(ca_file: &Path) -> anyhow::Result<Tls> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "sua graph-sim CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;

    let ca_pem = ca.pem();
    if let Some(dir) = ca_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(ca_file, &ca_pem)?;

    let chain = vec![CertificateDer::from(leaf.der().to_vec()), CertificateDer::from(ca.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let server_config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key)?;
    Ok(Tls { server_config: Arc::new(server_config), ca_pem, ca_file: ca_file.to_path_buf() })
}
