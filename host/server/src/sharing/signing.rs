//! Pre-signed URLs of shared files. A query answers with URLs a client fetches without its
//! token (the protocol's clients hand them to generic HTTP readers), so each URL carries its
//! expiry and an HMAC-SHA256 of the file it names and that expiry, under a key only the host
//! holds (`sharing.key` in the data directory, owner-only). Nothing of the recipient's token
//! is in the URL.

use std::path::Path;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One shared file: a port's data at a published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFile {
    /// The product.
    pub product: String,
    /// Its port.
    pub port: String,
    /// The published version.
    pub version: u64,
    /// Seconds since the epoch after which the URL is refused.
    pub expires: i64,
}

/// Why a signed URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The signature does not match: altered, or signed by another key.
    BadSignature,
    /// Past its expiry.
    Expired,
}

/// The expiry (seconds since the epoch) of a URL signed at `now_us` (microseconds) to live
/// `lifetime`: rounded up to the next whole second, so it lives at least its full lifetime
/// however close to a second's end it was signed.
pub fn expiry(now_us: i64, lifetime: Duration) -> i64 {
    let lifetime_us = i64::try_from(lifetime.as_micros()).unwrap_or(i64::MAX);
    let end_us = now_us.saturating_add(lifetime_us);
    end_us.div_euclid(1_000_000) + i64::from(end_us.rem_euclid(1_000_000) != 0)
}

/// Signs and checks shared files' URLs.
pub struct Signer {
    /// The keyed MAC, cloned for each signature.
    keyed: Hmac<Sha256>,
}

impl Signer {
    /// A signer with the key at `path`, created on first use.
    pub fn open(path: &Path) -> std::io::Result<Signer> {
        let key = tessera_runtime::host_key::load_or_create(path, "the sharing key")?;
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Signer { keyed })
    }

    fn mac(&self, file: &SignedFile) -> Hmac<Sha256> {
        // Fields are separated by a byte no name may hold, so no two files sign alike.
        let message = format!(
            "{}\n{}\n{}\n{}",
            file.product, file.port, file.version, file.expires
        );
        let mut mac = self.keyed.clone();
        mac.update(message.as_bytes());
        mac
    }

    /// A keyed tag of `message` for `purpose` (such as the web UI's form tokens), hex. The
    /// purpose and the message are joined by a line break, and file signatures join four
    /// fields, so no tag is ever a file's signature.
    pub fn tag(&self, purpose: &str, message: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(format!("{purpose}\n{message}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The signature of `file`, hex.
    pub fn sign(&self, file: &SignedFile) -> String {
        hex::encode(self.mac(file).finalize().into_bytes())
    }

    /// Whether `signature` is `file`'s and `file` has not expired at `now` (seconds since the
    /// epoch). The comparison takes the same time whatever the signature.
    pub fn check(&self, file: &SignedFile, signature: &str, now: i64) -> Result<(), Refusal> {
        let bytes = hex::decode(signature).map_err(|_| Refusal::BadSignature)?;
        self.mac(file)
            .verify_slice(&bytes)
            .map_err(|_| Refusal::BadSignature)?;
        if now >= file.expires {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(expires: i64) -> SignedFile {
        SignedFile {
            product: "labeled-studies".into(),
            port: "consensus".into(),
            version: 3,
            expires,
        }
    }

    #[test]
    fn a_url_signed_just_before_a_second_ends_lives_its_whole_lifetime() {
        let second = Duration::from_secs(1);
        // Signed at 10.999 999 s for 1 s: still valid at 11.999 s (checked in whole seconds).
        let expires = expiry(10_999_999, second);
        assert_eq!(expires, 12);
        assert!(11 < expires);
        assert_eq!(expiry(10_000_000, second), 11);
        assert_eq!(expiry(10_000_001, Duration::from_millis(500)), 11);
        assert_eq!(
            expiry(i64::MAX - 5, Duration::from_secs(3600)),
            i64::MAX / 1_000_000 + 1
        );
    }

    #[test]
    fn a_signature_holds_for_its_file_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::open(&dir.path().join("sharing.key")).unwrap();
        let signature = signer.sign(&file(100));
        assert_eq!(signer.check(&file(100), &signature, 99), Ok(()));
        assert_eq!(
            signer.check(&file(100), &signature, 100),
            Err(Refusal::Expired)
        );
        // Another version, a later expiry, another key: refused.
        let mut other = file(100);
        other.version = 4;
        assert_eq!(
            signer.check(&other, &signature, 0),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            signer.check(&file(1000), &signature, 0),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            signer.check(&file(100), "zz", 0),
            Err(Refusal::BadSignature)
        );
        let again = Signer::open(&dir.path().join("sharing.key")).unwrap();
        assert_eq!(again.check(&file(100), &signature, 0), Ok(()));
        let stranger = Signer::open(&dir.path().join("other.key")).unwrap();
        assert_eq!(
            stranger.check(&file(100), &signature, 0),
            Err(Refusal::BadSignature)
        );
    }
}
