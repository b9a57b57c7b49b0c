//! The static pages, compiled into the binary from `ui/assets/`.
//!
//! Every page path of the single-page app (`/`, `/explore/...`, `/trace/...`, `/d/...`) answers
//! with `index.html`; the modules it loads live under `/ui/`. Files are gzip-compressed once, on
//! first use, and sent compressed to clients that accept gzip. Each response carries the file's
//! hash as its `ETag` and `Cache-Control: no-cache`, so browsers revalidate with a cheap 304 and a
//! new binary's pages are never mixed with an old binary's modules.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

/// One file ready to send: its bytes as stored and gzip-compressed, with its type and tag.
#[derive(Clone)]
struct Prepared {
    plain: Bytes,
    gzip: Option<Bytes>,
    content_type: &'static str,
    etag: HeaderValue,
}

/// The pages of the app; each one is `index.html`, and the app's router draws the page.
const PAGES: [&str; 10] = [
    "/",
    "/explore",
    "/explore/{*rest}",
    "/trace/{*rest}",
    "/services",
    "/dashboards",
    "/dashboards/{*rest}",
    "/d/{*rest}",
    "/alerts",
    "/ui",
];

pub(crate) fn router() -> Router {
    // Compress every file now, at start-up, rather than in the first request's handler.
    if !cfg!(debug_assertions) {
        prepared();
    }
    PAGES.iter().fold(Router::new(), |router, page| router.route(page, get(index))).route("/ui/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    send("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    send(&path, &headers)
}

fn prepared() -> &'static HashMap<String, Prepared> {
    static FILES: OnceLock<HashMap<String, Prepared>> = OnceLock::new();
    FILES.get_or_init(|| Assets::iter().filter_map(|name| Some((name.to_string(), prepare(&name)?))).collect())
}

fn prepare(name: &str) -> Option<Prepared> {
    let file = Assets::get(name)?;
    let content_type = content_type(name);
    let plain = Bytes::from(file.data.into_owned());
    let gzip = compressible(content_type).then(|| gzip(&plain)).flatten();
    let hash = file.metadata.sha256_hash();
    let etag = HeaderValue::from_str(&format!("\"{}\"", hex(&hash[..12]))).ok()?;
    Some(Prepared { plain, gzip, content_type, etag })
}

/// The file, prepared once per process; debug builds read `ui/assets/` afresh on every request
/// (rust-embed does not embed in debug builds), so a page edit shows on reload.
fn lookup(path: &str) -> Option<std::borrow::Cow<'static, Prepared>> {
    if cfg!(debug_assertions) {
        prepare(path).map(std::borrow::Cow::Owned)
    } else {
        prepared().get(path).map(std::borrow::Cow::Borrowed)
    }
}

fn send(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = lookup(path) else {
        return (StatusCode::NOT_FOUND, format!("no such file in the UI: /ui/{path}\n")).into_response();
    };
    let mut response = if headers.get(header::IF_NONE_MATCH) == Some(&file.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match (&file.gzip, accepts_gzip(headers)) {
            (Some(gz), true) => {
                let mut response = Body::from(gz.clone()).into_response();
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                response
            }
            _ => Body::from(file.plain.clone()).into_response(),
        }
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    out.insert(header::ETAG, file.etag.clone());
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|coding| {
            let mut parts = coding.trim().split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "md" => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type != "image/png"
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::to_bytes;
    use http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get_with(path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::get(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        router().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn every_page_path_answers_with_the_app() {
        for path in ["/", "/explore/metrics", "/trace/abc", "/d/lookout-overview", "/alerts", "/services"] {
            let response = get_with(path, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            assert!(String::from_utf8_lossy(&body).contains("<script type=\"module\""), "{path}");
        }
    }

    #[tokio::test]
    async fn modules_are_gzipped_for_clients_that_accept_it() {
        let plain = get_with("/ui/vendor/preact.mjs", &[]).await;
        assert_eq!(plain.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let plain_body = to_bytes(plain.into_body(), usize::MAX).await.unwrap();

        let zipped = get_with("/ui/vendor/preact.mjs", &[("accept-encoding", "br, gzip;q=0.8")]).await;
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        let zipped_body = to_bytes(zipped.into_body(), usize::MAX).await.unwrap();
        assert!(zipped_body.len() < plain_body.len() / 2);

        let refused = get_with("/ui/vendor/preact.mjs", &[("accept-encoding", "gzip;q=0")]).await;
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[tokio::test]
    async fn a_matching_etag_gets_not_modified_and_a_missing_file_404() {
        let first = get_with("/ui/app.js", &[]).await;
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = get_with("/ui/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(get_with("/ui/no-such.js", &[]).await.status(), StatusCode::NOT_FOUND);
    }
}
