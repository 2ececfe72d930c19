use crate::core::merchants::{self, MerchantProfile};
use crate::core::AppState;
use crate::domain::ApiKey;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
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

fn bearer_key(req: &HttpRequest) -> Result<ApiKey, ApiError> {
    let missing =
        || ApiError::Unauthorized("the Authorization header must be `Bearer <api_key>`".into());
    let value = req.headers().get(AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, key) = value.trim().split_once(' ').ok_or_else(missing)?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(missing());
    }
    Ok(ApiKey::from_presented(key))
}

impl FromRequest for AuthenticatedMerchant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = bearer_key(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("AppState missing".into()))?;
            merchants::authenticate(&state.pool, &state.snapshots, key?)
                .await
                .map(AuthenticatedMerchant)
                .map_err(ApiError::from)
        })
    }
}
