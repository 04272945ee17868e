//! What a Flight client names: `product/port`, optionally `@version` and `?columns=a,b`, as a
//! ticket for `DoGet` or as a command descriptor; a path descriptor is `[product, port]`.
//! Both come from the client, so they are parsed strictly and bounded in size.

use crate::error::{ServiceError, ServiceResult};
use crate::outputs::VersionChoice;

/// The longest ticket or command accepted.
const MAX_TICKET: usize = 4096;

/// A port's data, as a ticket names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortTicket {
    /// The product.
    pub product: String,
    /// Its output port.
    pub port: String,
    /// Which data version.
    pub version: VersionChoice,
    /// The columns to send, in this order; `None` for all.
    pub columns: Option<Vec<String>>,
}

impl PortTicket {
    /// The ticket of `version` of `product/port`, all columns.
    pub fn pinned(product: &str, port: &str, version: u64) -> PortTicket {
        PortTicket {
            product: product.to_string(),
            port: port.to_string(),
            version: VersionChoice::Pinned(version),
            columns: None,
        }
    }

    /// Parses `product/port[@version][?columns=a,b]`.
    pub fn parse(bytes: &[u8]) -> ServiceResult<PortTicket> {
        if bytes.len() > MAX_TICKET {
            return Err(invalid(format!(
                "a ticket of {} bytes; tickets are at most {MAX_TICKET}",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| invalid("the ticket is not UTF-8 text".to_string()))?;
        let (path, query) = match text.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (text, None),
        };
        let (path, version) = match path.split_once('@') {
            Some((path, number)) => {
                let number = number.parse::<u64>().map_err(|_| {
                    invalid(format!(
                        "`{number}` after `@` is not a data version (a whole number)"
                    ))
                })?;
                (path, VersionChoice::Pinned(number))
            }
            None => (path, VersionChoice::Current),
        };
        let Some((product, port)) = path.split_once('/') else {
            return Err(invalid(format!("`{text}` does not name `product/port`")));
        };
        if product.is_empty() || port.is_empty() || port.contains('/') {
            return Err(invalid(format!("`{text}` does not name `product/port`")));
        }
        let columns = match query {
            None => None,
            Some(query) => {
                let list = query.strip_prefix("columns=").ok_or_else(|| {
                    invalid(format!("`?{query}`: a ticket takes only `?columns=a,b`"))
                })?;
                let names: Vec<String> = list.split(',').map(|c| c.trim().to_string()).collect();
                if names.iter().any(String::is_empty) {
                    return Err(invalid(format!("`{list}` has an empty column name")));
                }
                Some(names)
            }
        };
        Ok(PortTicket {
            product: product.to_string(),
            port: port.to_string(),
            version,
            columns,
        })
    }

    /// The ticket as text.
    pub fn render(&self) -> String {
        let mut text = format!("{}/{}", self.product, self.port);
        if let VersionChoice::Pinned(number) = self.version {
            text.push_str(&format!("@{number}"));
        }
        if let Some(columns) = &self.columns {
            text.push_str("?columns=");
            text.push_str(&columns.join(","));
        }
        text
    }
}

fn invalid(message: String) -> ServiceError {
    ServiceError::bad_request(message)
        .hint("a ticket is `product/port`, optionally `@VERSION` and `?columns=a,b`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_name_a_port_a_version_and_columns() {
        assert_eq!(
            PortTicket::parse(b"labeled-studies/consensus").unwrap(),
            PortTicket {
                product: "labeled-studies".into(),
                port: "consensus".into(),
                version: VersionChoice::Current,
                columns: None
            }
        );
        let ticket = PortTicket::parse(b"a/b@12?columns=x, y").unwrap();
        assert_eq!(ticket.version, VersionChoice::Pinned(12));
        assert_eq!(ticket.columns, Some(vec!["x".into(), "y".into()]));
        assert_eq!(ticket.render(), "a/b@12?columns=x,y");
        assert_eq!(PortTicket::pinned("a", "b", 3).render(), "a/b@3");
    }

    #[test]
    fn malformed_tickets_are_refused_with_what_was_wrong() {
        for (ticket, says) in [
            (&b"nothing"[..], "does not name"),
            (b"a/", "does not name"),
            (b"/b", "does not name"),
            (b"a/b/c", "does not name"),
            (b"a/b@x", "not a data version"),
            (b"a/b@-1", "not a data version"),
            (b"a/b?rows=3", "only `?columns"),
            (b"a/b?columns=x,,y", "empty column"),
            (b"\xff\xfe", "not UTF-8"),
        ] {
            let error = PortTicket::parse(ticket).unwrap_err();
            assert!(
                error.message.contains(says),
                "{ticket:?}: {}",
                error.message
            );
        }
        let long = vec![b'a'; MAX_TICKET + 1];
        assert!(PortTicket::parse(&long).is_err());
    }
}
