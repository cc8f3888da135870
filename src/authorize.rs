//! `snowflake-token-operator authorize`: a person's one-time consent for an OAuth
//! `SnowflakeToken`, stored as the refresh token the operator then keeps using.
//!
//! The authorization-code flow of reference §6.2–6.3: PKCE S256 and a random `state`; the
//! browser is sent to Snowflake's authorize URL and comes back to the loopback redirect
//! URI registered on the security integration, where this command listens (or, with
//! `--no-browser`, the person pastes the URL the browser was sent to). The code is
//! exchanged with the client id and secret of the token's `clientSecretRef`, and the
//! refresh token is written, in one server-side apply, into the Secret of the token's
//! `refreshTokenSecretRef`, labelled so the operator sees it at once.
//!
//! Nothing is written unless every step succeeded: a `state` mismatch, an error on the
//! redirect, a timeout, or a refused exchange ends the command with a message and a
//! non-zero exit, and the Secret is left as it was.

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use secrecy::SecretString;
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::mpsc;

use crate::api::{SnowflakeConnection, SnowflakeToken};
use crate::controller::token::oauth::{read_client_credentials, store_refresh_token};
use crate::snowflake::oauth::{
    AuthorizeRequest, CodeExchange, OAuthApi, OAuthClient, OAuthConfig, Pkce, authorize_url,
    generate_state,
};
use crate::snowflake::{Error as SnowflakeError, OAuthErrorKind};

/// What `authorize` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The token's namespace.
    pub namespace: String,
    /// The `SnowflakeToken`.
    pub token: String,
    /// The redirect URI registered on the security integration (`OAUTH_REDIRECT_URI`):
    /// a loopback `http://` URI to listen on, or any URI with `no_browser`.
    pub redirect_uri: String,
    /// Do not listen: print the URL and read the redirected URL from standard input.
    pub no_browser: bool,
    /// Try to open the URL in a browser (when listening).
    pub open_browser: bool,
    /// Ask for single-use refresh tokens (`enable_single_use_refresh_tokens`).
    pub single_use: bool,
    /// How long to wait for the browser.
    pub timeout: Duration,
}

/// Why `authorize` stopped; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// A Kubernetes object could not be read or written.
    #[error("{0}")]
    Kubernetes(String),
    /// The token cannot be authorized as it is.
    #[error("{0}")]
    Token(String),
    /// The redirect URI cannot be listened on.
    #[error("{0}")]
    RedirectUri(String),
    /// The redirect carried an OAuth error.
    #[error("Snowflake refused the authorization ({error}{}){}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default(), remedy(.error))]
    Refused {
        /// The `error` parameter.
        error: String,
        /// The `error_description` parameter.
        description: Option<String>,
    },
    /// The redirect's `state` is not the one sent.
    #[error(
        "the redirect's state does not match the one this command sent: the URL came from another authorization attempt (or was forged); run the command again and use its URL"
    )]
    StateMismatch,
    /// The redirect had no code.
    #[error("the redirect carries no authorization code: {0}")]
    NoCode(String),
    /// No redirect arrived in time.
    #[error(
        "no redirect from the browser within {0:?}: run the command again (or use --no-browser and paste the URL the browser ends on)"
    )]
    Timeout(Duration),
    /// The code exchange failed.
    #[error("exchanging the authorization code failed: {source}{}", exchange_remedy(.source))]
    Exchange {
        /// The client's error.
        source: SnowflakeError,
    },
    /// Snowflake answered without a refresh token.
    #[error(
        "Snowflake issued no refresh token: the integration must issue them (OAUTH_ISSUE_REFRESH_TOKENS = TRUE) and the consent must include offline access"
    )]
    NoRefreshToken,
}

fn remedy(error: &str) -> &'static str {
    match OAuthErrorKind::from_wire(error) {
        OAuthErrorKind::InvalidClient => {
            "; check the client id in the clientSecretRef Secret and the integration's OAUTH_REDIRECT_URI"
        }
        OAuthErrorKind::InvalidScope => {
            "; check oauth.role: the role must be granted to the user and not blocked by the integration"
        }
        OAuthErrorKind::InvalidGrant => {
            "; the consent was refused or has expired: run the command again"
        }
        _ => "",
    }
}

fn exchange_remedy(error: &SnowflakeError) -> &'static str {
    match error {
        SnowflakeError::OAuth {
            kind: OAuthErrorKind::InvalidClient,
            ..
        } => {
            "; store the id and secret SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('<INTEGRATION>') prints in the clientSecretRef Secret"
        }
        SnowflakeError::OAuth {
            kind: OAuthErrorKind::InvalidGrant,
            ..
        } => {
            "; the code expired or the redirect URI differs from the integration's: run the command again promptly, with --redirect-uri set to the integration's OAUTH_REDIRECT_URI"
        }
        _ => "",
    }
}

/// The outcome, for the person.
#[derive(Debug)]
pub struct Authorized {
    /// The Secret written.
    pub secret: String,
    /// Its key.
    pub key: String,
    /// The Snowflake user who consented, when Snowflake says.
    pub username: Option<String>,
    /// Seconds the refresh token lives, when Snowflake says.
    pub refresh_token_expires_in: Option<u64>,
}

/// Query parameters of the redirect.
#[derive(Debug, Default, Clone, serde::Deserialize)]
struct Redirect {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Runs the flow; `show` receives the lines for the person (the URL first).
pub async fn authorize(
    client: kube::Client,
    options: &Options,
    mut show: impl FnMut(&str),
) -> Result<Authorized, AuthorizeError> {
    let tokens: kube::Api<SnowflakeToken> =
        kube::Api::namespaced(client.clone(), &options.namespace);
    let token = tokens
        .get_opt(&options.token)
        .await
        .map_err(|e| {
            AuthorizeError::Kubernetes(format!("reading SnowflakeToken {}: {e}", options.token))
        })?
        .ok_or_else(|| {
            AuthorizeError::Token(format!(
                "no SnowflakeToken {} in namespace {}",
                options.token, options.namespace
            ))
        })?;
    let oauth = token.spec.oauth.clone().ok_or_else(|| {
        AuthorizeError::Token(format!(
            "SnowflakeToken {} is not an OAuth token (it has no spec.oauth)",
            options.token
        ))
    })?;
    let connections: kube::Api<SnowflakeConnection> =
        kube::Api::namespaced(client.clone(), &options.namespace);
    let connection_name = &token.spec.connection_ref.name;
    let connection = connections
        .get_opt(connection_name)
        .await
        .map_err(|e| {
            AuthorizeError::Kubernetes(format!(
                "reading SnowflakeConnection {connection_name}: {e}"
            ))
        })?
        .ok_or_else(|| {
            AuthorizeError::Token(format!(
                "SnowflakeConnection {connection_name} (the token's connectionRef) does not exist"
            ))
        })?;
    let account = connection.spec.snowflake_account().map_err(|e| {
        AuthorizeError::Token(format!("SnowflakeConnection {connection_name}: {e}"))
    })?;
    let credentials =
        read_client_credentials(&client, &options.namespace, &oauth.client_secret_ref)
            .await
            .map_err(|e| AuthorizeError::Token(e.to_string()))?;

    let pkce = Pkce::generate();
    let state = generate_state();
    let url = authorize_url(
        &account,
        &AuthorizeRequest {
            client_id: &credentials.client_id,
            redirect_uri: &options.redirect_uri,
            state: &state,
            code_challenge: &pkce.challenge,
            role: oauth.role.as_deref(),
            offline_access: true,
        },
    )
    .map_err(|e| AuthorizeError::Token(e.to_string()))?;

    let redirect = if options.no_browser {
        show(&format!(
            "Open this URL in a browser, sign in to Snowflake and consent:\n\n  {url}\n\nThen paste here the URL the browser ends on (it starts with {}):",
            options.redirect_uri
        ));
        read_pasted(options.timeout).await?
    } else {
        let listener = bind(&options.redirect_uri).await?;
        show(&format!(
            "Open this URL in a browser, sign in to Snowflake and consent (waiting up to {:?} on {}):\n\n  {url}\n",
            options.timeout, options.redirect_uri
        ));
        if options.open_browser {
            open_browser(&url);
        }
        receive(listener, &options.redirect_uri, options.timeout).await?
    };
    if let Some(error) = redirect.error {
        return Err(AuthorizeError::Refused {
            error,
            description: redirect.error_description,
        });
    }
    if redirect.state.as_deref() != Some(state.as_str()) {
        return Err(AuthorizeError::StateMismatch);
    }
    let code = redirect
        .code
        .filter(|c| !c.is_empty())
        .map(SecretString::from)
        .ok_or_else(|| AuthorizeError::NoCode("no `code` parameter".into()))?;

    let exchange = OAuthClient::new(&account, OAuthConfig::default())
        .map_err(|source| AuthorizeError::Exchange { source })?;
    let answer = exchange
        .exchange_code(
            &credentials,
            &CodeExchange {
                code: &code,
                redirect_uri: &options.redirect_uri,
                code_verifier: Some(&pkce.verifier),
                enable_single_use_refresh_tokens: options.single_use,
            },
        )
        .await
        .map_err(|source| AuthorizeError::Exchange { source })?;
    let refresh = answer.refresh_token.ok_or(AuthorizeError::NoRefreshToken)?;
    let reference = &oauth.refresh_token_secret_ref;
    store_refresh_token(
        &client,
        &token,
        reference,
        &refresh,
        jiff::Timestamp::now(),
        None,
    )
    .await
    .map_err(|e| {
        AuthorizeError::Kubernetes(format!(
            "writing the refresh token into Secret {} (nothing was written; run the command again once this is fixed): {e}",
            reference.name
        ))
    })?;
    Ok(Authorized {
        secret: reference.name.clone(),
        key: reference.key.clone(),
        username: answer.username,
        refresh_token_expires_in: answer.refresh_token_expires_in,
    })
}

/// Binds the loopback address of `redirect_uri`.
async fn bind(redirect_uri: &str) -> Result<tokio::net::TcpListener, AuthorizeError> {
    let url = url::Url::parse(redirect_uri)
        .map_err(|e| AuthorizeError::RedirectUri(format!("--redirect-uri {redirect_uri}: {e}")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "http" || !loopback {
        return Err(AuthorizeError::RedirectUri(format!(
            "--redirect-uri {redirect_uri} is not a loopback http:// address this command can listen on: register one such as http://127.0.0.1:8765/callback on the integration (OAUTH_REDIRECT_URI), or use --no-browser"
        )));
    }
    let port = url.port().unwrap_or(80);
    let host = if url.host_str() == Some("[::1]") {
        "::1"
    } else {
        "127.0.0.1"
    };
    tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| AuthorizeError::RedirectUri(format!("cannot listen on {host}:{port}: {e}")))
}

/// Serves the redirect path until the browser arrives there (or `timeout`).
async fn receive(
    listener: tokio::net::TcpListener,
    redirect_uri: &str,
    timeout: Duration,
) -> Result<Redirect, AuthorizeError> {
    let path = url::Url::parse(redirect_uri)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".into());
    let (tx, mut rx) = mpsc::channel::<Redirect>(1);
    async fn arrived(
        State(tx): State<mpsc::Sender<Redirect>>,
        Query(redirect): Query<Redirect>,
    ) -> Html<&'static str> {
        let ok = redirect.error.is_none();
        let _ = tx.send(redirect).await;
        Html(if ok {
            "<p>Snowflake answered. You can close this tab and return to the terminal.</p>"
        } else {
            "<p>Snowflake refused the authorization; the terminal says why.</p>"
        })
    }
    let app = Router::new()
        .route(&path, axum::routing::get(arrived))
        .with_state(tx);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let received = tokio::time::timeout(timeout, rx.recv()).await;
    server.abort();
    match received {
        Ok(Some(redirect)) => Ok(redirect),
        _ => Err(AuthorizeError::Timeout(timeout)),
    }
}

/// Reads the pasted redirect URL from standard input.
async fn read_pasted(timeout: Duration) -> Result<Redirect, AuthorizeError> {
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    match tokio::time::timeout(timeout, stdin.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => parse_redirect(line.trim()),
        Ok(_) => Err(AuthorizeError::NoCode("nothing was pasted".into())),
        Err(_) => Err(AuthorizeError::Timeout(timeout)),
    }
}

/// The parameters of a pasted redirect URL.
fn parse_redirect(pasted: &str) -> Result<Redirect, AuthorizeError> {
    let url = url::Url::parse(pasted).map_err(|e| {
        AuthorizeError::NoCode(format!(
            "the pasted text is not a URL ({e}); paste the whole address the browser ends on"
        ))
    })?;
    let mut redirect = Redirect::default();
    for (name, value) in url.query_pairs() {
        let value = Some(value.into_owned());
        match name.as_ref() {
            "code" => redirect.code = value,
            "state" => redirect.state = value,
            "error" => redirect.error = value,
            "error_description" => redirect.error_description = value,
            _ => {}
        }
    }
    Ok(redirect)
}

/// Opens `url` with the desktop's opener, when there is one; failing silently is right
/// (the URL is printed). A crate for this (webbrowser) would add a dependency for two
/// process spawns.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let has_display = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if has_display {
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_redirect_is_read_and_garbage_is_explained() {
        let r = parse_redirect("http://127.0.0.1:8765/callback?code=abc&state=xyz").expect("url");
        assert_eq!(r.code.as_deref(), Some("abc"));
        assert_eq!(r.state.as_deref(), Some("xyz"));
        let r = parse_redirect(
            "http://127.0.0.1:8765/callback?error=access_denied&error_description=no+consent",
        )
        .expect("url");
        assert_eq!(r.error.as_deref(), Some("access_denied"));
        assert_eq!(r.error_description.as_deref(), Some("no consent"));
        let e = parse_redirect("abc").expect_err("not a URL");
        assert!(e.to_string().contains("paste the whole address"), "{e}");
    }

    #[test]
    fn refusals_say_what_to_do() {
        let e = AuthorizeError::Refused {
            error: "invalid_scope".into(),
            description: Some("role X".into()),
        };
        assert_eq!(
            e.to_string(),
            "Snowflake refused the authorization (invalid_scope: role X); check oauth.role: the role must be granted to the user and not blocked by the integration"
        );
    }

    #[tokio::test]
    async fn only_a_loopback_http_redirect_is_listened_on() {
        for uri in [
            "https://example.com/cb",
            "http://10.0.0.1:8765/cb",
            "not a url",
        ] {
            assert!(
                matches!(bind(uri).await, Err(AuthorizeError::RedirectUri(_))),
                "{uri}"
            );
        }
        assert!(bind("http://127.0.0.1:0/cb").await.is_ok());
    }
}
