//! A kube client that keeps every request it sent with the answer's status, and the
//! RBAC verb each request needs, to prove the chart's rules both ways: nothing the
//! operator asks is refused, and nothing granted goes unused.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use serde_json::Value;

/// What RBAC checks for one request: API group ("" for the core group), resource
/// (`secrets`, `snowflaketokens/status`), verb.
pub type Permission = (String, String, String);

/// One request and its answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: http::Method,
    pub path: String,
    pub query: String,
    pub status: u16,
}

impl Exchange {
    /// The permissions RBAC checked, and the namespace, for a resource request: one, but
    /// for a server-side apply that created its object (201), which also needs `create`.
    pub fn permissions(&self) -> Option<(Vec<Permission>, Option<String>)> {
        let (permission, namespace) = self.permission()?;
        let mut permissions = vec![permission.clone()];
        if self.method == http::Method::PATCH && self.status == 201 {
            permissions.push((permission.0, permission.1, "create".to_owned()));
        }
        Some((permissions, namespace))
    }

    /// The permission a request names, and its namespace.
    fn permission(&self) -> Option<(Permission, Option<String>)> {
        let segments: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        // /api/v1/... (core) or /apis/<group>/<version>/...
        let (group, rest) = match segments.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, sub] => (*resource, Some(*name), Some(*sub)),
            _ => return None,
        };
        let watch = self
            .query
            .split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1");
        let verb = match (&self.method, name) {
            (&http::Method::GET, Some(_)) => "get",
            (&http::Method::GET, None) if watch => "watch",
            (&http::Method::GET, None) => "list",
            (&http::Method::POST, _) => "create",
            (&http::Method::PUT, _) => "update",
            (&http::Method::PATCH, _) => "patch",
            (&http::Method::DELETE, Some(_)) => "delete",
            (&http::Method::DELETE, None) => "deletecollection",
            _ => return None,
        };
        let resource = match subresource {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_owned(),
        };
        Some(((group.to_owned(), resource, verb.to_owned()), namespace))
    }
}

/// The requests a client sent (shared with the client's layer).
#[derive(Clone, Debug, Default)]
pub struct Audit(Arc<Mutex<Vec<Exchange>>>);

impl Audit {
    fn record(&self, exchange: Exchange) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(exchange);
    }

    /// Everything so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The permissions used so far.
    pub fn used(&self) -> BTreeSet<Permission> {
        self.exchanges()
            .iter()
            .filter_map(Exchange::permissions)
            .flat_map(|(permissions, _)| permissions)
            .collect()
    }

    /// The requests refused with 403 Forbidden, as `METHOD path?query`.
    pub fn forbidden(&self) -> Vec<String> {
        self.exchanges()
            .iter()
            .filter(|e| e.status == 403)
            .map(|e| format!("{} {}?{}", e.method, e.path, e.query))
            .collect()
    }

    /// A client authenticating with `token` (a ServiceAccount token) whose requests are
    /// kept here.
    pub async fn client(&self, kubeconfig: &std::path::Path, token: &str) -> kube::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
        let mut config =
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .expect("kubeconfig");
        config.auth_info.token = Some(token.to_owned().into());
        kube::client::ClientBuilder::try_from(config)
            .expect("client")
            .with_layer(&AuditLayer(self.clone()))
            .build()
    }
}

/// The permissions `rules` (a Role's or ClusterRole's `rules`) grant, resource names
/// aside.
pub fn granted(rules: &Value) -> BTreeSet<Permission> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut granted = BTreeSet::new();
    for rule in rules.as_array().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    granted.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    granted
}

struct AuditLayer(Audit);

impl<S> tower::Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            audit: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct AuditService<S> {
    inner: S,
    audit: Audit,
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for AuditService<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResponseBody: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or_default().to_owned();
        let audit = self.audit.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            audit.record(Exchange {
                method,
                path,
                query,
                status: response.status().as_u16(),
            });
            Ok(response)
        })
    }
}

#[test]
fn requests_map_to_the_permissions_rbac_checks() {
    let exchange = |method: http::Method, path: &str, query: &str| Exchange {
        method,
        path: path.into(),
        query: query.into(),
        status: 200,
    };
    let permission = |e: Exchange| {
        e.permission()
            .map(|((g, r, v), ns)| format!("{g}|{r}|{v}|{}", ns.unwrap_or_default()))
    };
    let group = "/apis/snowflake-token-operator.io/v1alpha1";
    let cases = [
        (
            exchange(
                http::Method::GET,
                &format!("{group}/snowflaketokens"),
                "watch=true&resourceVersion=1",
            ),
            "snowflake-token-operator.io|snowflaketokens|watch|",
        ),
        (
            exchange(
                http::Method::GET,
                &format!("{group}/namespaces/a/snowflaketokens"),
                "",
            ),
            "snowflake-token-operator.io|snowflaketokens|list|a",
        ),
        (
            exchange(
                http::Method::PATCH,
                &format!("{group}/namespaces/a/snowflaketokens/t/status"),
                "fieldManager=x",
            ),
            "snowflake-token-operator.io|snowflaketokens/status|patch|a",
        ),
        (
            exchange(http::Method::GET, "/api/v1/namespaces/a", ""),
            "|namespaces|get|",
        ),
        (
            exchange(http::Method::DELETE, "/api/v1/namespaces/a/secrets/s", ""),
            "|secrets|delete|a",
        ),
        (
            exchange(
                http::Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
                "",
            ),
            "coordination.k8s.io|leases|update|a",
        ),
        (
            exchange(
                http::Method::POST,
                "/apis/events.k8s.io/v1/namespaces/a/events",
                "",
            ),
            "events.k8s.io|events|create|a",
        ),
    ];
    for (exchange, expected) in cases {
        let what = format!("{} {}?{}", exchange.method, exchange.path, exchange.query);
        assert_eq!(permission(exchange).as_deref(), Some(expected), "{what}");
    }
    assert_eq!(
        permission(exchange(http::Method::GET, "/version", "")),
        None
    );
    let applied = |status| Exchange {
        status,
        ..exchange(http::Method::PATCH, "/api/v1/namespaces/a/secrets/s", "")
    };
    let verbs = |e: Exchange| -> Vec<String> {
        e.permissions()
            .map(|(p, _)| p.into_iter().map(|(_, _, v)| v).collect())
            .unwrap_or_default()
    };
    assert_eq!(verbs(applied(200)), ["patch"]);
    assert_eq!(
        verbs(applied(201)),
        ["patch", "create"],
        "an apply that created"
    );
}
