//! Who is looking: the bearer token from the `Authorization` header or the sign-in cookie,
//! checked as the gRPC API checks it, and the sign-in page that sets the cookie.

use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fundtrail_identity::Principal;
use maud::html;

use crate::Web;
use crate::pages;

/// The cookie a signed-in browser carries its bearer token in.
pub const COOKIE: &str = "fundtrail_token";

/// The longest token accepted, in bytes: far more than any identity provider issues, and
/// within what a browser keeps in one cookie.
const MAX_TOKEN: usize = 4000;

/// The authenticated principal a page is answered for.
#[derive(Debug, Clone)]
pub struct Viewer(pub Principal);

/// The token of a `Cookie` header's `fundtrail_token`, if any.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(()),
    )
}

/// Back to the sign-in page, forgetting a cookie that no longer signs in.
fn to_sign_in(forget: bool) -> Response {
    let mut response = Redirect::to("/sign-in").into_response();
    if forget {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, HeaderValue::from_static(FORGET));
    }
    response
}

const FORGET: &str = "fundtrail_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";

fn unauthorized(message: &str) -> Response {
    let mut response = pages::problem(StatusCode::UNAUTHORIZED, "Not signed in", message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"fundtrail\""),
    );
    response
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        // A program that sends a header means it: a bad one is an error, not a sign-in page.
        if let Some(header) = bearer(&parts.headers) {
            let token = header
                .map_err(|()| unauthorized("The Authorization header is not `Bearer <token>`."))?;
            return web
                .authenticator
                .verify_bearer_with_reload(token)
                .await
                .map(Viewer)
                .map_err(|error| unauthorized(&format!("The bearer token is refused: {error}.")));
        }
        let Some(token) = cookie_token(&parts.headers) else {
            return Err(to_sign_in(false));
        };
        match web.authenticator.verify_bearer_with_reload(token).await {
            Ok(principal) => Ok(Viewer(principal)),
            Err(error) => {
                tracing::debug!(%error, "a sign-in cookie is refused");
                Err(to_sign_in(true))
            }
        }
    }
}

/// The sign-in form, with what went wrong the last time.
fn form(status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        p {
            "Paste the bearer token your identity provider gave you (under "
            code { "fundtrail dev" } ", one of the files in " code { ".fundtrail/tokens/" } ")."
            " It is kept in a cookie this browser sends to this site only."
        }
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form method="post" action="/sign-in" {
            label for="token" { "Bearer token" }
            textarea #token name="token" rows="6" cols="80" required autocomplete="off" spellcheck="false" {}
            p { button type="submit" { "Sign in" } }
        }
    };
    pages::page(status, "Sign in", None, &body)
}

pub async fn sign_in_form() -> Response {
    form(StatusCode::OK, None)
}

#[derive(Debug, serde::Deserialize)]
pub struct SignIn {
    token: String,
}

/// Whether a form post comes from this site: a browser names the page's origin, which must be
/// the host the post was sent to (another site cannot sign a browser in as someone else).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Programs and older browsers send none; the cookie's SameSite protects the rest.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    matches!((host, origin_host), (Some(host), Some(origin)) if host.eq_ignore_ascii_case(origin))
}

pub async fn sign_in(
    State(web): State<Web>,
    headers: HeaderMap,
    Form(input): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        return pages::problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "A sign-in must come from this site's own page.",
        );
    }
    let token = input.token.trim();
    if token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return form(
            StatusCode::UNAUTHORIZED,
            Some("This is not a bearer token: a token is one line of printable characters."),
        );
    }
    match web.authenticator.verify_bearer_with_reload(token).await {
        Ok(principal) => {
            let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            let mut response = Redirect::to(&home_of(&principal)).into_response();
            match HeaderValue::from_str(&cookie) {
                Ok(value) => {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                    response
                }
                Err(_) => form(
                    StatusCode::UNAUTHORIZED,
                    Some("This token cannot be kept in a cookie."),
                ),
            }
        }
        Err(error) => form(
            StatusCode::UNAUTHORIZED,
            Some(&format!("This token is not accepted: {error}.")),
        ),
    }
}

pub async fn sign_out() -> Response {
    to_sign_in(true)
}

/// Where a principal starts: a donor's system at its own statement, staff at the overview.
pub fn home_of(principal: &Principal) -> String {
    match &principal.donor_id {
        Some(donor) => format!("/donors/{}", crate::text::segment(donor.trim())),
        None => "/overview".to_owned(),
    }
}

/// The refusal of `viewer` from a page that shows what the gRPC method `method` answers;
/// `None` when the access table admits it.
pub fn refusal(viewer: &Viewer, method: &str) -> Option<Response> {
    let path = format!("/fundtrail.v1.{method}");
    let admitted = fundtrail_identity::access(&path).is_some_and(|access| access.admits(&viewer.0));
    (!admitted).then(|| forbidden(viewer))
}

pub fn forbidden(viewer: &Viewer) -> Response {
    let roles: Vec<&str> = viewer.0.roles.iter().map(|r| r.as_str()).collect();
    pages::problem(
        StatusCode::FORBIDDEN,
        "Not for this account",
        &format!(
            "{} ({}) may not see this page.",
            viewer.0.subject,
            if roles.is_empty() {
                "no roles".to_owned()
            } else {
                roles.join(", ")
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let h = headers(&[(header::COOKIE, "a=1; fundtrail_token=abc.def ; b=2")]);
        assert_eq!(cookie_token(&h), Some("abc.def"));
        assert_eq!(
            cookie_token(&headers(&[(header::COOKIE, "fundtrail_token=")])),
            None
        );
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }

    #[test]
    fn bearer_headers_are_parsed_strictly() {
        assert_eq!(
            bearer(&headers(&[(header::AUTHORIZATION, "Bearer x.y.z")])),
            Some(Ok("x.y.z"))
        );
        assert_eq!(
            bearer(&headers(&[(header::AUTHORIZATION, "Basic abc")])),
            Some(Err(()))
        );
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn a_sign_in_from_another_site_is_recognised() {
        let here = (header::HOST, "127.0.0.1:50080");
        assert!(same_origin(&headers(std::slice::from_ref(&here))));
        assert!(same_origin(&headers(&[
            here.clone(),
            (header::ORIGIN, "http://127.0.0.1:50080")
        ])));
        assert!(!same_origin(&headers(&[
            here,
            (header::ORIGIN, "https://evil.example")
        ])));
    }
}
