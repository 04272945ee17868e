//! Tokens and access.
//!
//! A token is `tsr_` and 64 hex digits of operating-system randomness; it is shown once, and the
//! store keeps only its SHA-256. Its public id (`tok_` and 16 hex digits) is drawn separately,
//! so logs and errors that name it say nothing of the secret. A token may expire; an admin can
//! list tokens and revoke one by id. Roles: `admin` (everything), `owner` of one domain (deploy,
//! activate and run that domain's products, read all of its ports), `reader` (read; with a
//! domain, also that domain's `domain` ports) and `governance` (the federation: global policies
//! and waivers, every decision record; reads like a reader). Output ports are `public` (anyone; without a
//! token when the server allows public reads), `domain` (the owning domain's tokens) or
//! `restricted` (admins, the domain's owners, and tokens granted `product/port`).
//!
//! A missing or unknown token is a 401; a valid token without the permission is a 403 that
//! says which permission is missing.

use sha2::{Digest, Sha256};
use tessera_core::manifest::{Access, Manifest};
use tessera_store::{Role, Store, StoreError, TokenRecord, now_us};

use crate::error::{ServiceError, ServiceResult};

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// A known token.
    Token(TokenRecord),
}

/// Who a request's `Authorization` header (its value, if any) says is calling: anonymous
/// without one; a 401 for a malformed header, an unknown or an expired token.
pub fn authenticate(store: &dyn Store, authorization: Option<&[u8]>) -> ServiceResult<Caller> {
    let Some(value) = authorization else {
        return Ok(Caller::Anonymous);
    };
    let secret = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ServiceError::unauthorized("the Authorization header must be `Bearer TOKEN`")
        })?;
    match store.token(&hash(secret))? {
        Some(token) if token.expired(now_us()) => Err(ServiceError::unauthorized(format!(
            "token {} expired{}",
            token.id,
            token
                .expires_at_us
                .and_then(chrono::DateTime::from_timestamp_micros)
                .map(|at| format!(" at {}", at.to_rfc3339()))
                .unwrap_or_default()
        ))
        .hint("ask an admin for a new token")),
        Some(token) => Ok(Caller::Token(token)),
        None => Err(
            ServiceError::unauthorized("this token is not known to this server")
                .hint("it may have been revoked; ask an admin for a new token"),
        ),
    }
}

/// SHA-256 of a secret, hex.
fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A role's name, as the API writes it.
pub fn role_name(role: Role) -> &'static str {
    role.name()
}

impl Caller {
    /// Words for messages: "token tsr_1a2b3c4d (owner of domain `labeling`)".
    pub fn describe(&self) -> String {
        match self {
            Caller::Anonymous => "a caller without a token".into(),
            Caller::Token(t) => match &t.domain {
                Some(domain) => format!(
                    "token {} ({} of domain `{domain}`)",
                    t.id,
                    role_name(t.role)
                ),
                None => format!("token {} ({})", t.id, role_name(t.role)),
            },
        }
    }

    /// The caller's token; a 401 for an anonymous caller.
    pub fn token(&self) -> ServiceResult<&TokenRecord> {
        match self {
            Caller::Token(t) => Ok(t),
            Caller::Anonymous => Err(ServiceError::unauthorized("this request needs a token")),
        }
    }

    /// Admins only.
    pub fn require_admin(&self) -> ServiceResult<()> {
        let token = self.token()?;
        if token.role == Role::Admin {
            Ok(())
        } else {
            Err(ServiceError::forbidden(format!(
                "{} may not do this; it needs an admin token",
                self.describe()
            )))
        }
    }

    /// The federation's acts (global policies, waivers): governance and admin tokens.
    pub fn require_governance(&self, action: &str) -> ServiceResult<()> {
        let token = self.token()?;
        if matches!(token.role, Role::Governance | Role::Admin) {
            Ok(())
        } else {
            Err(ServiceError::forbidden(format!(
                "{} may not {action}; that needs a governance or an admin token",
                self.describe()
            )))
        }
    }

    /// Managing the policies of `scope`: the federation for every scope, a domain's owners
    /// for their domain's.
    pub fn require_policy_author(&self, scope: &tessera_store::PolicyScope) -> ServiceResult<()> {
        match scope {
            tessera_store::PolicyScope::Global => self.require_governance("manage global policies"),
            tessera_store::PolicyScope::Domain(domain) => {
                if self.require_governance("").is_ok() {
                    return Ok(());
                }
                self.require_owner(domain, &format!("manage the policies of domain `{domain}`"))
            }
        }
    }

    /// The token's public id, or `anonymous`.
    pub fn actor(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".into(),
            Caller::Token(t) => t.id.clone(),
        }
    }

    /// Deploying, activating and running products of `domain`: admins and its owners.
    pub fn require_owner(&self, domain: &str, action: &str) -> ServiceResult<()> {
        let token = self.token()?;
        let allowed = match token.role {
            Role::Admin => true,
            Role::Owner => token.domain.as_deref() == Some(domain),
            Role::Reader | Role::Governance => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(ServiceError::forbidden(format!(
                "{} may not {action}; that needs an owner token of domain `{domain}` or an admin token",
                self.describe()
            )))
        }
    }

    /// Reading the catalog, descriptors, runs and events.
    pub fn require_reader(&self, public_reads: bool) -> ServiceResult<()> {
        if public_reads {
            return Ok(());
        }
        self.token().map(|_| ())
    }

    /// Reading `product/port`, owned by `domain`, of the given access class.
    pub fn require_port(
        &self,
        public_reads: bool,
        product: &str,
        domain: &str,
        port: &str,
        access: Access,
    ) -> ServiceResult<()> {
        if access == Access::Public && public_reads {
            return Ok(());
        }
        let token = self.token()?;
        let in_domain = token.domain.as_deref() == Some(domain);
        let granted = token
            .grants
            .iter()
            .any(|g| g == &format!("{product}/{port}"));
        let allowed = match (access, token.role) {
            (_, Role::Admin) | (Access::Public, _) => true,
            (Access::Domain, _) => in_domain || granted,
            (Access::Restricted, Role::Owner) => in_domain,
            (Access::Restricted, Role::Reader | Role::Governance) => granted,
        };
        if allowed {
            return Ok(());
        }
        let needed = match access {
            Access::Domain => {
                format!("a token of domain `{domain}` or a grant of `{product}/{port}`")
            }
            _ => format!(
                "an owner token of domain `{domain}`, an admin token, or a reader token granted `{product}/{port}`"
            ),
        };
        Err(ServiceError::forbidden(format!(
            "{} may not read {product}/{port}, which is {}; that needs {needed}",
            self.describe(),
            match access {
                Access::Public => "public",
                Access::Domain => "readable by its domain",
                Access::Restricted => "restricted",
            }
        )))
    }
}

impl Caller {
    /// Reading what a run of `manifest`'s product saw and said (its log, failure reasons, its
    /// events): a caller who may read every output port of the product, since a run's log can
    /// mention any of its data.
    pub fn require_product(&self, public_reads: bool, manifest: &Manifest) -> ServiceResult<()> {
        let product = &manifest.product;
        for port in &manifest.outputs {
            self.require_port(
                public_reads,
                &product.name,
                &product.domain,
                &port.name,
                port.access,
            )
            .map_err(|e| {
                if e.kind == crate::error::ErrorKind::Forbidden {
                    ServiceError::forbidden(format!(
                        "{} may not read the runs and events of {}: its port `{}` is not \
                         readable by this caller",
                        self.describe(),
                        product.name,
                        port.name
                    ))
                } else {
                    e
                }
            })?;
        }
        if manifest.outputs.is_empty() {
            self.require_reader(public_reads)?;
        }
        Ok(())
    }

    /// Whether [`Caller::require_product`] lets this caller through.
    pub fn may_read_product(&self, public_reads: bool, manifest: &Manifest) -> bool {
        self.require_product(public_reads, manifest).is_ok()
    }
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Its role.
    pub role: Role,
    /// The domain (required for owners, optional for readers, none for admins).
    pub domain: Option<String>,
    /// Restricted ports it may read, as `product/port`.
    pub grants: Vec<String>,
    /// What it is for.
    pub description: String,
    /// How long it is accepted for; for ever when `None`.
    pub expires_in: Option<std::time::Duration>,
}

/// Why a token cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The request contradicts itself.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a token and returns its secret (shown once) and its stored record.
pub fn issue(store: &dyn Store, new: NewToken) -> Result<(String, TokenRecord), TokenError> {
    match (new.role, &new.domain) {
        (Role::Owner, None) => {
            return Err(TokenError::Invalid(
                "an owner token needs a domain (--domain NAME)".into(),
            ));
        }
        (Role::Admin, Some(_)) => {
            return Err(TokenError::Invalid(
                "an admin token has no domain; it may do everything".into(),
            ));
        }
        (Role::Governance, Some(_)) => {
            return Err(TokenError::Invalid(
                "a governance token has no domain; it stands for the whole federation".into(),
            ));
        }
        _ => {}
    }
    if let Some(bad) = new.grants.iter().find(|g| {
        g.split_once('/')
            .is_none_or(|(p, q)| p.is_empty() || q.is_empty())
    }) {
        return Err(TokenError::Invalid(format!(
            "grant `{bad}` is not PRODUCT/PORT"
        )));
    }
    // The secret and the id come from separate draws: the id is shown in logs and errors, and
    // says nothing about the secret.
    let secret = format!("tsr_{}", hex::encode(random_bytes::<32>()?));
    let id = format!("tok_{}", hex::encode(random_bytes::<8>()?));
    let created_at_us = now_us();
    let expires_at_us = match new.expires_in {
        None => None,
        Some(span) => {
            let micros = i64::try_from(span.as_micros())
                .ok()
                .filter(|&m| m > 0)
                .ok_or_else(|| {
                    TokenError::Invalid("expires_in must be a positive duration".into())
                })?;
            Some(created_at_us.saturating_add(micros))
        }
    };
    let record = TokenRecord {
        id,
        hash: hash(&secret),
        role: new.role,
        domain: new.domain,
        grants: new.grants,
        description: new.description,
        created_at_us,
        expires_at_us,
    };
    store.put_token(&record)?;
    Ok((secret, record))
}

/// `N` bytes of operating-system randomness.
fn random_bytes<const N: usize>() -> Result<[u8; N], TokenError> {
    let mut random = [0u8; N];
    getrandom::fill(&mut random).map_err(|e| {
        TokenError::Store(StoreError::Io(format!(
            "the operating system gave no randomness: {e}"
        )))
    })?;
    Ok(random)
}
