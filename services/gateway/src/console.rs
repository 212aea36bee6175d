//! The web console's static files, served at `/console/`.
//!
//! The console is a single-page app built by Vite into `web-console/dist`: `index.html`
//! plus content-hashed files under `assets/`. Any path under `/console/` without a file
//! extension is one of the app's own routes and gets `index.html`. A gateway without the
//! built files still starts; `/console/` then answers a page saying how to build them.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Where the console's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub dir: PathBuf,
}

/// The `--console-dir` flag of `kumo up` and `kumo-gateway`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {
    /// The built web console (`npm --prefix web-console run build`); default
    /// `<repo>/web-console/dist`.
    #[arg(long, env = "KUMO_CONSOLE_DIR")]
    pub console_dir: Option<PathBuf>,
}

impl ConsoleArgs {
    pub fn config(&self) -> ConsoleConfig {
        ConsoleConfig {
            dir: self.console_dir.clone().unwrap_or_else(default_dir),
        }
    }
}

/// `web-console/dist` of the source tree this gateway was built from.
pub fn default_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // services/gateway → the repository.
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .join("web-console/dist")
}

/// The command that builds the console, for messages.
pub const BUILD_COMMAND: &str = "npm --prefix web-console ci && npm --prefix web-console run build";

impl ConsoleConfig {
    /// `KUMO_CONSOLE_DIR`, else [`default_dir`].
    pub fn from_env() -> Self {
        Self {
            dir: std::env::var_os("KUMO_CONSOLE_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(default_dir),
        }
    }

    /// Are the built files there?
    pub fn is_built(&self) -> bool {
        self.dir.join("index.html").is_file()
    }

    /// One line for `kumo up`'s banner.
    pub fn banner(&self, endpoint: &str) -> String {
        if self.is_built() {
            format!("{endpoint}/console/")
        } else {
            format!(
                "not built (no index.html in {}; run {BUILD_COMMAND})",
                self.dir.display()
            )
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self::from_env()
    }
}

/// `/console` and `/console/*`.
pub fn router(config: ConsoleConfig) -> Router {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
        .with_state(std::sync::Arc::new(config))
}

/// Should `GET /` send this client to the console? A browser (asks for HTML) without
/// credentials and without an AWS Query action.
pub fn wants_console(headers: &HeaderMap, query: Option<&str>) -> bool {
    let html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    let action = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("Action"))
    });
    html && !action && !headers.contains_key(header::AUTHORIZATION)
}

async fn index(State(config): State<std::sync::Arc<ConsoleConfig>>) -> Response {
    serve(&config, "").await
}

async fn file(
    State(config): State<std::sync::Arc<ConsoleConfig>>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    serve(&config, &path).await
}

/// The answer for `/console/<path>`.
pub async fn serve(config: &ConsoleConfig, path: &str) -> Response {
    if !config.is_built() {
        return not_built(&config.dir);
    }
    let Some(relative) = safe_relative(path) else {
        return not_found();
    };
    let candidate = config.dir.join(&relative);
    if !relative.as_os_str().is_empty() && is_file_inside(&config.dir, &candidate).await {
        return file_response(&candidate, &relative).await;
    }
    // The app's own routes (`/console/instances/i-…`) have no extension: the app.
    let last = relative
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if last.contains('.') {
        return not_found();
    }
    file_response(&config.dir.join("index.html"), Path::new("index.html")).await
}

/// `path` as a relative path of plain names only (no `..`, `.`, root, or backslashes).
fn safe_relative(path: &str) -> Option<PathBuf> {
    if path.contains('\\') || path.contains('\0') {
        return None;
    }
    let relative = PathBuf::from(path.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(relative)
}

/// Is `candidate` a regular file that really lies inside `dir` (symbolic links resolved)?
async fn is_file_inside(dir: &Path, candidate: &Path) -> bool {
    let (Ok(dir), Ok(file)) = (
        tokio::fs::canonicalize(dir).await,
        tokio::fs::canonicalize(candidate).await,
    ) else {
        return false;
    };
    file.starts_with(&dir) && tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file())
}

async fn file_response(path: &Path, relative: &Path) -> Response {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "console file unreadable");
            return not_found();
        }
    };
    let hashed = relative.starts_with("assets");
    let cache = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(relative)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    with_security_headers(response)
}

fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// What every console answer carries: the page may load only our own scripts and styles,
/// talk only to us, and not be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'";

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn not_found() -> Response {
    let response = (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "no such file in the Kumo console\n",
    )
        .into_response();
    with_security_headers(response)
}

fn not_built(dir: &Path) -> Response {
    let dir = html_escape(&dir.display().to_string());
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kumo console not built</title></head>\n<body>\n<h1>The Kumo web console is not built</h1>\n<p>This gateway looked for it in <code>{dir}</code> and found no <code>index.html</code> there.</p>\n<p>Build it from the repository with</p>\n<pre>{}</pre>\n<p>then reload this page (or point <code>--console-dir</code> / <code>KUMO_CONSOLE_DIR</code> at a built copy). The APIs work without it.</p>\n</body></html>\n",
        html_escape(BUILD_COMMAND)
    );
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        page,
    )
        .into_response();
    response = with_security_headers(response);
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths() {
        assert_eq!(
            safe_relative("assets/app.js"),
            Some(PathBuf::from("assets/app.js"))
        );
        assert_eq!(safe_relative(""), Some(PathBuf::new()));
        for bad in [
            "../secret",
            "a/../../b",
            "./x",
            "a\\..\\b",
            "/etc/passwd/../x",
            "a\0b",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn browsers_are_sent_to_the_console() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        assert!(wants_console(&h, None));
        assert!(!wants_console(&h, Some("Action=DescribeRegions")));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(!wants_console(&h, None));
        assert!(!wants_console(&HeaderMap::new(), None));
    }
}
