//! The route tables' own matcher. actix matches a pattern holding a `{param}` by running a
//! regex with captures over the whole path: about 2,300 instructions for a checkout path
//! (callgrind), a third of all the checkout read costs beyond `/healthz`. Here a pattern is
//! compared segment by segment, which is all a `{param}` filling a whole segment needs.
//!
//! A table registers as one service that takes every path under its mount, so anything
//! registered after it under the same mount is never reached: it is added last (the
//! sandboxes' scopes go first; a test asks for a 405 inside a sandbox's mount). What none of
//! its patterns takes goes to the application's default service (a 404). A scope's own
//! `default_service` would be passed over; none of ours sets one.
//!
//! actix sees the table as one resource: `HttpRequest::match_pattern()` answers the table's
//! mount and `url_for` finds nothing. The route's own pattern is in `RoutePattern`.

use actix_service::boxed::{BoxService, BoxServiceFactory};
use actix_web::dev::{
    AppService, Extensions, HttpServiceFactory, ResourceDef, Service, ServiceFactory,
    ServiceRequest, ServiceResponse,
};
use actix_web::{Error, Route};
use futures_util::future::{join_all, LocalBoxFuture};
use std::rc::Rc;

/// The most `{param}` segments one pattern may hold.
const MAX_PARAMS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Segment {
    Literal(&'static str),
    Param(&'static str),
}

/// A path pattern like `/v1/orders/{merchant_order_id}/close`: literal segments and
/// `{name}` segments, each matching one non-empty segment (actix's `[^/]+`).
#[derive(Debug, Clone)]
pub struct Pattern {
    text: &'static str,
    segments: Vec<Segment>,
    has_params: bool,
}

/// Where each `{param}` of a matched pattern lies in the path, in pattern order.
#[derive(Debug, Default, PartialEq)]
pub struct Spans {
    spans: [(usize, usize); MAX_PARAMS],
    len: usize,
}

impl Spans {
    pub fn as_slice(&self) -> &[(usize, usize)] {
        &self.spans[..self.len]
    }
}

impl Pattern {
    /// Panics on a pattern the table cannot hold: the tables are constants, and a test
    /// parses every one of them.
    pub fn parse(text: &'static str) -> Self {
        let rest = text
            .strip_prefix('/')
            .unwrap_or_else(|| panic!("route pattern {text:?} must start with '/'"));
        let segments: Vec<Segment> = rest
            .split('/')
            .map(|segment| match segment.strip_prefix('{') {
                Some(name) => {
                    let name = name
                        .strip_suffix('}')
                        .filter(|n| !n.is_empty() && !n.contains(['{', '}', ':', '*']));
                    Segment::Param(name.unwrap_or_else(|| {
                        panic!("route pattern {text:?}: a parameter must be a whole segment")
                    }))
                }
                None if segment.contains(['{', '}']) => {
                    panic!("route pattern {text:?}: a parameter must be a whole segment")
                }
                None => Segment::Literal(segment),
            })
            .collect();
        let params = segments
            .iter()
            .filter(|s| matches!(s, Segment::Param(_)))
            .count();
        assert!(
            params <= MAX_PARAMS,
            "route pattern {text:?}: at most {MAX_PARAMS} parameters"
        );
        Pattern {
            text,
            segments,
            has_params: params > 0,
        }
    }

    /// The parameters' names, in order.
    pub fn params(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(*name),
            Segment::Literal(_) => None,
        })
    }

    /// Whether `path` matches, and where its parameters lie if it does.
    pub fn capture(&self, path: &str) -> Option<Spans> {
        let mut spans = Spans::default();
        if !self.has_params {
            return (path == self.text).then_some(spans);
        }
        // Bytes, not `str::split`: a '/' is one byte in UTF-8 and never part of another
        // character, and this runs for every pattern tried on every request.
        let bytes = path.as_bytes();
        let mut at = 0;
        for segment in &self.segments {
            if bytes.get(at) != Some(&b'/') {
                return None;
            }
            at += 1;
            let rest = &bytes[at..];
            match segment {
                Segment::Literal(literal) => {
                    if !rest.starts_with(literal.as_bytes()) {
                        return None;
                    }
                    at += literal.len();
                }
                Segment::Param(_) => {
                    let len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
                    if len == 0 {
                        return None;
                    }
                    spans.spans[spans.len] = (at, at + len);
                    spans.len += 1;
                    at += len;
                }
            }
        }
        (at == bytes.len()).then_some(spans)
    }
}

/// The route pattern that took a request (`/v1/orders/{merchant_order_id}`), the metrics
/// label, without matching the path a second time.
pub struct RoutePattern(pub &'static str);

struct Entry {
    pattern: Pattern,
    routes: Vec<Route>,
    /// What answers a method none of `routes` takes (each surface has its own envelope).
    wrong_method: Route,
}

/// One route table: patterns tried in the order they were first added, each holding its
/// methods' routes.
#[derive(Default)]
pub struct Routes {
    entries: Vec<Entry>,
}

impl Routes {
    /// Adds `route` to `path`'s entry; a new path takes its wrong-method answer from
    /// `wrong_method`.
    pub fn add(&mut self, path: &'static str, route: Route, wrong_method: fn(&str) -> Route) {
        match self.entries.iter_mut().find(|e| e.pattern.text == path) {
            Some(entry) => entry.routes.push(route),
            None => self.entries.push(Entry {
                pattern: Pattern::parse(path),
                routes: vec![route],
                wrong_method: wrong_method(path),
            }),
        }
    }
}

impl HttpServiceFactory for Routes {
    fn register(self, config: &mut AppService) {
        let factory = RoutesFactory {
            entries: self.entries,
            default: config.default_service(),
        };
        // A prefix of nothing: every path under this table's mount comes here.
        config.register_service(ResourceDef::prefix(""), None, factory, None);
    }
}

type DefaultFactory = BoxServiceFactory<(), ServiceRequest, ServiceResponse, Error, ()>;
type RouteService = <Route as ServiceFactory<ServiceRequest>>::Service;

struct RoutesFactory {
    entries: Vec<Entry>,
    default: Rc<DefaultFactory>,
}

impl ServiceFactory<ServiceRequest> for RoutesFactory {
    type Response = ServiceResponse;
    type Error = Error;
    type Config = ();
    type Service = RoutesService;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<RoutesService, ()>>;

    fn new_service(&self, _: ()) -> Self::Future {
        let default = self.default.new_service(());
        let entries = join_all(self.entries.iter().map(|entry| {
            let routes = join_all(entry.routes.iter().map(|r| r.new_service(())));
            let wrong_method = entry.wrong_method.new_service(());
            let pattern = entry.pattern.clone();
            async move {
                let routes = routes.await.into_iter().collect::<Result<Vec<_>, _>>()?;
                let mut data = Extensions::new();
                data.insert(RoutePattern(pattern.text));
                Ok::<_, ()>(EntryService {
                    pattern,
                    routes,
                    wrong_method: wrong_method.await?,
                    data: Rc::new(data),
                })
            }
        }));
        Box::pin(async move {
            let entries = entries.await.into_iter().collect::<Result<Vec<_>, _>>()?;
            Ok(RoutesService {
                entries,
                default: default.await?,
            })
        })
    }
}

struct EntryService {
    pattern: Pattern,
    routes: Vec<RouteService>,
    wrong_method: RouteService,
    data: Rc<Extensions>,
}

pub struct RoutesService {
    entries: Vec<EntryService>,
    default: BoxService<ServiceRequest, ServiceResponse, Error>,
}

impl Service<ServiceRequest> for RoutesService {
    type Response = ServiceResponse;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse, Error>>;

    actix_service::always_ready!();

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        // The path as actix's router sees it: percent-decoded where that is safe, and what
        // remains after the scope's mount.
        let found = {
            let path = req.match_info().unprocessed();
            self.entries
                .iter()
                .find_map(|entry| entry.pattern.capture(path).map(|spans| (entry, spans)))
        };
        let Some((entry, spans)) = found else {
            return self.default.call(req);
        };
        for (name, &(start, end)) in entry.pattern.params().zip(spans.as_slice()) {
            let value = req.match_info().unprocessed()[start..end].to_owned();
            req.match_info_mut().add_static(name, value);
        }
        req.add_data_container(Rc::clone(&entry.data));
        match entry.routes.iter().find(|route| route.check(&mut req)) {
            Some(route) => route.call(req),
            None => entry.wrong_method.call(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(pattern: &'static str, path: &str) -> Option<Vec<&'static str>> {
        let pattern = Pattern::parse(pattern);
        let found = pattern.capture(path)?;
        // Leaked so the test can compare plain strings; tests only.
        let path: &'static str = Box::leak(path.to_owned().into_boxed_str());
        Some(found.as_slice().iter().map(|&(s, e)| &path[s..e]).collect())
    }

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert_eq!(spans("/healthz", "/healthz"), Some(vec![]));
        assert_eq!(spans("/healthz", "/healthz/"), None);
        assert_eq!(spans("/healthz", "/healthzz"), None);
        assert_eq!(spans("/healthz", "/"), None);
        assert_eq!(spans("/healthz", ""), None);
    }

    #[test]
    fn a_param_takes_one_whole_non_empty_segment() {
        let p = "/v1/checkout/{checkout_token}";
        assert_eq!(spans(p, "/v1/checkout/ct_abc"), Some(vec!["ct_abc"]));
        assert_eq!(spans(p, "/v1/checkout/"), None);
        assert_eq!(spans(p, "/v1/checkout"), None);
        assert_eq!(spans(p, "/v1/checkout/ct_abc/"), None);
        assert_eq!(spans(p, "/v1/checkout/ct_abc/qr.svg"), None);
        assert_eq!(spans(p, "/v1/checkouts/ct_abc"), None);
        assert_eq!(spans(p, "v1/checkout/ct_abc"), None);
    }

    #[test]
    fn params_in_the_middle_and_several() {
        let p = "/v1/orders/{merchant_order_id}/wechat/native";
        assert_eq!(spans(p, "/v1/orders/o-1/wechat/native"), Some(vec!["o-1"]));
        assert_eq!(spans(p, "/v1/orders//wechat/native"), None);
        assert_eq!(spans(p, "/v1/orders/o-1/wechat/h5"), None);
        assert_eq!(spans(p, "/v1/orders/o-1/wechat"), None);
        let two = "/a/{x}/b/{y}";
        assert_eq!(spans(two, "/a/1/b/22"), Some(vec!["1", "22"]));
        assert_eq!(spans(two, "/a/1/b/22/c"), None);
        assert_eq!(spans(two, "/a/1/c/22"), None);
    }

    #[test]
    fn a_param_holds_any_character_but_a_slash() {
        let p = "/v1/orders/{id}";
        assert_eq!(spans(p, "/v1/orders/订单 1?%2F"), Some(vec!["订单 1?%2F"]));
    }

    #[test]
    #[should_panic(expected = "a parameter must be a whole segment")]
    fn a_param_inside_a_segment_is_refused() {
        Pattern::parse("/v1/orders/x{id}");
    }

    #[test]
    #[should_panic(expected = "a parameter must be a whole segment")]
    fn a_regex_param_is_refused() {
        Pattern::parse("/v1/orders/{id:\\d+}");
    }

    #[test]
    fn every_table_parses() {
        let tables = [
            crate::api::ROUTES,
            crate::channel::wechat::sandbox::ROUTES,
            crate::channel::alipay::sandbox::ROUTES,
        ];
        for (_, path) in tables.into_iter().flatten() {
            let pattern = Pattern::parse(path);
            assert_eq!(pattern.text, *path);
        }
    }
}
