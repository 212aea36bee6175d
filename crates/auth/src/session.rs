//! Browser sessions for the web console: the login JWT rides in an HttpOnly cookie, and
//! every state-changing request must also carry a CSRF token that only a page able to read
//! the (non-HttpOnly) `kumo_csrf` cookie of our origin can know.
//!
//! The CSRF token is derived from the JWT's id, so nothing is stored: a cross-site page
//! can neither read the HttpOnly JWT nor our cookies, so it cannot compute or copy it.

use http::{header, HeaderMap, Method};
use sha2::{Digest, Sha256};

/// The cookie holding the JWT (HttpOnly, `Path=/v1/`).
pub const SESSION_COOKIE: &str = "kumo_session";
/// The cookie holding the CSRF token (readable by the console's scripts, `Path=/`).
pub const CSRF_COOKIE: &str = "kumo_csrf";
/// The header a state-changing request repeats the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The error code of a request refused for a missing or wrong CSRF token.
pub const CSRF_ERROR_CODE: &str = "InvalidCsrfToken";
/// What that refusal says.
pub const CSRF_ERROR_MESSAGE: &str =
    "this request did not come from the Kumo console (missing or wrong X-CSRF-Token)";

/// Lowercase hex of SHA-256(`kumo-csrf:` + the token's `jti`).
pub fn csrf_token(jti: &str) -> String {
    hex::encode(Sha256::digest(format!("kumo-csrf:{jti}").as_bytes()))
}

/// The value of cookie `name`, from any `Cookie` header (HTTP/2 may send several).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    cookies(headers, name).into_iter().next()
}

/// Every non-empty value of cookie `name`, in the order the client sent them.
fn cookies<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .collect()
}

/// The session cookie a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCookie<'a> {
    Absent,
    One(&'a str),
    /// Two different `kumo_session` values: one was planted for a narrower path or a parent
    /// domain by another page on this host (cookies ignore ports) or a sibling subdomain.
    /// Neither is used: the planted one may be its author's own valid session, and acting
    /// as that account for the visitor (or showing it its data) is worse than asking it to
    /// sign in.
    Ambiguous,
}

/// The request's `kumo_session` cookie, refusing to choose between different values.
pub fn session_cookie(headers: &HeaderMap) -> SessionCookie<'_> {
    let values = cookies(headers, SESSION_COOKIE);
    let Some(first) = values.first().copied() else {
        return SessionCookie::Absent;
    };
    if values.iter().any(|other| *other != first) {
        SessionCookie::Ambiguous
    } else {
        SessionCookie::One(first)
    }
}

/// Why an ambiguous session cookie is refused.
pub const AMBIGUOUS_SESSION_MESSAGE: &str = "the request carries several different kumo_session cookies (one was set by another page on this host); clear this site's cookies and sign in again";

/// Is this a request the session cookie may authenticate? Only the native API (`/v1/`)
/// honours it, and never the sign-in calls themselves (a stale cookie must not stop a
/// fresh login).
pub fn cookie_applies(method: &Method, path: &str) -> bool {
    if !path.starts_with("/v1/") {
        return false;
    }
    let signing_in = (method == Method::POST && path == "/v1/session") || path == "/v1/login";
    !signing_in
}

/// Does a request of this method need the CSRF header? Everything but the safe methods.
pub fn needs_csrf(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Does the request's `X-CSRF-Token` match the session's token (compared in constant time)?
pub fn csrf_matches(headers: &HeaderMap, jti: &str) -> bool {
    let expected = csrf_token(jti);
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| {
            crate::sigv4::constant_time_eq(given.trim().as_bytes(), expected.as_bytes())
        })
}

/// `Set-Cookie` values for a session whose token lives `max_age_secs` more seconds.
pub fn set_cookies(jwt: &str, jti: &str, max_age_secs: i64) -> [String; 2] {
    let max_age = max_age_secs.max(0);
    [
        format!("{SESSION_COOKIE}={jwt}; HttpOnly; SameSite=Strict; Path=/v1/; Max-Age={max_age}"),
        format!(
            "{CSRF_COOKIE}={}; SameSite=Strict; Path=/; Max-Age={max_age}",
            csrf_token(jti)
        ),
    ]
}

/// `Set-Cookie` values that delete both cookies.
pub fn clear_cookies() -> [String; 2] {
    [
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/v1/; Max-Age=0"),
        format!("{CSRF_COOKIE}=; SameSite=Strict; Path=/; Max-Age=0"),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csrf_is_sha256_hex_of_the_jti() {
        let t = csrf_token("abc");
        assert_eq!(t.len(), 64);
        assert_eq!(t, hex::encode(Sha256::digest(b"kumo-csrf:abc")));
        assert_ne!(t, csrf_token("abd"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; kumo_session=tok.en.x; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok.en.x"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, CSRF_COOKIE), None);
        h.append(header::COOKIE, "kumo_csrf=ff".parse().unwrap());
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("ff"));
    }

    #[test]
    fn different_session_cookies_are_ambiguous() {
        let mut h = HeaderMap::new();
        assert_eq!(session_cookie(&h), SessionCookie::Absent);
        h.append(header::COOKIE, "kumo_session=; x=1".parse().unwrap());
        assert_eq!(session_cookie(&h), SessionCookie::Absent);
        h.append(header::COOKIE, "kumo_session=mine".parse().unwrap());
        assert_eq!(session_cookie(&h), SessionCookie::One("mine"));
        // The same value twice is one cookie.
        h.append(
            header::COOKIE,
            "a=b; kumo_session=\"mine\"".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h), SessionCookie::One("mine"));
        // A planted one beside it, in any order and header.
        let mut planted = HeaderMap::new();
        planted.append(
            header::COOKIE,
            "kumo_session=theirs; kumo_csrf=c; kumo_session=mine"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&planted), SessionCookie::Ambiguous);
        h.append(header::COOKIE, "kumo_session=theirs".parse().unwrap());
        assert_eq!(session_cookie(&h), SessionCookie::Ambiguous);
        // Names are exact: look-alikes are other cookies.
        let mut lookalike = HeaderMap::new();
        lookalike.append(
            header::COOKIE,
            "Kumo_session=x; kumo_session_2=y; kumo_session=mine"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&lookalike), SessionCookie::One("mine"));
    }

    #[test]
    fn where_the_cookie_counts() {
        assert!(cookie_applies(&Method::GET, "/v1/whoami"));
        assert!(cookie_applies(&Method::GET, "/v1/session"));
        assert!(cookie_applies(&Method::DELETE, "/v1/session"));
        assert!(!cookie_applies(&Method::POST, "/v1/session"));
        assert!(!cookie_applies(&Method::POST, "/v1/login"));
        assert!(!cookie_applies(&Method::GET, "/bucket/key"));
        assert!(!cookie_applies(&Method::GET, "/console/"));
        assert!(needs_csrf(&Method::POST));
        assert!(needs_csrf(&Method::DELETE));
        assert!(!needs_csrf(&Method::GET));
    }

    #[test]
    fn set_cookie_flags() {
        let [session, csrf] = set_cookies("j.w.t", "id1", 900);
        assert_eq!(
            session,
            "kumo_session=j.w.t; HttpOnly; SameSite=Strict; Path=/v1/; Max-Age=900"
        );
        assert!(csrf.starts_with(&format!(
            "kumo_csrf={}; SameSite=Strict; Path=/;",
            csrf_token("id1")
        )));
        assert!(!csrf.contains("HttpOnly"));
    }
}
