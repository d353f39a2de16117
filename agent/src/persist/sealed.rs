//! The encrypted state file: AES-256-GCM with a fresh random 96-bit nonce per write. The file is a small
//! JSON envelope
//!
//! ```json
//! {"format":"sidekey-state","v":1,"cipher":"aes-256-gcm","nonce":"<base64>","data":"<base64>"}
//! ```
//!
//! where `data` is the ciphertext and its 16-byte tag. The associated data is
//! `sidekey-state\0<v>\0<cipher>`: it binds the ciphertext to this purpose and format version, so a blob
//! sealed for anything else with the same key (or a version downgrade of the envelope) does not open.
//! Whatever fails to open — another key, one flipped bit — is refused as a whole.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::key::Key;

/// The envelope's `format`: what the file is.
const FORMAT: &str = "sidekey-state";
/// The envelope's version.
const VERSION: u32 = 1;
/// The one cipher.
const CIPHER: &str = "aes-256-gcm";
/// Length of an AES-GCM nonce.
const NONCE_LEN: usize = 12;

/// The file's envelope.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    v: u32,
    cipher: String,
    nonce: String,
    data: String,
}

/// Why a file does not open. Never carries any of its content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Not an encrypted state file at all.
    #[error("not an encrypted sidekey state file")]
    NotSealed,
    /// An envelope of a newer sidekey.
    #[error("written by a newer sidekey (envelope version {0}, this one reads {VERSION})")]
    Version(u32),
    /// Another cipher than AES-256-GCM.
    #[error("encrypted with {0:?}, which this sidekey does not know")]
    Cipher(String),
    /// Authentication failed: another key, or the file was altered.
    #[error("cannot be decrypted (written with another key, or altered since)")]
    Decrypt,
}

/// The associated data for an envelope of version `v` with `cipher`.
fn aad(v: u32, cipher: &str) -> Vec<u8> {
    format!("{FORMAT}\0{v}\0{cipher}").into_bytes()
}

/// Encrypt `plaintext` under `key` into the file's bytes.
pub(crate) fn seal(key: &Key, plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.bytes().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let aad = aad(VERSION, CIPHER);
    // AES-GCM encryption fails only for a message beyond 64 GiB, which a state file never is.
    let data = cipher
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap_or_default();
    let envelope = Envelope {
        format: FORMAT.into(),
        v: VERSION,
        cipher: CIPHER.into(),
        nonce: STANDARD.encode(nonce),
        data: STANDARD.encode(data),
    };
    let mut out = serde_json::to_vec(&envelope).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Whether `file` is an encrypted state file (whatever its key).
pub(crate) fn is_sealed(file: &[u8]) -> bool {
    envelope(file).is_some()
}

fn envelope(file: &[u8]) -> Option<Envelope> {
    serde_json::from_slice::<Envelope>(file)
        .ok()
        .filter(|e| e.format == FORMAT)
}

/// Decrypt the file's bytes with `key`.
///
/// # Errors
/// [`OpenError`]; nothing of a file that fails is returned.
pub(crate) fn open(key: &Key, file: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let e = envelope(file).ok_or(OpenError::NotSealed)?;
    if e.v != VERSION {
        return Err(OpenError::Version(e.v));
    }
    if e.cipher != CIPHER {
        return Err(OpenError::Cipher(e.cipher));
    }
    let nonce: [u8; NONCE_LEN] = STANDARD
        .decode(&e.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(OpenError::Decrypt)?;
    let data = STANDARD.decode(&e.data).map_err(|_| OpenError::Decrypt)?;
    let cipher = Aes256Gcm::new(key.bytes().into());
    cipher
        .decrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: &data,
                aad: &aad(e.v, &e.cipher),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenError::Decrypt)
}
