//! `GET /demo`: the example web client of `examples/web` (plain HTML, CSS and ES modules),
//! built into the binary and served only by `serve --demo` (`Config::demo_page`). The page signs
//! in with a pasted token and talks to this server alone, as its Content-Security-Policy says.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// Scripts and styles from these files only (none inline), requests to this origin only:
/// browsers implementing CSP Level 3 count the origin's own `ws:` and `wss:` as `'self'`, so the
/// page's socket needs nothing more. `form-action 'none'` keeps a form submitted before the
/// script took it over from putting the token into a URL.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("../../../examples/web/index.html");

/// The files under `/demo/`, by name: its content type and text.
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../../examples/web/app.js")),
    ("graphql.js", "text/javascript; charset=utf-8", include_str!("../../../examples/web/graphql.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../../examples/web/style.css")),
];

/// `GET /demo`.
pub async fn page() -> HttpResponse {
    answer("text/html; charset=utf-8", INDEX)
}

/// `GET /demo/{file}`: one of [`FILES`], or 404.
pub async fn file(name: web::Path<String>) -> HttpResponse {
    let name = name.into_inner();
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, body)) => answer(content_type, body),
        None => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("no such file"),
    }
}

/// The files change with the binary under the same URLs: browsers ask again each time.
fn answer(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page loads served files only, and no file names another origin.
    #[test]
    fn the_page_refers_to_served_files_only() {
        let named: Vec<&str> =
            INDEX.split("\"/demo/").skip(1).map(|part| &part[..part.find('"').expect("quoted path")]).collect();
        assert_eq!(named, ["style.css", "app.js"]);
        for (_, _, text) in FILES {
            for part in text.split(" from './").skip(1) {
                let module = &part[..part.find('\'').expect("quoted module")];
                assert!(FILES.iter().any(|(f, _, _)| *f == module), "{module} is served");
            }
        }
        for text in std::iter::once(INDEX).chain(FILES.iter().map(|(_, _, text)| *text)) {
            assert!(!text.contains("http://") && !text.contains("https://"), "no other origin");
        }
    }
}
