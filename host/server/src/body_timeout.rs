//! The error a request body ends with when its client took too long (see
//! `api::body_limits`, which raises it), and how whoever reads a body recognises it, also when
//! wrapped in other errors.

/// A request body took too long.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BodyTimeout(String);

impl BodyTimeout {
    /// A timeout described by `message`.
    pub fn new(message: String) -> BodyTimeout {
        BodyTimeout(message)
    }
}

/// Whether `error`, or any error it wraps, is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}
