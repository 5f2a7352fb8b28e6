//! GET /graphql (the GraphiQL page) and GET /graphiql/{asset}: GraphiQL
//! served from the binary itself.
//!
//! Schools sit behind firewalls and developers work offline; a page that
//! pulls React and GraphiQL from a CDN shows "Loading..." for ever there. So
//! the page's scripts and styles are vendored in `src/http/graphiql/`
//! (pinned builds from npm, versions and checksums in `VENDORED.md`, licences
//! in `LICENSES.txt`) and compiled into `onroll`: the page needs nothing but
//! the server that serves it.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// One vendored file: its name under `/graphiql/`, content type, and its
/// bytes gzipped (`gzip -9n`: a third of the size in the binary, and sent as
/// they are with `Content-Encoding: gzip`, which every browser accepts).
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "application/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A vendored file by its name under `src/http/graphiql/` (stored as
/// `NAME.gz`).
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("graphiql/", $name, ".gz")),
        }
    };
}

/// The pinned builds. Their names carry no version, so the page below never
/// changes when they are upgraded; `VENDORED.md` says which build each is.
const ASSETS: &[Asset] = &[
    asset!("react.production.min.js", JS),
    asset!("react-dom.production.min.js", JS),
    asset!("graphiql.min.js", JS),
    asset!("graphiql.min.css", CSS),
];

/// The page. The header editor starts open with `{"Authorization": "Bearer "}`
/// (every operation but a few needs a token), and when the schema cannot be
/// fetched a banner says why and what to do, because GraphiQL's own Docs
/// panel then just stays empty.
const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Onroll GraphiQL</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/graphiql/graphiql.min.css">
  <style>
    html, body { height: 100%; margin: 0; }
    body { display: flex; flex-direction: column; }
    #graphiql { flex: 1; min-height: 0; }
    #onroll-hint { display: none; padding: 8px 16px; font: 14px/1.4 system-ui, sans-serif;
      background: #fff4ce; color: #3b2f00; border-bottom: 1px solid #e0c36a; }
    #onroll-hint code { background: #fff; padding: 1px 4px; border-radius: 3px; }
  </style>
</head>
<body>
  <div id="onroll-hint" role="status"></div>
  <div id="graphiql">Loading GraphiQL...</div>
  <script src="/graphiql/react.production.min.js"></script>
  <script src="/graphiql/react-dom.production.min.js"></script>
  <script src="/graphiql/graphiql.min.js"></script>
  <script>
    (function () {
      var wsScheme = location.protocol === "https:" ? "wss:" : "ws:";
      var base = GraphiQL.createFetcher({
        url: location.origin + "/graphql",
        subscriptionUrl: wsScheme + "//" + location.host + "/graphql/ws"
      });
      var hint = document.getElementById("onroll-hint");
      function showHint(message) {
        hint.innerHTML = "The schema could not be loaded: " + message +
          " Put a token in the <b>Headers</b> tab below the editor, as " +
          "<code>{\"Authorization\": \"Bearer &lt;token&gt;\"}</code> " +
          "(<code>onroll demo</code> prints one; <code>onroll token create</code> makes one), " +
          "then press the <b>&#x27f3;</b> button at the bottom left (Re-fetch GraphQL schema).";
        hint.style.display = "block";
      }
      function escapeHtml(text) {
        return String(text).replace(/[&<>"]/g, function (c) {
          return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" }[c];
        });
      }
      // Introspection answers are watched so that a missing or bad token
      // is explained instead of leaving the Docs panel blank.
      function fetcher(params, options) {
        var introspection = params && params.operationName === "IntrospectionQuery";
        var result = base(params, options);
        if (!introspection || !result || typeof result.then !== "function") return result;
        return result.then(function (answer) {
          if (answer && answer.errors && !answer.data) {
            var first = answer.errors[0] || {};
            var code = first.extensions && first.extensions.code;
            showHint(escapeHtml((code ? code + ": " : "") + (first.message || "refused") + "."));
          } else {
            hint.style.display = "none";
          }
          return answer;
        }, function (error) {
          showHint(escapeHtml(error && error.message ? error.message : "the server did not answer") + ".");
          throw error;
        });
      }
      ReactDOM.createRoot(document.getElementById("graphiql")).render(
        React.createElement(GraphiQL, {
          fetcher: fetcher,
          defaultHeaders: "{\"Authorization\": \"Bearer \"}",
          defaultEditorToolsVisibility: "headers",
          shouldPersistHeaders: true
        })
      );
    })();
  </script>
</body>
</html>
"##;

/// GET /graphql: the GraphiQL page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// GET /graphiql/{asset}: a vendored file, or 404. The bytes only change
/// with the binary, so browsers may keep them for a day.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "Accept-Encoding"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script and stylesheet the page names is one the server serves,
    /// and none comes from another host.
    #[test]
    fn page_references_only_vendored_assets() {
        let referenced: Vec<&str> = PAGE
            .split(['"', '\''])
            .filter(|piece| piece.starts_with("/graphiql/"))
            .map(|piece| piece.trim_start_matches("/graphiql/"))
            .collect();
        assert_eq!(referenced.len(), ASSETS.len(), "page names {referenced:?}");
        for name in referenced {
            assert!(ASSETS.iter().any(|a| a.name == name), "{name} is not vendored");
        }
        assert!(
            !PAGE.contains("http://") && !PAGE.contains("https://"),
            "the page must not load from elsewhere"
        );
        for asset in ASSETS {
            assert!(asset.bytes.len() > 1000, "{} looks empty", asset.name);
            assert_eq!(&asset.bytes[..2], &[0x1f, 0x8b], "{} is not gzipped", asset.name);
        }
    }
}
