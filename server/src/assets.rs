//! The browser's files: `/pkg/*` (the WASM, its JavaScript glue, the lazy chunks, the stylesheet) read from the
//! site's `pkg` directory, compressed once and sent as the browser accepts them.
//!
//! Data in: the files `cargo leptos build` wrote. [`precompress`] writes a `.br` (brotli, quality 11) and a `.gz`
//! (gzip, best) copy beside each compressible file, once per build (a copy newer than its file is kept); the server
//! runs it at start, and `scripts/run`/`scripts/test` run it after building (`mcpulse precompress`), so even the
//! first visitor gets the small copy. Data out: [`service`] answers with the copy the request's `Accept-Encoding`
//! allows (`Content-Encoding`, `Vary: Accept-Encoding`), or the file itself. A release build names every file by
//! its content (`hash-files`: `mcpulse.<hash>.wasm`, `chunk_3.<hash>.wasm`, …), so those answers say
//! `Cache-Control: public, max-age=31536000, immutable`: a repeat visit loads them from the browser's cache without
//! a request, and an upgrade changes their names. A file without a hash in its name (a debug build) is sent with
//! `no-cache` and `Last-Modified`/`ETag`, revalidated with one `304 Not Modified`.

use axum::http::{header, HeaderValue};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Files worth compressing, by extension (images and fonts are compressed already).
const COMPRESSIBLE: &[&str] = &[
    "wasm", "js", "mjs", "css", "html", "json", "svg", "txt", "map",
];
/// Smaller files are sent as they are.
const MIN_BYTES: u64 = 1024;

/// What [`precompress`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Precompressed {
    /// Files whose copies were written now.
    pub written: usize,
    /// Files whose copies were already up to date.
    pub kept: usize,
    /// Bytes of the files, and of their brotli copies.
    pub bytes: u64,
    pub brotli_bytes: u64,
}

/// Writes `<file>.br` and `<file>.gz` beside every compressible file under `dir` whose copies are missing or older
/// than it. Each copy is written to a temporary name and renamed, so a reader never sees half a copy.
pub fn precompress(dir: &Path) -> std::io::Result<Precompressed> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    let mut done = Precompressed::default();
    for file in files {
        let meta = std::fs::metadata(&file)?;
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let br = with_suffix(&file, "br");
        let gz = with_suffix(&file, "gz");
        let fresh = |copy: &Path| {
            std::fs::metadata(copy)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= modified)
        };
        done.bytes += meta.len();
        if fresh(&br) && fresh(&gz) {
            done.kept += 1;
            done.brotli_bytes += std::fs::metadata(&br).map(|m| m.len()).unwrap_or(0);
            continue;
        }
        let content = std::fs::read(&file)?;
        let mut brotli_copy = Vec::with_capacity(content.len() / 3);
        {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut content.as_slice(), &mut brotli_copy, &params)?;
        }
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&content)?;
        let gzip_copy = gzip.finish()?;
        write_atomically(&br, &brotli_copy)?;
        write_atomically(&gz, &gzip_copy)?;
        done.written += 1;
        done.brotli_bytes += brotli_copy.len() as u64;
    }
    Ok(done)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if entry.file_name().to_string_lossy().contains(".partial-") {
            // Left by a process that stopped mid-copy.
            std::fs::remove_file(&path)?;
            continue;
        }
        if kind.is_dir() {
            collect(&path, out)?;
        } else if kind.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| COMPRESSIBLE.contains(&e))
            && entry.metadata()?.len() >= MIN_BYTES
        {
            out.push(path);
        }
    }
    Ok(())
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let partial = with_suffix(path, &format!("partial-{}", std::process::id()));
    std::fs::write(&partial, content)?;
    std::fs::rename(&partial, path)
}

/// `/pkg/*` from `dir`: precompressed copies by content negotiation, cached for good when named by their content
/// (see the module docs).
pub fn service(dir: PathBuf) -> axum::Router {
    let files = tower_http::services::ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip();
    axum::Router::new()
        .fallback_service(files)
        .layer(axum::middleware::from_fn(cache_control))
}

async fn cache_control(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let policy = if content_named(request.uri().path()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

/// Whether a file name carries its content's hash: a dot-separated part that is the 22-character base64url MD5
/// `cargo leptos` writes (not its unhashed placeholder `______________________`).
fn content_named(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split('.').any(|part| {
        part.len() == 22
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !part.bytes().all(|b| b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_content_hash_are_immutable() {
        for hashed in [
            "/mcpulse.Q0hx4pdEuOYu1AQF8zd-Mg.wasm",
            "/chunk_11.v9_iT3nG0dTnL2x9wQ1QbA.wasm",
            "/__wasm_split.Xa3kP0s9dL1mN2bV4cT7qg.js",
            "/mcpulse.Q0hx4pdEuOYu1AQF8zd-Mg.css",
        ] {
            assert!(content_named(hashed), "{hashed}");
        }
        for plain in [
            "/mcpulse.wasm",
            "/mcpulse.js",
            "/__wasm_split.______________________.js",
            "/__wasm_split_manifest.json",
            "/split___alerts_route_view_15874080471348452803.wasm",
        ] {
            assert!(!content_named(plain), "{plain}");
        }
    }

    #[test]
    fn copies_are_written_once_per_build_and_decompress_to_the_file() {
        let dir = std::env::temp_dir().join(format!("mcpulse-assets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("chunks")).unwrap();
        let wasm: Vec<u8> = (0..200_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 997) as u8)
            .collect();
        std::fs::write(dir.join("app.wasm"), &wasm).unwrap();
        std::fs::write(
            dir.join("chunks/page.js"),
            "export const x = 1;\n".repeat(200),
        )
        .unwrap();
        std::fs::write(dir.join("tiny.js"), "x").unwrap();
        std::fs::write(dir.join("logo.png"), vec![7u8; 4096]).unwrap();
        // Left by a process stopped mid-copy: removed.
        std::fs::write(dir.join("app.wasm.br.partial-1"), b"half").unwrap();

        let first = precompress(&dir).unwrap();
        assert_eq!(
            (first.written, first.kept),
            (2, 0),
            "the wasm and the chunk; not tiny or png files"
        );
        assert!(first.brotli_bytes < first.bytes / 2, "{first:?}");
        assert!(!dir.join("tiny.js.br").exists() && !dir.join("logo.png.br").exists());
        assert!(!dir.join("app.wasm.br.partial-1").exists());

        let mut inflated = Vec::new();
        brotli::BrotliDecompress(
            &mut std::fs::File::open(dir.join("app.wasm.br")).unwrap(),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, wasm);
        let mut gunzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(
                std::fs::File::open(dir.join("app.wasm.gz")).unwrap(),
            ),
            &mut gunzipped,
        )
        .unwrap();
        assert_eq!(gunzipped, wasm);

        let again = precompress(&dir).unwrap();
        assert_eq!((again.written, again.kept), (0, 2), "up to date: kept");
        // A new build (a newer file) gets new copies.
        std::fs::write(dir.join("app.wasm"), &wasm[..100_000]).unwrap();
        std::fs::File::options()
            .write(true)
            .open(dir.join("app.wasm"))
            .unwrap()
            .set_modified(SystemTime::now() + std::time::Duration::from_secs(10))
            .unwrap();
        let rebuilt = precompress(&dir).unwrap();
        assert_eq!((rebuilt.written, rebuilt.kept), (1, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
