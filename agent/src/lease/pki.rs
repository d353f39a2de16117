//! consul-template's `pkiCert` reuse rule: a certificate already in the template's destination is used
//! again, instead of issuing a new one on every start, while it is still good.
//!
//! "Still good" is consul-template's rule (`dependency/vault_pki.go`): not expired, and 90 % of the time left
//! is more than 10 % of the certificate's whole life. The destination's PEM blocks are sorted as
//! consul-template does: a block whose label ends in `PRIVATE KEY` is the key, a CA certificate is the CA,
//! any other certificate is the leaf. Unlike consul-template, a file without the private key is not reused
//! (a template that only writes the certificate would otherwise get an empty `.Key`).

use base64::Engine as _;
use x509_parser::pem::Pem;

use crate::backend::secret::{Secret, SecretData};

/// The certificate in `pem` as the secret a fresh `pki/issue` would give (`certificate`, `private_key`,
/// `issuing_ca`, `expiration` in Unix seconds, `serial_number` as the server writes it), if it is still
/// good at `now` (Unix seconds).
pub(super) fn reusable(pem: &[u8], now: i64) -> Option<Secret> {
    let mut leaf = None;
    let mut key = None;
    let mut ca = None;
    for block in Pem::iter_from_buffer(pem) {
        let block = block.ok()?;
        if block.label.ends_with("PRIVATE KEY") {
            key = Some(encode(&block));
            continue;
        }
        let (_, cert) = x509_parser::parse_x509_certificate(&block.contents).ok()?;
        let window = (
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
        );
        if cert.is_ca() {
            ca = Some(encode(&block));
        } else {
            leaf = Some((encode(&block), window, serial(cert.raw_serial())));
        }
    }
    let ((certificate, (start, end), serial_number), private_key) = (leaf?, key?);
    if !still_good(start, end, now) {
        return None;
    }
    let mut data = serde_json::Map::new();
    data.insert("certificate".into(), certificate.into());
    data.insert("private_key".into(), private_key.into());
    if let Some(ca) = ca {
        data.insert("issuing_ca".into(), ca.into());
    }
    data.insert("expiration".into(), end.into());
    data.insert("serial_number".into(), serial_number.into());
    Some(Secret {
        data: SecretData(serde_json::Value::Object(data)),
        ..Secret::default()
    })
}

/// A serial number as OpenBao writes one (`serial_number`): its bytes without DER's leading zero, in
/// lower-case hex pairs joined by colons.
fn serial(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    let pairs: Vec<String> = raw[start..].iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(":")
}

/// consul-template's `goodFor`: 90 % of the time left must exceed 10 % of the lifetime (Unix seconds).
fn still_good(not_before: i64, not_after: i64, now: i64) -> bool {
    if not_after <= now {
        return false;
    }
    let lifespan = not_after - not_before;
    (not_after - now) * 9 / 10 > lifespan / 10
}

/// The block as Go's `pem.EncodeToMemory` writes it (64-column base64), without the final newline, the
/// way the API returns PEM values.
fn encode(block: &Pem) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&block.contents);
    let mut out = format!("-----BEGIN {}-----\n", block.label);
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {}-----", block.label));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_until_the_last_tenth_of_life() {
        // A 100 s certificate: reused while 0.9 × left > 10 s in whole seconds, i.e. 13 s or more left.
        assert!(still_good(0, 100, 0));
        assert!(still_good(0, 100, 87));
        assert!(!still_good(0, 100, 88));
        assert!(!still_good(0, 100, 100));
        assert!(!still_good(0, 100, 150));
    }

    #[test]
    fn serials_are_written_as_the_server_writes_them() {
        assert_eq!(serial(&[0x00, 0x9a, 0x01]), "9a:01");
        assert_eq!(serial(&[0x3f, 0x00]), "3f:00");
        assert_eq!(serial(&[0x00]), "00");
    }

    #[test]
    fn files_without_a_certificate_or_key_are_not_reused() {
        assert!(reusable(b"", 0).is_none());
        assert!(reusable(b"not a pem file\n", 0).is_none());
        let key_only = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(reusable(key_only.as_bytes(), 0).is_none());
    }
}
