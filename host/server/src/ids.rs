//! Stable UUIDs made from names, for protocols that want a UUID where the host has a name
//! (OpenLineage run ids of runs not named by a UUID, Delta Sharing table ids): the first 16
//! bytes of the name's SHA-256, so the same name always gives the same id.

use sha2::Digest;

/// The UUID of `name`, hyphenated.
pub fn uuid_of(name: &str) -> String {
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    for (to, from) in bytes.iter_mut().zip(digest.iter()) {
        *to = *from;
    }
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}
