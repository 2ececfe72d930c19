//! CORS for the paths a shop's pages call from the shopper's browser: the storefront API and
//! the foodie-dev course's endpoints (its page posts with `withCredentials` and its login
//! headers). An origin in `STOREFRONT_ORIGINS` gets its own origin back with credentials
//! allowed; a preflight from it is answered here (204). Other origins get no CORS headers,
//! except that the storefront API, which needs no cookie or key, stays readable by any page
//! (`*`, without credentials).

use crate::config::OriginPattern;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

/// The headers a course page sends; the storefront sends none of its own.
const ALLOWED_HEADERS: &str = "Content-Type, imoocUserId, password";
const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";

/// The origins allowed to call with credentials, shared with the middleware.
#[derive(Debug, Clone, Default)]
pub struct StorefrontOrigins(pub Vec<OriginPattern>);

impl StorefrontOrigins {
    fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|p| p.matches(origin))
    }
}

fn storefront(path: &str) -> bool {
    path.starts_with("/v1/checkout/")
}

fn course(path: &str) -> bool {
    path.starts_with("/payment/") || path.starts_with("/foodie-payment/payment/")
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let path = req.path();
    if !(storefront(path) || course(path)) {
        return next.call(req).await.map(|r| r.map_into_left_body());
    }
    let origin = req
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let allowed = origin.as_deref().is_some_and(|o| {
        req.app_data::<web::Data<StorefrontOrigins>>()
            .is_some_and(|origins| origins.allows(o))
    });
    let preflight = req.method() == actix_web::http::Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if preflight && allowed {
        let origin = origin.unwrap_or_default();
        let response = HttpResponse::NoContent()
            .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"))
            .insert_header((ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS))
            .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
            .insert_header((ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((VARY, "Origin"))
            .finish();
        return Ok(req.into_response(response).map_into_right_body());
    }
    let is_storefront = storefront(path);
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    match origin {
        Some(origin) if allowed => {
            if let Ok(value) = HeaderValue::from_str(&origin) {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
                headers.insert(
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            headers.insert(VARY, HeaderValue::from_static("Origin"));
        }
        _ if is_storefront => {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        _ => {}
    }
    Ok(response.map_into_left_body())
}
