//! `GET /graphiql`: GraphiQL with a field for the bearer token, served entirely by this server.
//! Its scripts and styles are built into the binary (`api/assets/graphiql`, whose README says
//! where each file comes from), so the page works on networks that cannot reach a public CDN;
//! its Content-Security-Policy keeps it, and the token typed into it, on this server's origin.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use base64::Engine;
use sha2::{Digest, Sha256};

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// One file under `/graphiql/assets/`, at `{dir}/{file}`.
struct Asset {
    dir: &'static str,
    file: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// GraphiQL 3.9.0 on React 18.3.1: the newest GraphiQL with a self-contained browser script
/// (GraphiQL 4 deprecates it, GraphiQL 5 ships ES modules and web workers only, which need a
/// bundler; React 18 is the last with UMD builds). Each directory names its package's version,
/// so a URL always means the same bytes and browsers may keep them for good. The licences are
/// served beside the code they cover.
const ASSETS: &[Asset] = &[
    Asset {
        dir: "graphiql-3.9.0",
        file: "graphiql.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/graphiql-3.9.0/graphiql.min.js"),
    },
    Asset {
        dir: "graphiql-3.9.0",
        file: "graphiql.min.css",
        content_type: CSS,
        body: include_bytes!("../../assets/graphiql/graphiql-3.9.0/graphiql.min.css"),
    },
    Asset {
        dir: "graphiql-3.9.0",
        file: "LICENSE",
        content_type: TEXT,
        body: include_bytes!("../../assets/graphiql/graphiql-3.9.0/LICENSE"),
    },
    Asset {
        dir: "react-18.3.1",
        file: "react.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react-18.3.1/react.production.min.js"),
    },
    Asset {
        dir: "react-18.3.1",
        file: "LICENSE",
        content_type: TEXT,
        body: include_bytes!("../../assets/graphiql/react-18.3.1/LICENSE"),
    },
    Asset {
        dir: "react-dom-18.3.1",
        file: "react-dom.production.min.js",
        content_type: JS,
        body: include_bytes!("../../assets/graphiql/react-dom-18.3.1/react-dom.production.min.js"),
    },
    Asset {
        dir: "react-dom-18.3.1",
        file: "LICENSE",
        content_type: TEXT,
        body: include_bytes!("../../assets/graphiql/react-dom-18.3.1/LICENSE"),
    },
];

const PAGE_TEMPLATE: &str = include_str!("../../assets/graphiql/index.html");
/// Inlined into the page rather than served as a file: the page is never cached, so the script
/// changes with the binary without a versioned URL of its own.
const PAGE_SCRIPT: &str = include_str!("../../assets/graphiql/guanxi.js");

struct Page {
    html: String,
    csp: String,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PAGE_SCRIPT.as_bytes()));
    // Scripts: the files above and the inlined one, by its hash. Requests (`connect-src`): this
    // server only. Styles may be inline because GraphiQL sets style attributes; its fonts and
    // icons are `data:` URLs.
    let csp = format!(
        "default-src 'none'; script-src 'self' 'sha256-{hash}'; style-src 'self' 'unsafe-inline'; \
         font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    );
    Page { html: PAGE_TEMPLATE.replace("{{guanxi.js}}", PAGE_SCRIPT), csp }
});

/// `GET /graphiql`. `?token=` fills the token field, `?query=`, `?variables=` and
/// `?operationName=` the editors; the page's script reads them, the server never does.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE.csp.as_str()))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(PAGE.html.as_str())
}

/// `GET /graphiql/assets/{dir}/{file}`: one of the files above, or 404.
pub async fn asset(path: web::Path<(String, String)>) -> HttpResponse {
    let (dir, file) = path.into_inner();
    match ASSETS.iter().find(|a| a.dir == dir && a.file == file) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(asset.body),
        None => HttpResponse::NotFound().content_type(TEXT).body("no such file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page names is one the server has, and the page names no other origin.
    #[test]
    fn page_refers_to_served_files_only() {
        let html = &PAGE.html;
        assert!(!html.contains("{{"), "template filled in");
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//unpkg"), "{html}");
        let mut named = 0;
        for part in html.split("/graphiql/assets/").skip(1) {
            let path = &part[..part.find('"').expect("quoted path")];
            let (dir, file) = path.split_once('/').expect("dir/file");
            assert!(ASSETS.iter().any(|a| a.dir == dir && a.file == file), "{path} is served");
            named += 1;
        }
        assert_eq!(named, 4, "three scripts and the stylesheet");
    }
}
