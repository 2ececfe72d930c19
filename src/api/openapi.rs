use crate::core::AppState;
use actix_web::{web, HttpResponse};

/// The OpenAPI 3 document of the whole public API. Kept true by a test: every route the
/// service serves is in it, and every path in it is served.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// The document with `servers` naming this installation (`PUBLIC_BASE_URL`): made once at
/// startup (`AppState::openapi_json`).
pub fn served(public_base_url: &str) -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(OPENAPI_JSON).expect("openapi.json is valid JSON (tested)");
    doc["servers"] = serde_json::json!([{ "url": public_base_url }]);
    doc.to_string()
}

/// `GET /openapi.json`.
pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.clone())
}

#[cfg(test)]
mod tests {
    use super::OPENAPI_JSON;
    use std::collections::BTreeSet;

    /// Every route the service serves (its own and the sandbox's) is in the document, and
    /// every path and method of the document is served.
    #[test]
    fn the_document_lists_exactly_the_routes_served() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item")
                    .keys()
                    .filter(|k| matches!(k.as_str(), "get" | "post" | "put" | "patch" | "delete"))
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = crate::api::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .chain(
                crate::channel::wechat::sandbox::ROUTES
                    .iter()
                    .map(|(m, p)| {
                        (
                            m.to_string(),
                            format!("{}{p}", crate::channel::wechat::sandbox::MOUNT),
                        )
                    }),
            )
            .chain(
                crate::channel::alipay::sandbox::ROUTES
                    .iter()
                    .map(|(m, p)| {
                        (
                            m.to_string(),
                            format!("{}{p}", crate::channel::alipay::sandbox::MOUNT),
                        )
                    }),
            )
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served but not in openapi.json: {undocumented:?}"
        );
        assert!(
            unserved.is_empty(),
            "in openapi.json but not served: {unserved:?}"
        );
    }

    /// Every operation has a unique operationId; every one outside the course's envelope
    /// documents the 405 and 500 error answers.
    #[test]
    fn every_operation_is_named_and_documents_its_errors() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                let course = path.starts_with("/payment/") || path.starts_with("/foodie-payment/");
                if !course {
                    for status in ["405", "500"] {
                        assert!(
                            op["responses"].get(status).is_some(),
                            "{method} {path} does not document {status}"
                        );
                    }
                }
            }
        }
        assert!(super::served("https://pay.example")
            .contains("\"servers\":[{\"url\":\"https://pay.example\"}]"));
    }

    #[test]
    fn every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let text = OPENAPI_JSON;
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref {name}"
            );
        }
    }
}
