//! Pre-signed URLs of shared files. A query answers with URLs a client fetches without its
//! token (the protocol's clients hand them to generic HTTP readers), so each URL carries its
//! expiry and an HMAC-SHA256 of the file it names and that expiry, under a key only the host
//! holds (`sharing.key` in the data directory, owner-only). Nothing of the recipient's token
//! is in the URL.

use std::path::Path;

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
