//! The foodie-dev course's login: `imoocUserId` and `password`, which the course's storefront
//! sends from the browser. Public by construction, it opens the course's paths only; the v1
//! API key is never accepted there, and this login never opens `/v1`.

use crate::channel::wechat::sign::constant_time_eq;
use crate::core::merchants::{self, MerchantError, MerchantProfile};
use crate::core::snapshots::MerchantKey;
use crate::core::AppSnapshots;
use crate::db::legacy_logins::{self, LegacyLogin};
use crate::db::{self, AnyConnection, DbError, DbPool};
use crate::domain::{random_string, time};
use sha2::{Digest, Sha256};

fn password_hash(salt: &str, password: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b":");
    hasher.update(password.as_bytes());
    hex::encode(hasher.finalize())
}

fn printable(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Sets (or replaces) the merchant's course login.
pub fn set(
    conn: &mut AnyConnection,
    merchant_id: &str,
    user_id: &str,
    password: &str,
) -> Result<(), MerchantError> {
    if !printable(user_id) || user_id.len() > 64 {
        return Err(MerchantError::Invalid(
            "--user-id must be 1–64 bytes without spaces or control characters".into(),
        ));
    }
    if !printable(password) || !(8..=128).contains(&password.chars().count()) {
        return Err(MerchantError::Invalid(
            "--password must be 8–128 characters without spaces or control characters".into(),
        ));
    }
    if password.starts_with("sk_") {
        return Err(MerchantError::Invalid(
            "--password must not be an API key: this login is sent from browsers".into(),
        ));
    }
    let salt = random_string(16);
    let login = LegacyLogin {
        user_id: user_id.to_owned(),
        merchant_id: merchant_id.to_owned(),
        password_hash: password_hash(&salt, password),
        password_salt: salt,
        created_at: time::now(),
    };
    db::write_transaction(conn, |c| {
        if merchants::find(c, merchant_id)?.is_none() {
            return Err(MerchantError::Invalid(format!(
                "no merchant has --merchant-id {merchant_id}"
            )));
        }
        legacy_logins::replace(c, &login).map_err(|e| {
            let e = DbError::from(e);
            if e.is_unique_violation() {
                MerchantError::Invalid(format!(
                    "--user-id {user_id} is another merchant's course login"
                ))
            } else {
                MerchantError::Db(e)
            }
        })
    })
}

/// Why a course request was not let in; `label` is the metric's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    UnknownUser,
    WrongPassword,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::UnknownUser => "unknown_user",
            Refusal::WrongPassword => "wrong_password",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LegacyAuthError {
    #[error("refused: {}", .0.label())]
    Refused(Refusal),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The merchant whose course login this is. A success is remembered like an API key (one
/// second, by a hash of both headers), so a page that polls costs no query.
pub async fn authenticate(
    pool: &DbPool,
    snapshots: &AppSnapshots,
    user_id: Option<&str>,
    password: Option<&str>,
) -> Result<MerchantProfile, LegacyAuthError> {
    let (Some(user_id), Some(password)) = (user_id, password) else {
        return Err(LegacyAuthError::Refused(Refusal::Missing));
    };
    let remembered_as =
        MerchantKey::CourseLogin(Sha256::digest(password_hash(user_id, password)).into());
    if let Some(kept) = snapshots.merchant(&remembered_as) {
        return Ok(MerchantProfile::clone(&kept.value));
    }
    let (user_id, password) = (user_id.to_owned(), password.to_owned());
    let merchant = db::run(pool, move |conn| {
        let Some(login) = legacy_logins::find(conn, &user_id).map_err(DbError::from)? else {
            return Err(LegacyAuthError::Refused(Refusal::UnknownUser));
        };
        let presented = password_hash(&login.password_salt, &password);
        if !constant_time_eq(presented.as_bytes(), login.password_hash.as_bytes()) {
            return Err(LegacyAuthError::Refused(Refusal::WrongPassword));
        }
        merchants::find(conn, &login.merchant_id)?
            .ok_or(LegacyAuthError::Refused(Refusal::UnknownUser))
    })
    .await?;
    snapshots.remember_merchant(&remembered_as, &std::sync::Arc::new(merchant.clone()));
    Ok(merchant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_salted_and_never_the_password() {
        let a = password_hash("salt-a", "imooc-pass-1");
        let b = password_hash("salt-b", "imooc-pass-1");
        assert_ne!(a, b);
        assert!(!a.contains("imooc"));
        assert_eq!(a.len(), 64);
    }
}
