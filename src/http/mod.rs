//! What every HTTP surface shares (the API, the sandboxes): capped body reading and the
//! route table macro. Nothing here knows a handler.

pub mod body;
pub mod router;

use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};

/// Declares routes once: `configure` registers them as one `router::Routes` table, and
/// `ROUTES` lists (method, path) for the test that keeps the OpenAPI document true.
/// Each invoking module has a `wrong_method(path) -> Route` in scope: the answer to a method
/// its path does not take.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            let mut routes = $crate::http::router::Routes::default();
            $(routes.add($path, actix_web::web::$method().to($handler), wrong_method);)*
            cfg.service(routes);
        }
    };
}
pub use router::RoutePattern;
pub(crate) use routes;

/// The wrong-method answer of most routes: the JSON error envelope like every other error.
pub fn wrong_method(_path: &str) -> actix_web::Route {
    web::to(method_not_allowed)
}

pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(not_allowed(&req))
}

/// The error for a method a path does not take; each envelope writes it its own way.
pub fn not_allowed(req: &HttpRequest) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} is not allowed on {}", req.method(), req.path()))
}

/// A URL fit for a log line: the password of `scheme://user:password@host` and the value of any
/// query parameter whose name speaks of a password (libpq takes `?password=…`) become `***`.
/// What does not parse as a URL is kept whole (a SQLite path).
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret = |name: &str| name.to_ascii_lowercase().contains("password");
    if parsed.query_pairs().any(|(name, _)| secret(&name)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if secret(&name) { "***".into() } else { value };
                (name.into_owned(), value.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Text fit for HTML, in an element or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
