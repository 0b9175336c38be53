//! HTML: escaping, the frame every page shares, the sign-in form and the stylesheet. Every text
//! that comes from configuration, metadata or data goes through [`esc`]; there is no script.

use std::fmt::Write;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::signed::Signed;

/// Text for HTML element content and quoted attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment or query value, percent-encoded.
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The frame of every page: title, header with search and sign-out, the body.
pub(super) fn page(title: &str, who: Option<&Signed>, query: &str, body: &str) -> Html<String> {
    let mut h = String::with_capacity(body.len() + 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · meshgate catalog</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body>\
         <header><a class=\"brand\" href=\"/\">meshgate catalog</a>",
        esc(title)
    );
    if let Some(who) = who {
        let _ = write!(
            h,
            "<form class=\"search\" method=\"get\" action=\"/\" role=\"search\">\
             <input type=\"search\" name=\"q\" id=\"q\" value=\"{}\" placeholder=\"Search products, tables, columns, tags\">\
             <button type=\"submit\" id=\"search\">Search</button></form>\
             <span class=\"who\" id=\"who\">{}</span>\
             <form method=\"post\" action=\"/signout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" id=\"signout\">Sign out</button></form>",
            esc(query),
            esc(&who.user),
            esc(&who.csrf)
        );
    }
    let _ = writeln!(h, "</header><main>{body}</main></body></html>");
    Html(h)
}

pub(super) fn signin(token: &str, next: &str, message: Option<&str>, tokens: bool) -> Html<String> {
    let message = message
        .map(|m| format!("<p class=\"error\" id=\"message\">{}</p>", esc(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>{message}\
         <form class=\"signin\" method=\"post\" action=\"/signin\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>User <input name=\"user\" id=\"user\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\" id=\"signin\">Sign in</button></form>\
         <p class=\"note\">Your mesh user name and password, as for psql.</p>",
        esc(token),
        esc(next)
    );
    let mut body = body;
    if tokens {
        let _ = write!(
            body,
            "<h2>Or with a token</h2>\
             <form class=\"signin\" method=\"post\" action=\"/signin\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <label>Token <textarea name=\"token\" id=\"token\" rows=\"4\" cols=\"60\" autocomplete=\"off\" required></textarea></label>\
             <button type=\"submit\" id=\"signin-token\">Sign in with the token</button></form>\
             <p class=\"note\">A JWT from your identity provider, as psql takes in place of a password.</p>",
            esc(token),
            esc(next)
        );
    }
    page("Sign in", None, "", &body)
}

pub(super) fn message_page(title: &str, text: &str) -> Html<String> {
    page(
        title,
        None,
        "",
        &format!("<h1>{}</h1><p>{}</p>", esc(title), esc(text)),
    )
}

/// A small table: header cells and rows of already-escaped cells.
pub(super) fn table(id: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = format!("<table id=\"{}\"><thead><tr>", esc(id));
    for c in head {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#23395d;color:#fff;flex-wrap:wrap}
header a.brand{color:#fff;font-weight:600;text-decoration:none;margin-right:auto}
header form{margin:0}
header .who{font-size:.9rem;opacity:.9}
main{max-width:72rem;margin:0 auto;padding:1rem 1.2rem}
a{color:#1f5fbf}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.6rem}
table{border-collapse:collapse;background:#fff;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d5d9e0;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#eef1f5}
.tag{display:inline-block;background:#e3ecfa;border-radius:.8rem;padding:0 .5rem;margin:0 .2rem;font-size:.8rem}
.masked{color:#a33;font-weight:600}
.error{color:#a33}
.note{color:#5a6270;font-size:.9rem}
pre,code{background:#eef1f5;padding:.1rem .3rem;border-radius:.2rem;font-size:.85rem;overflow-x:auto}
pre{padding:.6rem;user-select:all}
form.signin{display:flex;flex-direction:column;gap:.6rem;max-width:20rem}
.domain{background:#fff;border:1px solid #d5d9e0;border-radius:.4rem;padding:.2rem 1rem;margin:1rem 0}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\" onclick='y'>&amp;</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(esc("plain text"), "plain text");
    }

    #[test]
    fn url_encodes_everything_but_unreserved() {
        assert_eq!(
            url_encode("/products/a b?q=1&x"),
            "%2Fproducts%2Fa%20b%3Fq%3D1%26x"
        );
        assert_eq!(url_encode("Ab-_.~9"), "Ab-_.~9");
        assert_eq!(url_encode("é"), "%C3%A9");
    }
}
