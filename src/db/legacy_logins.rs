use super::schema::legacy_logins;
use super::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::fmt;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = legacy_logins)]
pub struct LegacyLogin {
    pub user_id: String,
    pub merchant_id: String,
    pub password_salt: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
}

impl fmt::Debug for LegacyLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyLogin")
            .field("user_id", &self.user_id)
            .field("merchant_id", &self.merchant_id)
            .finish_non_exhaustive()
    }
}

/// Replaces the merchant's login with `login` (a merchant has one). A `user_id` another
/// merchant holds comes back as a unique violation.
pub fn replace(conn: &mut AnyConnection, login: &LegacyLogin) -> QueryResult<()> {
    diesel::delete(legacy_logins::table.filter(legacy_logins::merchant_id.eq(&login.merchant_id)))
        .execute(conn)?;
    diesel::insert_into(legacy_logins::table)
        .values(login)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut AnyConnection, user_id: &str) -> QueryResult<Option<LegacyLogin>> {
    legacy_logins::table
        .find(user_id)
        .select(LegacyLogin::as_select())
        .first(conn)
        .optional()
}
