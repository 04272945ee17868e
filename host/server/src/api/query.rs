//! Query parameters, read strictly: an unknown parameter or a value of the wrong type is a 400
//! that names the parameter (and, for unknown ones, lists those the route takes).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::error::{ServiceError, ServiceResult};

/// The decoded `name=value` pairs of a request's query string.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) =
            Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|e| {
                ServiceError::bad_request(format!("the query string is malformed: {e}"))
            })?;
        Ok(Params { pairs })
    }
}

impl Params {
    /// Fails on any parameter not in `allowed`.
    pub fn allow(&self, allowed: &[&str]) -> ServiceResult<&Self> {
        if let Some((name, _)) = self
            .pairs
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            return Err(ServiceError::bad_parameter(
                name,
                if allowed.is_empty() {
                    "this route takes no query parameters".to_string()
                } else {
                    format!("unknown; this route takes {}", allowed.join(", "))
                },
            ));
        }
        Ok(self)
    }

    /// The value of `name` (the last one when repeated).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A whole number.
    pub fn number(&self, name: &str) -> ServiceResult<Option<u64>> {
        self.text(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ServiceError::bad_parameter(name, format!("`{v}` is not a whole number"))
                })
            })
            .transpose()
    }

    /// `true` or `false`.
    pub fn boolean(&self, name: &str) -> ServiceResult<Option<bool>> {
        self.text(name)
            .map(|v| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ServiceError::bad_parameter(
                    name,
                    format!("`{v}` is not true or false"),
                )),
            })
            .transpose()
    }
}
