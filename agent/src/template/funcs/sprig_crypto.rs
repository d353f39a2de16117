//! sprig v3.2.3's crypto and network functions: `bcrypt htpasswd derivePassword genPrivateKey buildCustomCert
//! genCA genCAWithKey genSelfSignedCert genSelfSignedCertWithKey genSignedCert genSignedCertWithKey encryptAES
//! decryptAES randBytes getHostByName`.
//!
//! Certificates are written as Go's `x509.CreateCertificate` writes sprig's templates (the same fields, extension
//! order and criticality, key identifiers and string types) and keys in the PEM blocks sprig writes, so a tool that
//! reads what `bao agent` renders reads ours. Keys, serials and IVs are random: the differential corpus compares
//! those outputs by structure, and the deterministic ones (`derivePassword`, `decryptAES`, re-encoded keys) byte for
//! byte.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Env, FResult, arity, str_arg};
use crate::template::object::GoObject;
use crate::template::value::Value;

/// The sprig names (without `sprig_`) this file serves.
pub const NAMES: &[&str] = &[
    "bcrypt",
    "htpasswd",
    "derivePassword",
    "genPrivateKey",
    "buildCustomCert",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "encryptAES",
    "decryptAES",
    "randBytes",
    "getHostByName",
];

/// Run `sprig_<name>` (`name` without the prefix), or `None` if it is not one of this file's.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> Option<FResult> {
    if !NAMES.contains(&name) {
        return None;
    }
    let env: &Env<'_> = env;
    let s = |i: usize| str_arg(name, &args[i], env);
    let n = |want: usize| arity(name, args, want);
    let cert = |r: Result<Certificate, String>| r.map(|c| Value::Object(Rc::new(c)));
    Some(match name {
        "bcrypt" => n(1).and_then(|()| Ok(Value::str(bcrypt(s(0)?)))),
        "htpasswd" => n(2).and_then(|()| {
            let user = s(0)?;
            Ok(Value::str(if user.contains(':') {
                // sprig returns this as the output, not as an error.
                format!("invalid username: {user}")
            } else {
                format!("{user}:{}", bcrypt(s(1)?))
            }))
        }),
        "derivePassword" => n(5).and_then(|()| {
            let counter = uint32_arg(&args[0])?;
            Ok(Value::str(derive_password(
                counter,
                s(1)?,
                s(2)?,
                s(3)?,
                s(4)?,
            )))
        }),
        "genPrivateKey" => n(1).and_then(|()| Ok(Value::str(gen_private_key(s(0)?)))),
        "buildCustomCert" => n(2).and_then(|()| cert(build_custom_cert(s(0)?, s(1)?))),
        "genCA" => n(2).and_then(|()| {
            let (cn, days) = (s(0)?, int_arg(&args[1])?);
            cert(self_signed(&Request::ca(cn, days), None))
        }),
        "genCAWithKey" => n(3).and_then(|()| {
            let (cn, days, key) = (s(0)?, int_arg(&args[1])?, s(2)?);
            cert(self_signed(&Request::ca(cn, days), Some(key)))
        }),
        "genSelfSignedCert" | "genSelfSignedCertWithKey" => {
            let with_key = name.ends_with("WithKey");
            n(if with_key { 5 } else { 4 }).and_then(|()| {
                let req = Request::leaf(s(0)?, &args[1], &args[2], int_arg(&args[3])?, env)?;
                let key = if with_key { Some(s(4)?) } else { None };
                cert(self_signed(&req, key))
            })
        }
        "genSignedCert" | "genSignedCertWithKey" => {
            let with_key = name.ends_with("WithKey");
            n(if with_key { 6 } else { 5 }).and_then(|()| {
                let (cn, days, ca) = (s(0)?, int_arg(&args[3])?, cert_arg(&args[4])?);
                let key = if with_key { Some(s(5)?) } else { None };
                cert(signed(cn, &args[1], &args[2], days, ca, key, env))
            })
        }
        "encryptAES" => n(2).and_then(|()| encrypt_aes(s(0)?, s(1)?).map(Value::str)),
        "decryptAES" => n(2).and_then(|()| decrypt_aes(s(0)?, s(1)?).map(Value::str)),
        "randBytes" => n(1).and_then(|()| rand_bytes(int_arg(&args[0])?).map(Value::str)),
        "getHostByName" => n(1).and_then(|()| get_host_by_name(s(0)?).map(Value::str)),
        _ => return None,
    })
}

// === arguments ===

/// A Go `int` parameter: an integer constant or `int` value (Go refuses an `int64` there).
fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Missing(_) | Value::Nil => Err("invalid value; expected int".into()),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// `derivePassword`'s `uint32` counter: Go takes a non-negative integer constant that fits.
fn uint32_arg(v: &Value) -> Result<u32, String> {
    match v {
        Value::Int(i) if *i < 0 => Err(format!("expected unsigned integer; found {i}")),
        Value::Int(i) => u32::try_from(*i).map_err(|_| format!("{i} overflows uint32")),
        Value::Missing(_) | Value::Nil => Err("invalid value; expected uint32".into()),
        other => Err(format!(
            "wrong type for value; expected uint32; got {}",
            other.type_name()
        )),
    }
}

/// A `[]interface {}` parameter (the IP and DNS lists): nil and a missing key are an empty list, as in Go.
fn list_arg(v: &Value) -> Result<&[Value], String> {
    match v {
        Value::List(l) => Ok(l),
        Value::Nil | Value::Missing(_) => Ok(&[]),
        other => Err(format!(
            "wrong type for value; expected []interface {{}}; got {}",
            other.type_name()
        )),
    }
}

/// The `sprig.certificate` parameter of `genSignedCert*`.
fn cert_arg(v: &Value) -> Result<&Certificate, String> {
    match v {
        Value::Object(o) => o.as_any().downcast_ref::<Certificate>().ok_or_else(|| {
            format!(
                "wrong type for value; expected sprig.certificate; got {}",
                o.type_name()
            )
        }),
        Value::Missing(_) | Value::Nil => Err("invalid value; expected sprig.certificate".into()),
        other => Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            other.type_name()
        )),
    }
}

/// `text` for an error message, unless it is a secret's value.
fn shown(text: &str, env: &Env<'_>) -> String {
    if env.ctx.is_secret_value(text) {
        "(a secret value)".into()
    } else {
        text.into()
    }
}

// === passwords ===

/// golang.org/x/crypto/bcrypt's `DefaultCost`.
const BCRYPT_COST: u32 = 10;

/// sprig's `bcrypt`: a `$2a$10$` hash, or (as sprig does) the failure as the output.
fn bcrypt(password: &str) -> String {
    // x/crypto refuses what it would otherwise silently truncate.
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .into();
    }
    match bcrypt::hash_with_result(password, BCRYPT_COST) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

/// The Master Password templates sprig knows, by password type.
fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// The characters a Master Password template letter stands for.
fn template_chars(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// sprig's `derivePassword`: the Master Password algorithm (scrypt of the master password salted with the user,
/// HMAC-SHA256 of the site and counter, characters picked by a template). Failures are the output, as in sprig.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    const SEED: &[u8] = b"com.lyndir.masterpassword";
    let Some(templates) = password_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let len32 = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes();
    let salt = [SEED, &len32(user), user.as_bytes()].concat();
    let mut key = Zeroizing::new([0u8; 64]);
    let derived = scrypt::Params::new(15, 8, 2)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            scrypt::scrypt(password.as_bytes(), &salt, &p, key.as_mut()).map_err(|e| e.to_string())
        });
    if let Err(e) = derived {
        return format!("failed to derive password: {e}");
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_ref()) else {
        return "failed to derive password: bad key length".into();
    };
    mac.update(SEED);
    mac.update(&len32(site));
    mac.update(site.as_bytes());
    mac.update(&counter.to_be_bytes());
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .zip(&seed[1..])
        .map(|(c, &r)| {
            let chars = template_chars(c);
            char::from(chars[usize::from(r) % chars.len()])
        })
        .collect()
}

// === AES, random bytes, host names ===

/// sprig's AES key: the password's bytes, cut or zero-padded to 32 (AES-256).
fn aes_key(password: &str) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    key
}

/// sprig's `encryptAES`: AES-256-CBC with PKCS#7 padding and a random IV, base64 of IV and ciphertext.
fn encrypt_aes(password: &str, plaintext: &str) -> Result<String, String> {
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::NoPadding};
    if plaintext.is_empty() {
        return Ok(String::new());
    }
    let iv: [u8; 16] = rand::random();
    let pad = 16 - plaintext.len() % 16;
    let mut buf = Zeroizing::new(plaintext.as_bytes().to_vec());
    buf.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(16), pad));
    let len = buf.len();
    let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(aes_key(password).as_ref(), &iv)
        .map_err(|e| e.to_string())?;
    let ct = enc
        .encrypt_padded::<NoPadding>(&mut buf, len)
        .map_err(|e| e.to_string())?;
    Ok(STANDARD.encode([&iv[..], ct].concat()))
}

/// sprig's `decryptAES`. sprig checks nothing after decoding: what makes Go panic (short or ragged input, a
/// padding byte longer than the text) is an error here with Go's runtime message; a wrong password gives
/// garbage, as in Go (bytes that are not UTF-8 become U+FFFD).
fn decrypt_aes(password: &str, crypt64: &str) -> Result<String, String> {
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::NoPadding};
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let crypt = go_base64(crypt64)?;
    if crypt.len() < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt.len()
        ));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let mut buf = Zeroizing::new(body.to_vec());
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(aes_key(password).as_ref(), iv)
        .map_err(|e| e.to_string())?;
    let plain = dec
        .decrypt_padded::<NoPadding>(&mut buf)
        .map_err(|e| e.to_string())?;
    let Some(&last) = plain.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let keep = i64::try_from(plain.len()).unwrap_or(i64::MAX) - i64::from(last);
    let keep = usize::try_from(keep)
        .map_err(|_| format!("runtime error: slice bounds out of range [:{keep}]"))?;
    Ok(String::from_utf8_lossy(&plain[..keep]).into_owned())
}

/// Go's `base64.StdEncoding.DecodeString`: padded, line breaks ignored, Go's error text.
fn go_base64(text: &str) -> Result<Vec<u8>, String> {
    let clean: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    STANDARD.decode(&clean).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => at,
            _ => clean.len(),
        };
        format!("illegal base64 data at input byte {at}")
    })
}

/// The most `randBytes` makes: Go would try any size; this keeps a template from exhausting memory.
const RAND_BYTES_MAX: i64 = 1 << 24;

/// sprig's `randBytes`: base64 of `count` random bytes.
fn rand_bytes(count: i64) -> Result<String, String> {
    if count < 0 {
        return Err("runtime error: makeslice: len out of range".into());
    }
    if count > RAND_BYTES_MAX {
        return Err(format!(
            "randBytes: {count} bytes is more than {RAND_BYTES_MAX}"
        ));
    }
    let mut buf = Zeroizing::new(vec![0u8; usize::try_from(count).unwrap_or(0)]);
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut buf);
    Ok(STANDARD.encode(&*buf))
}

/// sprig's `getHostByName`: one address of `name`, picked at random, from the system resolver. An IP address is
/// its own answer, as in Go; a name that does not resolve is an error (Go panics in `rand.Intn(0)`).
fn get_host_by_name(name: &str) -> Result<String, String> {
    let literal = name.split_once('%').map_or(name, |(ip, _)| ip);
    if !name.is_empty() && literal.parse::<IpAddr>().is_ok() {
        return Ok(name.to_string());
    }
    let mut addrs: Vec<IpAddr> = Vec::new();
    if !name.is_empty() {
        for a in (name, 0u16).to_socket_addrs().into_iter().flatten() {
            if !addrs.contains(&a.ip()) {
                addrs.push(a.ip());
            }
        }
    }
    if addrs.is_empty() {
        return Err("invalid argument to Intn".into());
    }
    let i = rand::Rng::random_range(&mut rand::rng(), 0..addrs.len());
    Ok(addrs[i].to_string())
}

// === keys ===

/// The elliptic curves sidekey can sign with (Go also knows P-224 and P-521).
#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn from_oid(oid: &[u8]) -> Option<Self> {
        match oid {
            OID_P256 => Some(Curve::P256),
            OID_P384 => Some(Curve::P384),
            _ => None,
        }
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
        }
    }

    /// The private scalar's length in bytes.
    fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// The signature Go picks for a key on this curve.
    fn signing(self) -> (&'static sig::EcdsaSigningAlgorithm, &'static [u8]) {
        match self {
            Curve::P256 => (&sig::ECDSA_P256_SHA256_ASN1_SIGNING, OID_ECDSA_SHA256),
            Curve::P384 => (&sig::ECDSA_P384_SHA384_ASN1_SIGNING, OID_ECDSA_SHA384),
        }
    }
}

/// A private key as sprig's functions see it: made by `genPrivateKey` or the generators, or read from PEM.
enum PrivKey {
    /// RSA, with its PKCS#1 encoding.
    Rsa {
        pkcs1: Zeroizing<Vec<u8>>,
        pair: RsaKeyPair,
    },
    /// ECDSA, with its private scalar (padded to the curve's size).
    Ec {
        curve: Curve,
        scalar: Zeroizing<Vec<u8>>,
        pair: EcdsaKeyPair,
    },
    /// Ed25519, with its seed.
    Ed {
        seed: Zeroizing<[u8; 32]>,
        pair: Ed25519KeyPair,
    },
    /// DSA (OpenSSL's `SEQUENCE {0, p, q, g, y, x}`): it can be made and read, not used for a certificate (Go's
    /// x509 refuses DSA keys).
    Dsa { der: Zeroizing<Vec<u8>> },
}

impl PrivKey {
    fn rsa(bits: usize) -> Result<Self, String> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| e.to_string())?;
        let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
        Self::from_pkcs1(der.as_bytes())
    }

    fn ecdsa_p256() -> Result<Self, String> {
        let (alg, _) = Curve::P256.signing();
        let doc =
            EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).map_err(|e| e.to_string())?;
        Self::from_pkcs8(doc.as_ref())
    }

    fn ed25519() -> Result<Self, String> {
        Self::from_seed(Zeroizing::new(rand::random()))
    }

    fn dsa() -> Result<Self, String> {
        let rng = &mut getrandom::SysRng;
        let params =
            dsa::Components::try_generate_from_rng_with_key_size(rng, dsa::KeySize::DSA_2048_256)
                .map_err(|e| e.to_string())?;
        let key = dsa::SigningKey::try_generate_from_rng_with_components(rng, params)
            .map_err(|e| e.to_string())?;
        let public = key.verifying_key();
        let c = public.components();
        let ints = [
            &*c.p().to_be_bytes(),
            &c.q().to_be_bytes(),
            &c.g().to_be_bytes(),
            &public.y().to_be_bytes(),
            &Zeroizing::new(key.x().to_be_bytes()),
        ]
        .map(der_uint);
        let der = seq(&[&der_uint(&[0]), &ints.concat()]);
        Ok(PrivKey::Dsa {
            der: Zeroizing::new(der),
        })
    }

    fn from_pkcs1(der: &[u8]) -> Result<Self, String> {
        let pair = RsaKeyPair::from_der(der).map_err(|e| format!("x509: {e}"))?;
        Ok(PrivKey::Rsa {
            pkcs1: Zeroizing::new(der.to_vec()),
            pair,
        })
    }

    fn from_seed(seed: Zeroizing<[u8; 32]>) -> Result<Self, String> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).map_err(|e| format!("x509: {e}"))?;
        Ok(PrivKey::Ed { seed, pair })
    }

    /// A SEC1 `ECPrivateKey`; `curve` is the one named outside it (PKCS#8), if any.
    fn from_sec1(der: &[u8], curve: Option<&[u8]>) -> Result<Self, String> {
        let bad = || "x509: failed to parse EC private key".to_string();
        let mut d = Der(der).inside(SEQUENCE).ok_or_else(bad)?;
        if d.take(INTEGER) != Some(&[1]) {
            return Err("x509: unknown EC private key version".into());
        }
        let scalar = d.take(OCTET_STRING).ok_or_else(bad)?;
        let named = d.take(0xa0).and_then(|p| Der(p).take(OID));
        let public = d.take(0xa1).and_then(|p| Der(p).take(BIT_STRING));
        let curve = curve
            .or(named)
            .and_then(Curve::from_oid)
            .ok_or("x509: unknown elliptic curve")?;
        let scalar = scalar.strip_prefix(&[0]).unwrap_or(scalar);
        if scalar.len() > curve.size() {
            return Err("x509: invalid private key length".into());
        }
        let mut padded = Zeroizing::new(vec![0u8; curve.size() - scalar.len()]);
        padded.extend_from_slice(scalar);
        // ring reads keys as PKCS#8 and needs the public key in them.
        let public =
            public.ok_or("x509: an EC private key without its public key is not supported")?;
        let inner = Zeroizing::new(seq(&[
            &der_uint(&[1]),
            &tlv(OCTET_STRING, &padded),
            &tlv(0xa1, &tlv(BIT_STRING, public)),
        ]));
        let pkcs8 = Zeroizing::new(seq(&[
            &der_uint(&[0]),
            &seq(&[&tlv(OID, OID_EC_PUBLIC_KEY), &tlv(OID, curve.oid())]),
            &tlv(OCTET_STRING, &inner),
        ]));
        let (alg, _) = curve.signing();
        let pair = EcdsaKeyPair::from_pkcs8(alg, &pkcs8, &SystemRandom::new())
            .map_err(|e| format!("x509: {e}"))?;
        Ok(PrivKey::Ec {
            curve,
            scalar: padded,
            pair,
        })
    }

    /// A PKCS#8 `PrivateKeyInfo` (Go's `ParsePKCS8PrivateKey`).
    fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let bad = || "x509: malformed PKCS#8 private key".to_string();
        let mut d = Der(der).inside(SEQUENCE).ok_or_else(bad)?;
        d.take(INTEGER).ok_or_else(bad)?;
        let mut alg = Der(d.take(SEQUENCE).ok_or_else(bad)?);
        let oid = alg.take(OID).ok_or_else(bad)?;
        let key = d.take(OCTET_STRING).ok_or_else(bad)?;
        match oid {
            OID_RSA => Self::from_pkcs1(key).map_err(|e| {
                format!("x509: failed to parse RSA private key embedded in PKCS#8: {e}")
            }),
            OID_EC_PUBLIC_KEY => Self::from_sec1(key, Some(alg.take(OID).ok_or_else(bad)?))
                .map_err(|e| {
                    format!("x509: failed to parse EC private key embedded in PKCS#8: {e}")
                }),
            OID_ED25519 => {
                let seed = Der(key)
                    .take(OCTET_STRING)
                    .ok_or("x509: invalid Ed25519 private key")?;
                let seed: [u8; 32] = seed
                    .try_into()
                    .map_err(|_| "x509: invalid Ed25519 private key length")?;
                Self::from_seed(Zeroizing::new(seed))
            }
            _ => Err("x509: PKCS#8 wrapping contained private key with unknown algorithm".into()),
        }
    }

    /// sprig's `parsePrivateKeyPEM`: the first PEM block, by its type.
    fn from_pem(text: &str) -> Result<Self, String> {
        let (kind, der) = pem_decode(text).ok_or("no PEM data in input")?;
        let der = Zeroizing::new(der);
        if kind == "PRIVATE KEY" {
            return Self::from_pkcs8(&der).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
        }
        let Some(prefix) = kind.strip_suffix(" PRIVATE KEY") else {
            return Err(format!("no private key data in PEM block of type {kind}"));
        };
        match prefix {
            "RSA" => {
                Self::from_pkcs1(&der).map_err(|e| format!("parsing RSA private key from PEM: {e}"))
            }
            "EC" => Self::from_sec1(&der, None)
                .map_err(|e| format!("parsing EC private key from PEM: {e}")),
            "DSA" => {
                let mut d = Der(&der)
                    .inside(SEQUENCE)
                    .ok_or("parsing DSA private key from PEM: asn1: syntax error")?;
                for _ in 0..6 {
                    d.take(INTEGER)
                        .ok_or("parsing DSA private key from PEM: asn1: structure error")?;
                }
                Ok(PrivKey::Dsa { der })
            }
            _ => Err(format!("invalid private key type {kind}")),
        }
    }

    /// sprig's `pemBlockForKey`: PKCS#1 for RSA, SEC1 for ECDSA, OpenSSL's form for DSA, PKCS#8 for Ed25519.
    fn pem(&self) -> String {
        match self {
            PrivKey::Rsa { pkcs1, .. } => pem_encode("RSA PRIVATE KEY", pkcs1),
            PrivKey::Ec {
                curve,
                scalar,
                pair,
            } => {
                let der = Zeroizing::new(seq(&[
                    &der_uint(&[1]),
                    &tlv(OCTET_STRING, scalar),
                    &tlv(0xa0, &tlv(OID, curve.oid())),
                    &tlv(0xa1, &bit_string(pair.public_key().as_ref())),
                ]));
                pem_encode("EC PRIVATE KEY", &der)
            }
            PrivKey::Ed { seed, .. } => {
                let der = Zeroizing::new(seq(&[
                    &der_uint(&[0]),
                    &seq(&[&tlv(OID, OID_ED25519)]),
                    &tlv(OCTET_STRING, &tlv(OCTET_STRING, seed.as_ref())),
                ]));
                pem_encode("PRIVATE KEY", &der)
            }
            PrivKey::Dsa { der } => pem_encode("DSA PRIVATE KEY", der),
        }
    }

    /// The `SubjectPublicKeyInfo` and, inside it, the public key's bytes (what key identifiers hash).
    fn public(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let (alg, bits) = match self {
            PrivKey::Rsa { pair, .. } => (
                seq(&[&tlv(OID, OID_RSA), &[NULL, 0]]),
                pair.public_key().as_ref().to_vec(),
            ),
            PrivKey::Ec { curve, pair, .. } => (
                seq(&[&tlv(OID, OID_EC_PUBLIC_KEY), &tlv(OID, curve.oid())]),
                pair.public_key().as_ref().to_vec(),
            ),
            PrivKey::Ed { pair, .. } => (
                seq(&[&tlv(OID, OID_ED25519)]),
                pair.public_key().as_ref().to_vec(),
            ),
            PrivKey::Dsa { .. } => {
                return Err("x509: unsupported public key type: *dsa.PublicKey".into());
            }
        };
        Ok((seq(&[&alg, &bit_string(&bits)]), bits))
    }

    /// The signature `AlgorithmIdentifier` Go picks for this signing key.
    fn signature_algorithm(&self) -> Result<Vec<u8>, String> {
        Ok(match self {
            PrivKey::Rsa { .. } => seq(&[&tlv(OID, OID_RSA_SHA256), &[NULL, 0]]),
            PrivKey::Ec { curve, .. } => seq(&[&tlv(OID, curve.signing().1)]),
            PrivKey::Ed { .. } => seq(&[&tlv(OID, OID_ED25519)]),
            PrivKey::Dsa { .. } => {
                return Err(
                    "x509: certificate private key does not implement crypto.Signer".into(),
                );
            }
        })
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match self {
            PrivKey::Rsa { pair, .. } => {
                let mut out = vec![0u8; pair.public().modulus_len()];
                pair.sign(&sig::RSA_PKCS1_SHA256, &rng, msg, &mut out)
                    .map_err(|e| e.to_string())?;
                Ok(out)
            }
            PrivKey::Ec { pair, .. } => pair
                .sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| e.to_string()),
            PrivKey::Ed { pair, .. } => Ok(pair.sign(msg).as_ref().to_vec()),
            PrivKey::Dsa { .. } => {
                Err("x509: certificate private key does not implement crypto.Signer".into())
            }
        }
    }
}

/// sprig's `genPrivateKey`: a PEM private key, or (as sprig does) the failure as the output.
fn gen_private_key(kind: &str) -> String {
    let made = match kind {
        "" | "rsa" => PrivKey::rsa(4096),
        "dsa" => PrivKey::dsa(),
        "ecdsa" => PrivKey::ecdsa_p256(),
        "ed25519" => PrivKey::ed25519(),
        _ => return format!("Unknown type {kind}"),
    };
    match made {
        Ok(k) => k.pem(),
        Err(e) => format!("failed to generate private key: {e}"),
    }
}

// === certificates ===

/// sprig's `certificate` struct: a PEM certificate and its PEM private key, `.Cert` and `.Key` in templates.
struct Certificate {
    cert: Zeroizing<String>,
    key: Zeroizing<String>,
}

impl GoObject for Certificate {
    fn type_name(&self) -> &'static str {
        "sprig.certificate"
    }

    fn kind(&self) -> &'static str {
        "struct"
    }

    fn field(&self, name: &str) -> Option<Result<Value, String>> {
        match name {
            "Cert" => Some(Ok(Value::str(self.cert.as_str()))),
            "Key" => Some(Ok(Value::str(self.key.as_str()))),
            _ => None,
        }
    }

    fn write_v(&self, out: &mut String) {
        out.push('{');
        out.push_str(&self.cert);
        out.push(' ');
        out.push_str(&self.key);
        out.push('}');
    }

    fn plain(&self) -> Result<Value, String> {
        let fields = [("Cert", &self.cert), ("Key", &self.key)];
        Ok(Value::Map(Rc::new(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::str(v.as_str())))
                .collect::<BTreeMap<_, _>>(),
        )))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What sprig's `getBaseCertTemplate` (and `genCA`'s changes to it) put in a certificate.
struct Request<'a> {
    cn: &'a str,
    ips: Vec<IpAddr>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

impl<'a> Request<'a> {
    fn ca(cn: &'a str, days: i64) -> Self {
        Request {
            cn,
            ips: Vec::new(),
            dns: Vec::new(),
            days,
            is_ca: true,
        }
    }

    /// A leaf certificate's request; the lists are checked as sprig checks them (strings, parsable IPs).
    fn leaf(
        cn: &'a str,
        ips: &Value,
        dns: &Value,
        days: i64,
        env: &Env<'_>,
    ) -> Result<Self, String> {
        let ips = list_arg(ips)?
            .iter()
            .map(|v| match v {
                Value::Str(s) => {
                    parse_go_ip(s).ok_or_else(|| format!("error parsing ip: {}", shown(s, env)))
                }
                other => Err(format!(
                    "error parsing ip: {} is not a string",
                    not_string(other)
                )),
            })
            .collect::<Result<_, _>>()?;
        let dns: Vec<String> = list_arg(dns)?
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.to_string()),
                other => Err(format!(
                    "error processing alternate dns name: {} is not a string",
                    not_string(other)
                )),
            })
            .collect::<Result<_, _>>()?;
        if let Some(bad) = dns.iter().find(|d: &&String| !d.is_ascii()) {
            return Err(format!(
                "error creating certificate: x509: {:?} cannot be encoded as an IA5String",
                shown(bad, env)
            ));
        }
        Ok(Request {
            cn,
            ips,
            dns,
            days,
            is_ca: false,
        })
    }
}

/// A list element that is not a string, for an error message: Go prints it with `%v`; only numbers and booleans
/// are shown here, since anything else may hold a secret's data.
fn not_string(v: &Value) -> String {
    match v {
        Value::Int(_) | Value::Int64(_) | Value::Float(_) | Value::Bool(_) | Value::Nil => {
            crate::template::print::to_v(v)
        }
        other => format!("a {}", other.type_name()),
    }
}

/// Go's `net.ParseIP`: dotted IPv4 or IPv6 text, no zone.
fn parse_go_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// The certificate's issuer when it is not self-signed: the CA's subject (raw), key identifier and public key.
struct Issuer {
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
    spki: Vec<u8>,
}

/// `genCA`, `genSelfSignedCert` and their `WithKey` forms: a new RSA 2048 key, or the PEM key given.
fn self_signed(req: &Request<'_>, key_pem: Option<&str>) -> Result<Certificate, String> {
    let key = match key_pem {
        Some(pem) => PrivKey::from_pem(pem).map_err(|e| format!("parsing private key: {e}"))?,
        None => PrivKey::rsa(2048).map_err(|e| format!("error generating rsa key: {e}"))?,
    };
    create_certificate(req, &key, None, &key)
}

/// `genSignedCert` and `genSignedCertWithKey`: a leaf certificate signed by `ca`.
fn signed(
    cn: &str,
    ips: &Value,
    dns: &Value,
    days: i64,
    ca: &Certificate,
    key_pem: Option<&str>,
    env: &Env<'_>,
) -> Result<Certificate, String> {
    let key = match key_pem {
        Some(pem) => PrivKey::from_pem(pem).map_err(|e| format!("parsing private key: {e}"))?,
        None => PrivKey::rsa(2048).map_err(|e| format!("error generating rsa key: {e}"))?,
    };
    let (_, der) = pem_decode(&ca.cert).ok_or("unable to decode certificate")?;
    let issuer = parse_issuer(&der)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let signer =
        PrivKey::from_pem(&ca.key).map_err(|e| format!("error parsing private key: {e}"))?;
    let req = Request::leaf(cn, ips, dns, days, env)?;
    create_certificate(&req, &key, Some(&issuer), &signer)
}

/// The parts of a CA certificate a certificate it signs needs.
fn parse_issuer(der: &[u8]) -> Result<Issuer, String> {
    use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
    // Go's first-level error: x509-parser's own messages say nothing more a template author can use.
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|_| "x509: malformed certificate".to_string())?;
    let tbs = &cert.tbs_certificate;
    let key_id = tbs
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    Ok(Issuer {
        subject: tbs.subject.as_raw().to_vec(),
        key_id,
        spki: tbs.subject_pki.raw.to_vec(),
    })
}

/// sprig's `buildCustomCert`: a certificate object from base64 PEM texts, both checked as sprig checks them.
fn build_custom_cert(b64cert: &str, b64key: &str) -> Result<Certificate, String> {
    let cert = go_base64(b64cert).map_err(|_| "unable to decode base64 certificate")?;
    let key = Zeroizing::new(go_base64(b64key).map_err(|_| "unable to decode base64 private key")?);
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = Zeroizing::new(String::from_utf8_lossy(&key).into_owned());
    let (_, der) = pem_decode(&cert).ok_or("unable to decode certificate")?;
    parse_issuer(&der).map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    PrivKey::from_pem(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok(Certificate {
        cert: Zeroizing::new(cert),
        key,
    })
}

/// Go's `x509.CreateCertificate` for sprig's templates: `subject_key`'s certificate, signed by `signer` for
/// `issuer` (self-signed when `None`).
fn create_certificate(
    req: &Request<'_>,
    subject_key: &PrivKey,
    issuer: Option<&Issuer>,
    signer: &PrivKey,
) -> Result<Certificate, String> {
    let fail = |e: String| format!("error creating certificate: {e}");
    let sig_alg = signer.signature_algorithm().map_err(fail)?;
    if let Some(issuer) = issuer {
        let (signer_spki, _) = signer.public().map_err(fail)?;
        if signer_spki != issuer.spki {
            return Err(fail(
                "x509: provided PrivateKey doesn't match parent's PublicKey".into(),
            ));
        }
    }
    let (spki, key_bits) = subject_key.public().map_err(fail)?;
    let subject = name(req.cn);
    let issuer_name = issuer.map_or(&subject, |i| &i.subject);

    let now = time::OffsetDateTime::now_utc();
    // Go: time.Now().Add(time.Hour * 24 * time.Duration(days)), an int64 of nanoseconds that may wrap.
    let valid = time::Duration::nanoseconds(86_400_000_000_000i64.wrapping_mul(req.days));
    let not_after = now
        .checked_add(valid)
        .ok_or_else(|| fail("validity out of range".into()))?;

    let mut exts: Vec<Vec<u8>> = Vec::new();
    let key_usage: &[u8] = if req.is_ca { &[2, 0xa4] } else { &[5, 0xa0] };
    exts.push(extension(OID_KEY_USAGE, true, &tlv(BIT_STRING, key_usage)));
    exts.push(extension(
        OID_EXT_KEY_USAGE,
        false,
        &seq(&[&tlv(OID, OID_SERVER_AUTH), &tlv(OID, OID_CLIENT_AUTH)]),
    ));
    let ca_flag: &[u8] = if req.is_ca { &[0x01, 0x01, 0xff] } else { &[] };
    exts.push(extension(OID_BASIC_CONSTRAINTS, true, &seq(&[ca_flag])));
    if req.is_ca {
        // Go 1.25 and later: the first 160 bits of the SHA-256 of the public key (RFC 7093).
        let id = &Sha256::digest(&key_bits)[..20];
        exts.push(extension(OID_SUBJECT_KEY_ID, false, &tlv(OCTET_STRING, id)));
    }
    if let Some(id) = issuer
        .and_then(|i| i.key_id.as_ref())
        .filter(|_| *issuer_name != subject)
    {
        exts.push(extension(
            OID_AUTHORITY_KEY_ID,
            false,
            &seq(&[&tlv(0x80, id)]),
        ));
    }
    if !req.dns.is_empty() || !req.ips.is_empty() {
        let names: Vec<Vec<u8>> = req
            .dns
            .iter()
            .map(|d| tlv(0x82, d.as_bytes()))
            .chain(req.ips.iter().map(|ip| match ip {
                IpAddr::V4(v4) => tlv(0x87, &v4.octets()),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => tlv(0x87, &v4.octets()),
                    None => tlv(0x87, &v6.octets()),
                },
            }))
            .collect();
        let critical = subject == seq(&[]);
        exts.push(extension(
            OID_SUBJECT_ALT_NAME,
            critical,
            &seq(&[&names.concat()]),
        ));
    }

    let serial: [u8; 16] = rand::random();
    let tbs = seq(&[
        &tlv(0xa0, &der_uint(&[2])),
        &der_uint(&serial),
        &sig_alg,
        issuer_name,
        &seq(&[&go_time(now), &go_time(not_after)]),
        &subject,
        &spki,
        &tlv(0xa3, &seq(&[&exts.concat()])),
    ]);
    let signature = signer.sign(&tbs).map_err(fail)?;
    let der = seq(&[&tbs, &sig_alg, &bit_string(&signature)]);
    Ok(Certificate {
        cert: Zeroizing::new(pem_encode("CERTIFICATE", &der)),
        key: Zeroizing::new(subject_key.pem()),
    })
}

/// A subject holding only the common name, as Go's `pkix.Name{CommonName: cn}` marshals: a PrintableString when
/// every byte allows it, else a UTF8String; an empty name is an empty sequence.
fn name(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return seq(&[]);
    }
    let printable = cn
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let value = tlv(if printable { 0x13 } else { 0x0c }, cn.as_bytes());
    seq(&[&tlv(0x31, &seq(&[&tlv(OID, OID_COMMON_NAME), &value]))])
}

/// An ASN.1 time as Go writes it: UTCTime from 1950 to 2049, GeneralizedTime otherwise; whole seconds, UTC.
fn go_time(t: time::OffsetDateTime) -> Vec<u8> {
    let (y, hms) = (
        t.year(),
        format!(
            "{:02}{:02}{:02}{:02}{:02}Z",
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
    );
    if (1950..2050).contains(&y) {
        tlv(0x17, format!("{:02}{hms}", y % 100).as_bytes())
    } else {
        tlv(0x18, format!("{y:04}{hms}").as_bytes())
    }
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let flag: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
    seq(&[&tlv(OID, oid), flag, &tlv(OCTET_STRING, value)])
}

// === DER and PEM ===

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const OID_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// One DER value: tag, definite length, content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(BIT_STRING, &[&[0u8][..], bytes].concat())
}

/// A non-negative INTEGER from big-endian bytes: minimal, with a leading zero when the top bit is set.
fn der_uint(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|&&b| b == 0).count();
    let digits = &be[skip..];
    match digits.first() {
        None => tlv(INTEGER, &[0]),
        Some(&b) if b & 0x80 != 0 => tlv(INTEGER, &[&[0u8][..], digits].concat()),
        Some(_) => tlv(INTEGER, digits),
    }
}

/// A reader of the DER values inside one constructed value.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next value's tag and content.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        self.0 = &rest[len..];
        Some((tag, &rest[..len]))
    }

    /// The next value's content if it has tag `tag` (nothing is consumed otherwise).
    fn take(&mut self, tag: u8) -> Option<&'a [u8]> {
        let mut probe = Der(self.0);
        match probe.next() {
            Some((t, content)) if t == tag => {
                self.0 = probe.0;
                Some(content)
            }
            _ => None,
        }
    }

    /// A reader of the content of the next value, if it has tag `tag`.
    fn inside(mut self, tag: u8) -> Option<Der<'a>> {
        self.take(tag).map(Der)
    }
}

/// Go's `pem.EncodeToMemory`: base64 in lines of 64.
fn pem_encode(kind: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(STANDARD.encode(der));
    let mut out = format!("-----BEGIN {kind}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {kind}-----\n"));
    out
}

/// Go's `pem.Decode`: the first well-formed block (its type and bytes); text around it is ignored, and so are
/// headers (`Proc-Type: ...`).
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    const BEGIN: &str = "-----BEGIN ";
    let mut from = 0;
    while let Some(at) = text[from..].find(BEGIN).map(|i| from + i) {
        from = at + BEGIN.len();
        if at > 0 && text.as_bytes()[at - 1] != b'\n' {
            continue;
        }
        let rest = &text[from..];
        let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
        let Some(kind) = line
            .trim_end_matches([' ', '\t', '\r'])
            .strip_suffix("-----")
        else {
            continue;
        };
        let end = format!("-----END {kind}-----");
        let Some(stop) = body.find(&end) else {
            continue;
        };
        let lines: Vec<&str> = body[..stop].lines().collect();
        let skip = lines.iter().take_while(|l| l.contains(':')).count();
        let b64: Zeroizing<String> = Zeroizing::new(
            lines[skip..]
                .iter()
                .flat_map(|l| l.chars())
                .filter(|c| !c.is_ascii_whitespace())
                .collect(),
        );
        if let Ok(der) = STANDARD.decode(b64.as_bytes()) {
            return Some((kind.to_string(), der));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, clippy::unwrap_used)] // a failed test panics

    use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

    use super::*;
    use crate::backend::secret::SecretRequest;
    use crate::template::{MissingKey, ParseOptions, RenderContext, Template};

    struct NoData;

    impl RenderContext for NoData {
        fn secret(
            &self,
            _: &SecretRequest,
        ) -> Option<std::sync::Arc<crate::backend::secret::Secret>> {
            None
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
        fn file(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn try_render(src: &str) -> Result<String, String> {
        let t = Template::parse("t", src, &ParseOptions::default()).map_err(|e| e.to_string())?;
        t.render(&NoData, MissingKey::NoValue)
            .result
            .map(|s| s.to_string())
            .map_err(|e| e.to_string())
    }

    fn render(src: &str) -> String {
        try_render(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    const ED25519: &str = r"-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIFJwHSAbfRbxNMjQcQyzuXRoFi0TWm4UnokzGej44jLc
-----END PRIVATE KEY-----
";
    const EC_SEC1: &str = r"-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIONaJqVvEka9QfxBxycHu00ouSgtHmetOl9Qh2BOmT8YoAoGCCqGSM49
AwEHoUQDQgAEOrDq5c6h900dh4t7k7b6zXdZmvQO5N8ewcAQu41o18+Zs5hPpWS9
zXNEGotjY78t7z8h4iYJf3XNhZf/6+uhGg==
-----END EC PRIVATE KEY-----
";
    const EC_PKCS8: &str = r"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg41ompW8SRr1B/EHH
Jwe7TSi5KC0eZ606X1CHYE6ZPxihRANCAAQ6sOrlzqH3TR2Hi3uTtvrNd1ma9A7k
3x7BwBC7jWjXz5mzmE+lZL3Nc0Qai2Njvy3vPyHiJgl/dc2Fl//r66Ea
-----END PRIVATE KEY-----
";

    /// The DER of a PEM text's first block.
    fn der(pem: &str) -> Vec<u8> {
        pem_decode(pem).unwrap().1
    }

    fn parsed(der: &[u8]) -> X509Certificate<'_> {
        X509Certificate::from_der(der).unwrap().1
    }

    #[test]
    fn derive_password_matches_sprigs_vectors() {
        for (kind, counter, want) in [
            ("long", 1, "ZedaFaxcZaso9*"),
            ("long", 2, "Fovi2@JifpTupx"),
            ("maximum", 1, "pf4zS1LjCg&LjhsZ7T2~"),
            ("medium", 1, "ZedJuz8$"),
            ("basic", 1, "pIS54PLs"),
            ("short", 1, "Zed5"),
            ("pin", 1, "6685"),
        ] {
            assert_eq!(
                derive_password(counter, kind, "password", "user", "example.com"),
                want
            );
        }
        assert_eq!(
            render(r#"{{ sprig_derivePassword 1 "nope" "p" "u" "s" }}"#),
            "cannot find password template nope"
        );
        assert!(try_render(r#"{{ sprig_derivePassword -1 "pin" "p" "u" "s" }}"#).is_err());
    }

    #[test]
    fn aes_decrypts_what_openssl_encrypted_and_round_trips() {
        for (ct, want) in [
            ("AAECAwQFBgcICQoLDA0OD4aChIkqfhLglmmHSXlA6r0=", "plaintext"),
            (
                "AAECAwQFBgcICQoLDA0OD6sKIoHjSwdKf3invHq2CGJCFu4QJGmUZnuzw/skcurK",
                "exactly sixteen!",
            ),
            ("AAECAwQFBgcICQoLDA0ODyPzj7oitTGY4pYKGbGpIt0=", ""),
            // sprig does not check the padding: a zero byte removes nothing.
            (
                "AAECAwQFBgcICQoLDA0OD6tMFbwYMeiYlRBs+ZmBtfw=",
                "fifteen chars!!\0",
            ),
            (
                "AAECAwQFBgcICQoLDA0OD7ofqG10UrOvGeuQxh6+oVg=",
                "abcdefghijklm",
            ),
        ] {
            assert_eq!(decrypt_aes("secretkey", ct).unwrap(), want);
        }
        // Only the first 32 bytes of the password are the key.
        assert_eq!(
            decrypt_aes(
                "0123456789abcdef0123456789abcdefXYZ",
                "AAECAwQFBgcICQoLDA0OD9PQAC6kjVn5FgOKVAPOYIU="
            )
            .unwrap(),
            "long key"
        );
        for bad in [
            "AAECAwQFBgcICQoLDA0ODwdTVFdjyFs3Wn39uwAq+BQ=",
            "AAEC",
            "AAECAwQFBgcICQoLDA0ODw==",
            "!!",
        ] {
            assert!(decrypt_aes("secretkey", bad).is_err(), "{bad}");
        }
        assert_eq!(
            render(
                r#"{{ "plaintext" | sprig_encryptAES "secretkey" | sprig_decryptAES "secretkey" }}"#
            ),
            "plaintext"
        );
        assert_eq!(
            render(r#"{{ sprig_encryptAES "k" "" }}|{{ sprig_decryptAES "k" "" }}"#),
            "|"
        );
        // IV and two blocks, in base64.
        assert_eq!(
            render(r#"{{ sprig_encryptAES "k" "sixteen bytes!!!" | len }}"#),
            "64"
        );
    }

    #[test]
    fn bcrypt_writes_go_hashes_and_refuses_long_passwords() {
        let h = render(r#"{{ sprig_bcrypt "abc" }}"#);
        assert!(h.starts_with("$2a$10$") && h.len() == 60, "{h}");
        assert!(bcrypt::verify("abc", &h).unwrap());
        assert_eq!(
            bcrypt(&"x".repeat(73)),
            "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
        );
        let line = render(r#"{{ sprig_htpasswd "bob" "pw" }}"#);
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "bob");
        assert!(bcrypt::verify("pw", hash).unwrap());
        assert_eq!(
            render(r#"{{ sprig_htpasswd "a:b" "pw" }}"#),
            "invalid username: a:b"
        );
    }

    #[test]
    fn private_keys_are_in_sprigs_pem_blocks() {
        let ec = gen_private_key("ecdsa");
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{ec}");
        assert_eq!(ec.lines().count(), 5);
        assert_eq!(PrivKey::from_pem(&ec).unwrap().pem(), ec);
        let ed = gen_private_key("ed25519");
        assert!(
            ed.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"),
            "{ed}"
        );
        assert_eq!(ed.lines().count(), 3);
        assert_eq!(gen_private_key("x25519"), "Unknown type x25519");
        // What sprig re-encodes: SEC1 with the curve, from PKCS#8 too.
        assert_eq!(PrivKey::from_pem(EC_PKCS8).unwrap().pem(), EC_SEC1);
        assert_eq!(PrivKey::from_pem(EC_SEC1).unwrap().pem(), EC_SEC1);
        assert_eq!(PrivKey::from_pem(ED25519).unwrap().pem(), ED25519);
        for (pem, want) in [
            ("junk", "no PEM data in input"),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "no private key data in PEM block of type CERTIFICATE",
            ),
            (
                "-----BEGIN X PRIVATE KEY-----\nAAAA\n-----END X PRIVATE KEY-----\n",
                "invalid private key type X PRIVATE KEY",
            ),
        ] {
            assert_eq!(PrivKey::from_pem(pem).err().unwrap(), want);
        }
    }

    #[test]
    fn rsa_and_dsa_keys_are_generated() {
        let rsa = gen_private_key("rsa");
        assert!(
            rsa.starts_with("-----BEGIN RSA PRIVATE KEY-----\nMIIJ"),
            "{rsa}"
        );
        let PrivKey::Rsa { pair, .. } = PrivKey::from_pem(&rsa).unwrap() else {
            panic!("not RSA")
        };
        assert_eq!(pair.public().modulus_len(), 512);
        let dsa = gen_private_key("dsa");
        assert!(
            dsa.starts_with("-----BEGIN DSA PRIVATE KEY-----\n"),
            "{dsa}"
        );
        assert!(matches!(PrivKey::from_pem(&dsa), Ok(PrivKey::Dsa { .. })));
        let err =
            try_render(&format!("{{{{ sprig_genCAWithKey \"ca\" 1 {:?} }}}}", dsa)).unwrap_err();
        assert!(err.contains("does not implement crypto.Signer"), "{err}");
    }

    #[test]
    fn ca_and_signed_certificates_have_gos_fields() {
        let out = render(
            r#"{{ $ca := sprig_genCA "my-ca" 365 }}{{ $c := sprig_genSignedCert "srv" (sprig_list "127.0.0.1" "::1") (sprig_list "a.example") 30 $ca }}{{ $ca.Cert }}|{{ $ca.Key }}|{{ $c.Cert }}|{{ $c.Key }}"#,
        );
        let parts: Vec<&str> = out.split('|').collect();
        let (ca_der, leaf_der) = (der(parts[0]), der(parts[2]));
        assert!(parts[1].starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(parts[3].starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let (ca, leaf) = (parsed(&ca_der), parsed(&leaf_der));

        assert_eq!(ca.version().0, 2);
        assert_eq!(ca.subject().to_string(), "CN=my-ca");
        assert_eq!(ca.issuer().to_string(), "CN=my-ca");
        assert!(ca.is_ca());
        let days = |c: &X509Certificate<'_>| {
            (c.validity().not_after.timestamp() - c.validity().not_before.timestamp()) / 86_400
        };
        assert_eq!(days(&ca), 365);
        assert_eq!(days(&leaf), 30);
        let ku = ca.key_usage().unwrap().unwrap();
        assert!(
            ku.critical
                && ku.value.digital_signature()
                && ku.value.key_encipherment()
                && ku.value.key_cert_sign()
        );
        let eku = ca.extended_key_usage().unwrap().unwrap();
        assert!(!eku.critical && eku.value.server_auth && eku.value.client_auth);
        let ski = ca
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .unwrap();
        let key_bits = ca.public_key().subject_public_key.data.to_vec();
        assert_eq!(ski, Sha256::digest(&key_bits)[..20].to_vec());
        assert!(ca.subject_alternative_name().unwrap().is_none());

        assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
        assert!(!leaf.is_ca());
        let bc = leaf.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && !bc.value.ca);
        let ku = leaf.key_usage().unwrap().unwrap();
        assert!(
            ku.value.digital_signature()
                && ku.value.key_encipherment()
                && !ku.value.key_cert_sign()
        );
        let aki = leaf
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(aki, ski);
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        assert!(!san.critical);
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => hex::encode(ip),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(
            names,
            ["a.example", "7f000001", "00000000000000000000000000000001"]
        );
        // The leaf's signature verifies with the CA's key.
        let (tbs, sig) = (
            leaf.tbs_certificate.as_ref(),
            leaf.signature_value.data.as_ref(),
        );
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &key_bits,
        )
        .verify(tbs, sig)
        .unwrap();
    }

    #[test]
    fn certificates_with_given_keys_keep_them() {
        let out = render(&format!(
            "{{{{ $c := sprig_genSelfSignedCertWithKey \"\" nil (sprig_list \"x.example\") 1 {EC_PKCS8:?} }}}}{{{{ $c.Cert }}}}|{{{{ $c.Key }}}}"
        ));
        let (cert, key) = out.split_once('|').unwrap();
        assert_eq!(key, EC_SEC1);
        let cert_der = der(cert);
        let c = parsed(&cert_der);
        // An empty subject makes the alternative names critical.
        assert!(c.subject_alternative_name().unwrap().unwrap().critical);
        assert_eq!(
            c.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.10045.4.3.2"
        );

        let out = render(&format!(
            "{{{{ $ca := sprig_genCAWithKey \"ed-ca\" 2 {ED25519:?} }}}}{{{{ $c := sprig_genSignedCertWithKey \"leaf\" nil nil 1 $ca {EC_SEC1:?} }}}}{{{{ $ca.Key }}}}|{{{{ $c.Key }}}}|{{{{ $c.Cert }}}}"
        ));
        let parts: Vec<&str> = out.split('|').collect();
        assert_eq!(parts[0], ED25519);
        assert_eq!(parts[1], EC_SEC1);
        let cert_der = der(parts[2]);
        let c = parsed(&cert_der);
        assert_eq!(
            c.signature_algorithm.algorithm.to_id_string(),
            "1.3.101.112"
        );
        assert!(c.subject_alternative_name().unwrap().is_none());
        // A CA object whose key is not the certificate's.
        let err = try_render(&format!(
            "{{{{ $ca := sprig_genCAWithKey \"ed-ca\" 2 {ED25519:?} }}}}{{{{ $bad := sprig_buildCustomCert ($ca.Cert | sprig_b64enc) ({EC_SEC1:?} | sprig_b64enc) }}}}{{{{ sprig_genSignedCert \"x\" nil nil 1 $bad }}}}"
        ))
        .unwrap_err();
        assert!(err.contains("doesn't match parent's PublicKey"), "{err}");
    }

    #[test]
    fn certificate_objects_print_and_encode_like_gos_struct() {
        let out = render(&format!(
            "{{{{ $ca := sprig_genCAWithKey \"c\" 1 {ED25519:?} }}}}{{{{ $b := sprig_buildCustomCert ($ca.Cert | sprig_b64enc) ($ca.Key | sprig_b64enc) }}}}{{{{ eq $b.Cert $ca.Cert }}}} {{{{ sprig_typeOf $b }}}} {{{{ sprig_kindOf $b }}}}|{{{{ $b }}}}|{{{{ $b | sprig_toJson }}}}"
        ));
        let parts: Vec<&str> = out.split('|').collect();
        assert_eq!(parts[0], "true sprig.certificate struct");
        assert!(
            parts[1].starts_with("{-----BEGIN CERTIFICATE-----\n")
                && parts[1].ends_with(&format!(" {ED25519}}}"))
        );
        assert!(
            parts[2].starts_with("{\"Cert\":\"-----BEGIN CERTIFICATE-----\\n")
                && parts[2].contains("\",\"Key\":\"-----BEGIN PRIVATE KEY")
        );
        for bad in [
            r#"{{ sprig_buildCustomCert "!" "" }}"#,
            r#"{{ sprig_buildCustomCert "" "!" }}"#,
            r#"{{ sprig_buildCustomCert "" "" }}"#,
            r#"{{ sprig_genSelfSignedCert "x" (sprig_list "1.2.3") nil 1 }}"#,
            r#"{{ sprig_genSelfSignedCert "x" (sprig_list 1) nil 1 }}"#,
            r#"{{ sprig_genSelfSignedCert "x" nil (sprig_list "é.example") 1 }}"#,
            r#"{{ sprig_genSelfSignedCert "x" (sprig_splitList "," "1.2.3.4") nil 1 }}"#,
            r#"{{ sprig_genSignedCert "x" nil nil 1 "not a ca" }}"#,
            r#"{{ sprig_genCA "x" (sprig_add 1 1) }}"#,
        ] {
            assert!(try_render(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_bytes_and_host_names() {
        assert_eq!(
            render(r#"{{ sprig_randBytes 12 | len }} {{ sprig_randBytes 0 | len }}"#),
            "16 0"
        );
        assert!(try_render(r#"{{ sprig_randBytes -1 }}"#).is_err());
        assert_eq!(
            render(r#"{{ sprig_getHostByName "127.0.0.1" }}"#),
            "127.0.0.1"
        );
        let h = render(r#"{{ sprig_getHostByName "localhost" }}"#);
        assert!(h == "127.0.0.1" || h == "::1", "{h}");
        assert!(try_render(r#"{{ sprig_getHostByName "" }}"#).is_err());
    }
}
