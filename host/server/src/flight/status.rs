//! A service's error as a gRPC status: the same classes the HTTP layer answers with, mapped to
//! the codes Flight clients raise as their own exceptions (`FlightUnauthenticatedError`,
//! `FlightUnauthorizedError`, ...), with the message and hint in words.

use tonic::{Code, Status};

use crate::error::{ErrorKind, ServiceError};

/// `error` as a gRPC status.
pub fn status(error: ServiceError) -> Status {
    let code = match error.kind {
        ErrorKind::Invalid | ErrorKind::NotAcceptable | ErrorKind::UnsupportedMediaType => {
            Code::InvalidArgument
        }
        ErrorKind::RangeNotSatisfiable => Code::OutOfRange,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::MethodNotAllowed => Code::Unimplemented,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        ErrorKind::Conflict | ErrorKind::Unprocessable => Code::FailedPrecondition,
        ErrorKind::TooLarge | ErrorKind::QuotaExceeded => Code::ResourceExhausted,
        ErrorKind::Busy => Code::Unavailable,
        ErrorKind::Internal => Code::Internal,
    };
    let message = match &error.hint {
        Some(hint) => format!("{} ({}); {hint}", error.message, error.code),
        None => format!("{} ({})", error.message, error.code),
    };
    Status::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_class_and_their_words() {
        let forbidden = status(ServiceError::forbidden("token tok_1 may not read p/q"));
        assert_eq!(forbidden.code(), Code::PermissionDenied);
        assert!(forbidden.message().contains("may not read p/q"));
        let missing = status(ServiceError::not_found("no product `x`", &["a".into()]));
        assert_eq!(missing.code(), Code::NotFound);
        assert!(missing.message().contains("no product `x`"));
        assert_eq!(
            status(ServiceError::unauthorized("no token")).code(),
            Code::Unauthenticated
        );
        let internal = status(ServiceError::internal("disk on fire at /secret/path"));
        assert_eq!(internal.code(), Code::Internal);
        assert!(!internal.message().contains("/secret/path"));
    }
}
