//! Encrypted token sinks (`dh_type = "curve25519"`) in Vault Agent's format (OpenBao's `helper/dhutil`).
//!
//! The consumer writes its X25519 public key to `dh_path` as `{"curve25519_public_key": "<base64>"}`.
//! The agent makes its own key pair (kept for the sink's life, as Vault Agent does), computes the shared
//! secret, and uses it as the AES-256-GCM key — or with `derive_key`, HKDF-SHA256 of it with the lower of
//! the two public keys as salt and the higher as info. The sink file holds the envelope
//! `{"curve25519_public_key": ..., "nonce": ..., "encrypted_payload": ...}` (standard base64, as Go
//! encodes bytes; the payload is ciphertext then tag), with a newline after it, as Go's JSON encoder
//! writes it. The additional authenticated data is the sink's `aad`.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Length of an X25519 key and of the AES-256 key.
const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce.
const NONCE_LEN: usize = 12;

/// The consumer's public key file, as Vault Agent reads it.
#[derive(Deserialize)]
struct PublicKeyInfo {
    #[serde(default)]
    curve25519_public_key: Option<String>,
}

/// What the sink file holds, as Vault Agent writes it (these keys, in this order).
#[derive(Serialize)]
struct Envelope {
    curve25519_public_key: String,
    nonce: String,
    encrypted_payload: String,
}

/// The agent's side of the exchange: its key pair. The private key is zeroized on drop.
pub struct KeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(&mut bytes[..]);
        let secret = StaticSecret::from(*bytes);
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair(<private key redacted>)")
    }
}

/// The consumer's public key from the contents of its `dh_path` file.
///
/// # Errors
/// What is wrong with the file's contents (never the contents).
pub fn parse_public_key(text: &[u8]) -> Result<[u8; KEY_LEN], String> {
    let info: PublicKeyInfo = serde_json::from_slice(text).map_err(|e| {
        format!(
            "not the JSON {{\"curve25519_public_key\": \"<base64>\"}} Vault Agent reads (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let encoded = info
        .curve25519_public_key
        .filter(|k| !k.is_empty())
        .ok_or("no curve25519_public_key in it")?;
    let bytes = STANDARD
        .decode(&encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(&encoded))
        .map_err(|_| "curve25519_public_key is not base64")?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| format!("curve25519_public_key has {} bytes, not 32", bytes.len()))
}

/// The AES-256 key for `ours` and the consumer's public key `theirs`: the X25519 shared secret, or with
/// `derive` HKDF-SHA256 of it (salt: the lower public key, info: the higher), as `dhutil` derives it.
fn aes_key(
    ours: &KeyPair,
    theirs: &[u8; KEY_LEN],
    derive: bool,
) -> Result<Zeroizing<[u8; KEY_LEN]>, String> {
    let shared = ours.secret.diffie_hellman(&PublicKey::from(*theirs));
    // An all-zero result (a low-order public key) would encrypt under a key anyone knows.
    if !shared.was_contributory() {
        return Err("the public key in dh_path is not a usable curve25519 key".into());
    }
    let secret = Zeroizing::new(shared.to_bytes());
    if !derive {
        return Ok(secret);
    }
    let ours = ours.public.as_bytes();
    let (salt, info) = match ours.cmp(theirs) {
        std::cmp::Ordering::Less => (ours, theirs),
        std::cmp::Ordering::Greater => (theirs, ours),
        std::cmp::Ordering::Equal => {
            return Err("the public key in dh_path is the agent's own".into());
        }
    };
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(Some(&salt[..]), &secret[..])
        .expand(info, &mut key[..])
        .map_err(|_| "key derivation failed".to_string())?;
    Ok(key)
}

/// Encrypt `plaintext` for the consumer whose public key is `theirs`: the envelope file's contents.
///
/// # Errors
/// An unusable public key (never key material or the plaintext).
pub fn seal(
    ours: &KeyPair,
    theirs: &[u8; KEY_LEN],
    derive: bool,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let key = aes_key(ours, theirs, derive)?;
    let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| "bad AES key length")?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| "encryption failed".to_string())?;
    let envelope = Envelope {
        curve25519_public_key: STANDARD.encode(ours.public.as_bytes()),
        nonce: STANDARD.encode(nonce),
        encrypted_payload: STANDARD.encode(&sealed),
    };
    let mut out = Zeroizing::new(
        serde_json::to_vec(&envelope).map_err(|_| "encoding the envelope failed".to_string())?,
    );
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The consumer's side, written from the documented format only.
    fn open(
        consumer: &StaticSecret,
        derive: bool,
        aad: &[u8],
        file: &[u8],
    ) -> Result<Vec<u8>, aes_gcm::Error> {
        let env: serde_json::Value = serde_json::from_slice(file).unwrap();
        let field = |k: &str| STANDARD.decode(env[k].as_str().unwrap()).unwrap();
        let agent: [u8; 32] = field("curve25519_public_key").try_into().unwrap();
        let shared = consumer.diffie_hellman(&PublicKey::from(agent)).to_bytes();
        let mut key = shared;
        if derive {
            let mine = PublicKey::from(consumer).to_bytes();
            let (salt, info) = if mine < agent {
                (mine, agent)
            } else {
                (agent, mine)
            };
            Hkdf::<Sha256>::new(Some(&salt[..]), &shared)
                .expand(&info, &mut key)
                .unwrap();
        }
        let nonce: [u8; 12] = field("nonce").try_into().unwrap();
        Aes256Gcm::new_from_slice(&key).unwrap().decrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: &field("encrypted_payload"),
                aad,
            },
        )
    }

    fn consumer() -> (StaticSecret, [u8; 32]) {
        let secret = StaticSecret::from([7u8; 32]);
        let public = PublicKey::from(&secret).to_bytes();
        (secret, public)
    }

    #[test]
    fn the_consumer_opens_what_is_sealed_with_and_without_derive_key() {
        let (secret, public) = consumer();
        let agent = KeyPair::generate();
        for derive in [false, true] {
            let file = seal(&agent, &public, derive, b"aad-1", b"s.token\n").unwrap();
            assert!(file.ends_with(b"}\n"));
            let text = std::str::from_utf8(&file).unwrap();
            assert!(text.starts_with("{\"curve25519_public_key\":\""), "{text}");
            assert_eq!(
                open(&secret, derive, b"aad-1", &file).unwrap(),
                b"s.token\n"
            );
        }
    }

    #[test]
    fn a_wrong_aad_or_mode_does_not_open() {
        let (secret, public) = consumer();
        let agent = KeyPair::generate();
        let file = seal(&agent, &public, true, b"right", b"tok").unwrap();
        assert!(open(&secret, true, b"right", &file).is_ok());
        assert!(open(&secret, true, b"wrong", &file).is_err());
        assert!(open(&secret, false, b"right", &file).is_err());
    }

    #[test]
    fn public_key_files_are_read_as_vault_agent_reads_them() {
        let (_, public) = consumer();
        let text = format!(
            "{{\"curve25519_public_key\": \"{}\"}}",
            STANDARD.encode(public)
        );
        assert_eq!(parse_public_key(text.as_bytes()).unwrap(), public);
        assert!(
            parse_public_key(b"{}")
                .unwrap_err()
                .contains("no curve25519_public_key")
        );
        assert!(
            parse_public_key(b"{\"curve25519_public_key\": \"AAAA\"}")
                .unwrap_err()
                .contains("3 bytes")
        );
        assert!(parse_public_key(b"not json").is_err());
    }

    #[test]
    fn a_low_order_key_is_refused() {
        let agent = KeyPair::generate();
        let err = seal(&agent, &[0u8; 32], false, b"", b"t").unwrap_err();
        assert!(err.contains("not a usable"), "{err}");
    }
}
