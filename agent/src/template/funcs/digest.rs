//! Hashes: `md5sum` and `hmacSHA256Hex` (hex-encoded, as consul-template prints them).

use md5::Md5;
use sha2::{Digest, Sha256};

use super::{Env, FResult, arity, str_arg};
use crate::template::value::Value;

/// SHA-256's block size, for HMAC.
const BLOCK: usize = 64;

/// Run hash function `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    Some(match name {
        "md5sum" => arity(name, args, 1)
            .and_then(|()| str_arg(name, &args[0], env))
            .map(|s| Value::str(hex::encode(Md5::digest(s.as_bytes())))),
        // consul-template's order: the message first, then the key (`{{ hmacSHA256Hex .msg "key" }}`).
        "hmacSHA256Hex" => arity(name, args, 2).and_then(|()| {
            let msg = str_arg(name, &args[0], env)?;
            let key = str_arg(name, &args[1], env)?;
            Ok(Value::str(hex::encode(hmac_sha256(
                key.as_bytes(),
                msg.as_bytes(),
            ))))
        }),
        _ => return None,
    })
}

/// HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || msg)).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::hmac_sha256;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
