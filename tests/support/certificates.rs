//! Test certificates: a CA, a server certificate for 127.0.0.1 and localhost, and a client
//! certificate, written as PEM files (`ca.crt`, `server.crt`/`.key`, `client.crt`/`.key`).

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// Writes a fresh CA named `ca_name` and the certificates it signs into `dir`.
pub fn write(dir: &Path, ca_name: &str) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    for (name, purpose, names) in [
        (
            "server",
            ExtendedKeyUsagePurpose::ServerAuth,
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        ),
        ("client", ExtendedKeyUsagePurpose::ClientAuth, Vec::new()),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![purpose];
        let certificate = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), certificate.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}
