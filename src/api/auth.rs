use crate::core::merchants::{self, MerchantProfile};
use crate::core::AppState;
use crate::domain::ApiKey;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::{ready, Either, LocalBoxFuture, Ready};
use std::ops::Deref;
use std::sync::Arc;

/// The merchant whose key is in `Authorization: Bearer <api_key>`; any other request is 401.
/// Shared with the kept copy (`snapshots`): a request does not copy the merchant.
pub struct AuthenticatedMerchant(pub Arc<MerchantProfile>);

impl Deref for AuthenticatedMerchant {
    type Target = MerchantProfile;
    fn deref(&self) -> &MerchantProfile {
        &self.0
    }
}

fn bearer_key(req: &HttpRequest) -> Result<&str, ApiError> {
    let missing =
        || ApiError::Unauthorized("the Authorization header must be `Bearer <api_key>`".into());
    let value = req.headers().get(AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, key) = value.trim().split_once(' ').ok_or_else(missing)?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(missing());
    }
    Ok(key)
}

impl FromRequest for AuthenticatedMerchant {
    type Error = ApiError;
    type Future =
        Either<Ready<Result<Self, ApiError>>, LocalBoxFuture<'static, Result<Self, ApiError>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = bearer_key(req);
        let state = req.app_data::<web::Data<AppState>>();
        // A merchant kept a moment (every request but the first of a second) is answered
        // without a future to box.
        if let (Ok(key), Some(state)) = (&key, state) {
            if let Some(merchant) = merchants::authenticate_kept(&state.pool, &state.snapshots, key)
            {
                return Either::Left(ready(Ok(AuthenticatedMerchant(merchant))));
            }
        }
        let key = key.map(ApiKey::from_presented);
        let state = state.cloned();
        Either::Right(Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("AppState missing".into()))?;
            merchants::authenticate(&state.pool, &state.snapshots, key?)
                .await
                .map(AuthenticatedMerchant)
                .map_err(ApiError::from)
        }))
    }
}
