//! What every HTTP surface shares (the API, the sandboxes): capped body reading and the
//! route table macro. Nothing here knows a handler.

pub mod body;

use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};

/// Declares routes once: `configure` registers them, and `ROUTES` lists (method, path) for
/// the test that keeps the OpenAPI document true.
/// Each invoking module has a `resource(path)` in scope: the resource its wrong-method
/// answers come from.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
            // One resource per path, holding each of its methods: a second resource for the
            // same path would never be reached (the first answers 405).
            let mut resources: Vec<(&str, actix_web::Resource)> = Vec::new();
            $(
                let route = actix_web::web::$method().to($handler);
                match resources.iter().position(|(path, _)| *path == $path) {
                    Some(i) => {
                        let (path, resource) = resources.remove(i);
                        resources.insert(i, (path, resource.route(route)));
                    }
                    None => resources.push((
                        $path,
                        resource($path)
                            .app_data($crate::http::RoutePattern($path))
                            .route(route),
                    )),
                }
            )*
            for (_, resource) in resources {
                cfg.service(resource);
            }
        }
    };
}
pub(crate) use routes;

/// The pattern of the route that took a request (`/v1/orders/{merchant_order_id}`), set on
/// each resource: the metrics label, without matching the path a second time.
pub struct RoutePattern(pub &'static str);

/// A resource whose wrong-method answer is the JSON error envelope like every other error.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
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
