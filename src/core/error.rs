//! What the core answers when it says no. `crate::error` maps it to HTTP, once.

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The message names the offending field.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    OrderNotPayable(String),
    /// A channel said no or did not answer.
    #[error("{0}")]
    Channel(String),
    /// A store (database or cache) is down.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected store answer: logged in full, shown as a generic message.
    #[error("internal error")]
    Internal(String),
}

impl CoreError {
    pub fn order_not_found() -> CoreError {
        CoreError::NotFound("no order with this merchant_order_id".into())
    }
}

impl From<DbError> for CoreError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            log::error!("database unavailable: {e}");
            CoreError::Unavailable("the database is unavailable; try again".into())
        } else {
            CoreError::Internal(e.to_string())
        }
    }
}

impl From<diesel::result::Error> for CoreError {
    fn from(e: diesel::result::Error) -> Self {
        CoreError::from(DbError::from(e))
    }
}
