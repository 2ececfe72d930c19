use super::schema::merchants;
use super::AnyConnection;
use crate::domain::{MerchantProfile, NotifySecret, ReturnUrlPrefix};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::fmt;

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = merchants)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub api_key_hash: String,
    pub notify_secret: String,
    /// JSON array of strings.
    pub return_url_prefixes: String,
    pub created_at: NaiveDateTime,
}

impl fmt::Debug for Merchant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merchant")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("return_url_prefixes", &self.return_url_prefixes)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = merchants)]
pub struct NewMerchant<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub api_key_hash: &'a str,
    pub notify_secret: &'a str,
    pub return_url_prefixes: &'a str,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, merchant: &NewMerchant) -> QueryResult<()> {
    diesel::insert_into(merchants::table)
        .values(merchant)
        .execute(conn)
        .map(|_| ())
}

impl Merchant {
    /// The row as the rest of the service sees it (the key hash left behind).
    pub fn profile(self) -> MerchantProfile {
        let prefixes: Vec<String> =
            serde_json::from_str(&self.return_url_prefixes).unwrap_or_default();
        MerchantProfile {
            id: self.id,
            name: self.name,
            notify_secret: NotifySecret::from_stored(self.notify_secret),
            return_url_prefixes: prefixes
                .into_iter()
                .map(ReturnUrlPrefix::from_stored)
                .collect(),
        }
    }
}

pub fn find_by_api_key_hash(conn: &mut AnyConnection, hash: &str) -> QueryResult<Option<Merchant>> {
    merchants::table
        .filter(merchants::api_key_hash.eq(hash))
        .select(Merchant::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Merchant>> {
    merchants::table
        .find(id)
        .select(Merchant::as_select())
        .first(conn)
        .optional()
}

pub fn count(conn: &mut AnyConnection) -> QueryResult<i64> {
    merchants::table.count().get_result(conn)
}

pub fn list_all(conn: &mut AnyConnection) -> QueryResult<Vec<Merchant>> {
    merchants::table
        .order((merchants::created_at.asc(), merchants::id.asc()))
        .select(Merchant::as_select())
        .load(conn)
}

/// Replaces the merchant's API key hash; answers whether the merchant exists.
pub fn set_api_key_hash(conn: &mut AnyConnection, id: &str, hash: &str) -> QueryResult<bool> {
    diesel::update(merchants::table.find(id))
        .set(merchants::api_key_hash.eq(hash))
        .execute(conn)
        .map(|n| n == 1)
}

/// Replaces the merchant's notify secret; answers whether the merchant exists.
pub fn set_notify_secret(conn: &mut AnyConnection, id: &str, secret: &str) -> QueryResult<bool> {
    diesel::update(merchants::table.find(id))
        .set(merchants::notify_secret.eq(secret))
        .execute(conn)
        .map(|n| n == 1)
}
