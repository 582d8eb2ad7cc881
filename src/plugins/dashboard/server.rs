//! DashboardOutput's web server: serves the files of its working directory
//! over HTTP/1.1 (GET and HEAD), with the configured extra `headers` on
//! every answer. A request path is percent-decoded and then refused (403)
//! if any segment is empty of meaning for a file server: `.`/`..`, a
//! hidden name (also the temporary files of atomic writes), a backslash
//! or a NUL; what remains must resolve, links followed, inside the
//! working directory.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest file served (UI files and sandbox outputs are small).
pub const MAX_FILE: u64 = 64 * 1024 * 1024;

/// Why a request path is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The path tries to leave the directory or name a hidden file.
    Forbidden,
    /// The percent-encoding is broken or the text is not UTF-8.
    BadRequest,
}

/// The relative file path a request path names (`/` and folders mean
/// their `index.html`, added by the caller), or why it is refused.
pub fn relative_path(path: &str) -> Result<PathBuf, Refusal> {
    let decoded = percent_decode(path).ok_or(Refusal::BadRequest)?;
    let mut out = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(['\\', '\0']) {
            return Err(Refusal::Forbidden);
        }
        out.push(segment);
    }
    Ok(out)
}

/// Strict percent-decoding (`+` stays `+` in a path); `None` for a broken
/// escape or text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The Content-Type of a file by its extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        // Sandbox outputs: txt, tsv, cbuf, csv, ... are text.
        _ => "text/plain; charset=utf-8",
    }
}

/// What every connection of one server shares.
pub struct Site {
    /// The plugin's name, for logs.
    pub name: Arc<str>,
    /// The working directory, canonical.
    pub root: PathBuf,
    /// Added to every answer (replacing ours of the same name).
    pub headers: HeaderMap,
}

/// Accepts connections until the task is aborted (the output's shutdown or
/// drop), at most [`MAX_CONNECTIONS`] at once.
pub async fn run(site: Rc<Site>, listener: tokio::net::TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let slot = tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("never closed"),
        };
        let (socket, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(plugin = %site.name, error = %err, "Accept failed.");
                // EMFILE and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let site = Rc::clone(&site);
        connections.spawn_local(async move {
            let _slot = slot;
            let service = {
                let site = Rc::clone(&site);
                service_fn(move |req| Rc::clone(&site).answer(req))
            };
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(socket), service);
            if let Err(err) = conn.await {
                tracing::debug!(plugin = %site.name, peer = %peer, error = %err, "Dashboard connection ended with an error.");
            }
        });
    }
}

impl Site {
    async fn answer(
        self: Rc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let head = req.method() == Method::HEAD;
        let (status, body, path) = if req.method() != Method::GET && !head {
            (StatusCode::METHOD_NOT_ALLOWED, Bytes::new(), None)
        } else {
            match self.read(req.uri().path()).await {
                Ok((body, path)) => (StatusCode::OK, body, Some(path)),
                Err(status) => (status, Bytes::new(), None),
            }
        };
        // For HEAD, hyper sends the headers (Content-Length of this body)
        // and leaves the body out.
        let body = match status {
            StatusCode::OK => body,
            other => Bytes::from(format!("{other}\n")),
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        let kind = path
            .as_deref()
            .map_or("text/plain; charset=utf-8", content_type);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        // The data files change every tick.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        for name in self.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        Ok(response)
    }

    /// The file a request path names, read whole, or the status to answer.
    async fn read(&self, path: &str) -> Result<(Bytes, PathBuf), StatusCode> {
        let relative = relative_path(path).map_err(|refusal| {
            tracing::warn!(plugin = %self.name, path, "Dashboard request refused.");
            match refusal {
                Refusal::Forbidden => StatusCode::FORBIDDEN,
                Refusal::BadRequest => StatusCode::BAD_REQUEST,
            }
        })?;
        let mut file = self.root.join(relative);
        if tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_dir()) {
            file.push("index.html");
        }
        let real = tokio::fs::canonicalize(&file)
            .await
            .map_err(|_| StatusCode::NOT_FOUND)?;
        // A link inside the directory may point anywhere.
        if !real.starts_with(&self.root) {
            return Err(StatusCode::FORBIDDEN);
        }
        let meta = tokio::fs::metadata(&real)
            .await
            .map_err(|_| StatusCode::NOT_FOUND)?;
        if !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        }
        if meta.len() > MAX_FILE {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let data = tokio::fs::read(&real)
            .await
            .map_err(|_| StatusCode::NOT_FOUND)?;
        Ok((Bytes::from(data), real))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_directory_or_are_refused() {
        assert_eq!(relative_path("/"), Ok(PathBuf::new()));
        assert_eq!(
            relative_path("/data/heka_report.json"),
            Ok(PathBuf::from("data/heka_report.json"))
        );
        assert_eq!(
            relative_path("/data/a%20b.txt"),
            Ok(PathBuf::from("data/a b.txt"))
        );
        assert_eq!(relative_path("//data//x"), Ok(PathBuf::from("data/x")));
        for hostile in [
            "/../Cargo.toml",
            "/data/../../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/%2E%2E%2FCargo.toml",
            "/data%2f..%2f..%2fCargo.toml",
            "/..%5cCargo.toml",
            "/data/%00x",
            "/./index.html",
            "/data/.heka_report.json.tmp",
        ] {
            assert_eq!(relative_path(hostile), Err(Refusal::Forbidden), "{hostile}");
        }
        for broken in ["/%", "/%2", "/%zz", "/%ff%fe"] {
            assert_eq!(relative_path(broken), Err(Refusal::BadRequest), "{broken}");
        }
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            content_type(Path::new("index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("d/r.json")), "application/json");
        assert_eq!(
            content_type(Path::new("d/x.cbuf")),
            "text/plain; charset=utf-8"
        );
    }
}
