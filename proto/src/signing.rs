//! HMAC signing and verification of framed records, as Heka's Go client signs
//! and its HekaFramingSplitter checks: the digest covers the message bytes
//! only (never the header), and keys are looked up by `<signer>_<key_version>`.
//!
//! Producers (heka-flood, heka-sbmgr, a hekad sending to another) hold a
//! [`SigningKey`]; receivers hold the [`Signers`] table of their splitter's
//! `[name.signer.<signer>_<version>]` sections.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};

use crate::message::{Header, header::HmacHashFunction};

type HmacMd5 = Hmac<md5::Md5>;
type HmacSha1 = Hmac<sha1::Sha1>;

/// Why a signed record was rejected. Rejected records are never delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No key is configured under `<signer>_<version>`.
    #[error("unknown signer {signer:?} key version {version}")]
    UnknownSigner {
        /// Signer named by the header (shown lossily if it is not UTF-8).
        signer: String,
        /// Key version named by the header.
        version: u32,
    },
    /// The digest does not match the message under the configured key.
    #[error("bad HMAC from signer {signer:?} key version {version}")]
    BadDigest {
        /// Signer named by the header.
        signer: String,
        /// Key version named by the header.
        version: u32,
    },
    /// The header names a hash function Heka does not know.
    #[error("unknown HMAC hash function {0}")]
    UnknownHashFunction(i32),
}

/// A configuration key name that is not `<signer>_<version>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signer key name {0:?} is not <signer>_<key_version>")]
pub struct BadKeyName(pub String);

/// Computes the HMAC of `message` with `hash` under `key`.
pub fn digest(hash: HmacHashFunction, key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    match hash {
        HmacHashFunction::Md5 => {
            let mut mac = HmacMd5::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        HmacHashFunction::Sha1 => {
            let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

fn verify_digest(hash: HmacHashFunction, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    // `verify_slice` compares in constant time.
    match hash {
        HmacHashFunction::Md5 => {
            let mut mac = HmacMd5::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        HmacHashFunction::Sha1 => {
            let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
    }
}

/// A producer's signing identity.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Signer name written to the header.
    pub signer: String,
    /// Key version written to the header.
    pub version: u32,
    /// Digest to use.
    pub hash: HmacHashFunction,
    /// The shared secret.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("signer", &self.signer)
            .field("version", &self.version)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Fills the signature fields of `header` for `message`. As Heka's Go
    /// client does, the hash function is only written when it is SHA1, and
    /// the key version is always written.
    pub fn sign(&self, header: &mut Header, message: &[u8]) {
        header.hmac_hash_function = match self.hash {
            HmacHashFunction::Md5 => None,
            HmacHashFunction::Sha1 => Some(HmacHashFunction::Sha1 as i32),
        };
        header.hmac_signer = Some(Bytes::copy_from_slice(self.signer.as_bytes()));
        header.hmac_key_version = Some(self.version);
        header.hmac = Some(digest(self.hash, &self.key, message).into());
    }
}

/// How a record passed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticated {
    /// The header carries no HMAC: accepted, as Heka accepts unsigned records.
    Unsigned,
    /// A valid signature by this signer (Heka tags the pack with it, for
    /// `message_signer` routing).
    Signed(Bytes),
}

/// The verification keys of a receiver, by signer name and key version.
#[derive(Clone, Default)]
pub struct Signers {
    keys: Vec<(Bytes, u32, Vec<u8>)>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self
            .keys
            .iter()
            .map(|(s, v, _)| format!("{}_{v}", String::from_utf8_lossy(s)))
            .collect();
        f.debug_struct("Signers").field("keys", &names).finish()
    }
}

impl Signers {
    /// An empty table: unsigned records pass, every signed one is rejected.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key of `signer` at `version`.
    pub fn insert(&mut self, signer: &str, version: u32, key: impl Into<Vec<u8>>) {
        let key = key.into();
        match self
            .keys
            .iter_mut()
            .find(|(s, v, _)| s.as_ref() == signer.as_bytes() && *v == version)
        {
            Some(entry) => entry.2 = key,
            None => self
                .keys
                .push((Bytes::copy_from_slice(signer.as_bytes()), version, key)),
        }
    }

    /// Adds a key named as in Heka's config, `<signer>_<version>` (the
    /// signer may itself contain `_`; the version is after the last one).
    pub fn insert_named(&mut self, name: &str, key: impl Into<Vec<u8>>) -> Result<(), BadKeyName> {
        let (signer, version) = name
            .rsplit_once('_')
            .and_then(|(s, v)| Some((s, v.parse::<u32>().ok()?)))
            .ok_or_else(|| BadKeyName(name.to_owned()))?;
        self.insert(signer, version, key);
        Ok(())
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the signature of one record: `header` is its decoded header and
    /// `message` the bytes the header announced.
    pub fn verify(&self, header: &Header, message: &[u8]) -> Result<Authenticated, AuthError> {
        let Some(tag) = header.hmac.as_ref() else {
            return Ok(Authenticated::Unsigned);
        };
        let signer = header.hmac_signer.clone().unwrap_or_default();
        let version = header.hmac_key_version.unwrap_or(0);
        let raw_hash = header.hmac_hash_function.unwrap_or(0);
        let hash = HmacHashFunction::try_from(raw_hash)
            .map_err(|_| AuthError::UnknownHashFunction(raw_hash))?;
        let Some((_, _, key)) = self
            .keys
            .iter()
            .find(|(s, v, _)| *s == signer && *v == version)
        else {
            return Err(AuthError::UnknownSigner {
                signer: String::from_utf8_lossy(&signer).into_owned(),
                version,
            });
        };
        if verify_digest(hash, key, message, tag) {
            Ok(Authenticated::Signed(signer))
        } else {
            Err(AuthError::BadDigest {
                signer: String::from_utf8_lossy(&signer).into_owned(),
                version,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 2202 test cases 2 (HMAC-MD5) and 2 (HMAC-SHA1): key "Jefe".
    const DATA: &[u8] = b"what do ya want for nothing?";

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn digests_match_rfc_2202() {
        assert_eq!(
            hex(&digest(HmacHashFunction::Md5, b"Jefe", DATA)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex(&digest(HmacHashFunction::Sha1, b"Jefe", DATA)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    fn signed(hash: HmacHashFunction) -> Header {
        let key = SigningKey {
            signer: "ops".into(),
            version: 1,
            hash,
            key: b"secret".to_vec(),
        };
        let mut h = Header {
            message_length: DATA.len() as u32,
            ..Header::default()
        };
        key.sign(&mut h, DATA);
        h
    }

    #[test]
    fn a_signature_verifies_under_the_same_key_only() {
        let mut signers = Signers::new();
        signers.insert_named("ops_1", "secret").unwrap();
        for hash in [HmacHashFunction::Md5, HmacHashFunction::Sha1] {
            let h = signed(hash);
            assert_eq!(
                signers.verify(&h, DATA),
                Ok(Authenticated::Signed(Bytes::from_static(b"ops")))
            );
            assert!(matches!(
                signers.verify(&h, b"tampered"),
                Err(AuthError::BadDigest { .. })
            ));
        }
        let mut other = Signers::new();
        other.insert("ops", 1, "another secret");
        assert!(matches!(
            other.verify(&signed(HmacHashFunction::Md5), DATA),
            Err(AuthError::BadDigest { .. })
        ));
        let mut wrong_version = Signers::new();
        wrong_version.insert("ops", 2, "secret");
        assert_eq!(
            wrong_version.verify(&signed(HmacHashFunction::Md5), DATA),
            Err(AuthError::UnknownSigner {
                signer: "ops".into(),
                version: 1
            })
        );
    }

    #[test]
    fn unsigned_headers_pass_and_unknown_hashes_fail() {
        let signers = Signers::new();
        let h = Header {
            message_length: 4,
            ..Header::default()
        };
        assert_eq!(signers.verify(&h, b"abcd"), Ok(Authenticated::Unsigned));
        let mut odd = signed(HmacHashFunction::Md5);
        odd.hmac_hash_function = Some(7);
        assert_eq!(
            signers.verify(&odd, DATA),
            Err(AuthError::UnknownHashFunction(7))
        );
    }

    #[test]
    fn md5_headers_omit_the_hash_function_and_sha1_headers_carry_it() {
        assert_eq!(signed(HmacHashFunction::Md5).hmac_hash_function, None);
        assert_eq!(signed(HmacHashFunction::Sha1).hmac_hash_function, Some(1));
    }

    #[test]
    fn key_names_need_a_numeric_version() {
        let mut s = Signers::new();
        assert!(s.insert_named("ops", "k").is_err());
        assert!(s.insert_named("ops_x", "k").is_err());
        s.insert_named("my_team_3", "k").unwrap();
        assert_eq!(format!("{s:?}"), "Signers { keys: [\"my_team_3\"] }");
    }
}
