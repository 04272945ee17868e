//! How the sled catalog lays out its keys: names joined by a 0 byte (names never contain
//! one), numbers and times big-endian so that keys sort in order.

use crate::model::RunRecord;

/// `product \0`, the prefix of a product's keys.
pub(crate) fn product_prefix(product: &str) -> Vec<u8> {
    let mut key = product.as_bytes().to_vec();
    key.push(0);
    key
}

/// `product \0 majors`: where the `active` tree keeps a product's retained majors.
pub(crate) fn retained_key(product: &str) -> Vec<u8> {
    let mut key = product_prefix(product);
    key.extend_from_slice(b"majors");
    key
}

/// `product \0 latest`: where the `current` tree keeps the highest version number a product
/// published (a retained major's versions take numbers without becoming current).
pub(crate) fn latest_version_key(product: &str) -> Vec<u8> {
    let mut key = product_prefix(product);
    key.extend_from_slice(b"latest");
    key
}

/// `product \0 number`.
pub(crate) fn version_key(product: &str, number: u64) -> Vec<u8> {
    let mut key = product_prefix(product);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// `product \0 version`.
pub(crate) fn deployment_key(product: &str, version: &str) -> Vec<u8> {
    let mut key = product_prefix(product);
    key.extend_from_slice(version.as_bytes());
    key
}

/// `product \0 port \0`, the prefix of a port's keys.
pub(crate) fn port_prefix(product: &str, port: &str) -> Vec<u8> {
    let mut key = product_prefix(product);
    key.extend_from_slice(port.as_bytes());
    key.push(0);
    key
}

/// `product \0 port \0 number`.
pub(crate) fn input_key(product: &str, port: &str, number: u64) -> Vec<u8> {
    let mut key = port_prefix(product, port);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// `product \0 port`: where a port's current input version number is.
pub(crate) fn current_input_key(product: &str, port: &str) -> Vec<u8> {
    let mut key = product_prefix(product);
    key.extend_from_slice(port.as_bytes());
    key
}

/// `product \0 port \0 key`.
pub(crate) fn idempotency_key(product: &str, port: &str, key: &str) -> Vec<u8> {
    let mut out = port_prefix(product, port);
    out.extend_from_slice(key.as_bytes());
    out
}

/// A time as 8 big-endian bytes (times before the epoch as 0).
pub(crate) fn time_bytes(at_us: i64) -> [u8; 8] {
    u64::try_from(at_us.max(0)).unwrap_or(0).to_be_bytes()
}

/// `at product \0 port \0 key`: the by-time index of an idempotency key.
pub(crate) fn key_by_time(at_us: i64, product: &str, port: &str, key: &str) -> Vec<u8> {
    let mut out = time_bytes(at_us).to_vec();
    out.extend_from_slice(&idempotency_key(product, port, key));
    out
}

/// `since blob-key`: a garbage entry.
pub(crate) fn garbage_key(since_us: i64, blob: &str) -> Vec<u8> {
    let mut out = time_bytes(since_us).to_vec();
    out.extend_from_slice(blob.as_bytes());
    out
}

/// `product \0 created_at \0 id`: a run's place in its product's history.
pub(crate) fn run_index_key(run: &RunRecord) -> Vec<u8> {
    let mut key = product_prefix(&run.product);
    key.extend_from_slice(&time_bytes(run.created_at_us));
    key.push(0);
    key.extend_from_slice(run.id.as_bytes());
    key
}

/// The id at the end of a by-product run index key.
pub(crate) fn index_key_id(key: &[u8]) -> &[u8] {
    key.iter()
        .position(|b| *b == 0)
        .and_then(|at| key.get(at + 10..))
        .unwrap_or_default()
}

/// The first key after every key that starts with `prefix` (which ends in a 0 byte).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last = 1;
    }
    end
}

/// A big-endian `u64` stored as a sled value.
pub(crate) fn decode_number(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8]))
}
