//! Credentials out of logs and messages: the one way fundtrail shows a URL that may carry them
//! (store and log URLs, broker addresses).

/// What stands in for a hidden value.
const HIDDEN: &str = "***";

/// Schemes whose userinfo without a password is a user name; anywhere else a lone userinfo
/// may be a credential (`nats://token@host`) and is hidden.
const USER_NAME_SCHEMES: [&str; 2] = ["postgres", "postgresql"];

/// Parts of a query key (compared in lower case) that mark its value as a secret, so that
/// `password`, `sslpassword`, `sasl.password`, `token`, `auth_token` or `nkey` are all caught.
const SECRET_KEY_PARTS: [&str; 8] = [
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "jwt",
];

/// `url` with its secrets replaced by `***`: the password of the userinfo (`user:***@`), a
/// userinfo that is a bare token (`***@`, except the user name of a PostgreSQL URL), and the
/// values of query parameters named like secrets (`?password=***`). Everything else is kept,
/// so the result still says which host, database or topic is meant.
///
/// Everything between `://` and the last `@` counts as the userinfo, so a password with an
/// unescaped `@`, `/`, `?` or `#` is hidden whole rather than half shown.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let mut shown = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        shown.push_str(scheme);
        shown.push_str("://");
    }
    let rest = match (scheme, rest.rfind('@')) {
        (Some(scheme), Some(at)) => {
            shown.push_str(&userinfo(scheme, &rest[..at]));
            shown.push('@');
            &rest[at + 1..]
        }
        _ => rest,
    };
    let (place, query) = match rest.split_once('?') {
        Some((place, query)) => (place, Some(query)),
        None => (rest, None),
    };
    shown.push_str(place);
    if let Some(query) = query {
        shown.push('?');
        shown.push_str(&redact_query(query));
    }
    shown
}

fn userinfo(scheme: &str, userinfo: &str) -> String {
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:{HIDDEN}"),
        None if is_user_name(scheme, userinfo) => userinfo.to_owned(),
        None => HIDDEN.to_owned(),
    }
}

/// A lone userinfo is kept only where the scheme makes it a user name, and only when it looks
/// like one: with a `/`, `?` or `#` in it the `@` was somewhere further along (a query value),
/// and what stands before it may hold secrets of its own.
fn is_user_name(scheme: &str, userinfo: &str) -> bool {
    USER_NAME_SCHEMES
        .iter()
        .any(|known| scheme.eq_ignore_ascii_case(known))
        && !userinfo.contains(['/', '?', '#'])
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _value)) if is_secret_key(key) => format!("{key}={HIDDEN}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "sig" || SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden_and_user_names_kept() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/ledger"),
            "postgres://app:***@db:5432/ledger"
        );
        assert_eq!(
            redact_url("nats://relay:s3cret@nats:4222"),
            "nats://relay:***@nats:4222"
        );
        assert_eq!(
            redact_url("postgres://app:@db/x"),
            "postgres://app:***@db/x"
        );
        assert_eq!(
            redact_url("postgres://:s3cret@db/x"),
            "postgres://:***@db/x"
        );
    }

    #[test]
    fn a_lone_userinfo_is_a_user_name_only_for_postgres() {
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("postgresql://app@db/x"), "postgresql://app@db/x");
        assert_eq!(
            redact_url("nats://s3cret@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(redact_url("kafka://s3cret@k:9092"), "kafka://***@k:9092");
    }

    #[test]
    fn sasl_credentials_before_several_brokers_are_hidden() {
        assert_eq!(
            redact_url("kafka://alice:s3cret@a:9092,b:9092?topic=fundtrail.events.v1"),
            "kafka://alice:***@a:9092,b:9092?topic=fundtrail.events.v1"
        );
    }

    #[test]
    fn passwords_with_url_punctuation_are_hidden_whole() {
        for url in [
            "postgres://app:p@ss@db/x",
            "postgres://app:p#ss@db/x",
            "postgres://app:ab/cd+ef@db/x",
            "postgres://app:p?ss@db/x",
        ] {
            assert_eq!(redact_url(url), "postgres://app:***@db/x", "{url}");
        }
    }

    #[test]
    fn secret_query_parameters_are_hidden() {
        assert_eq!(
            redact_url("postgres://db/x?sslmode=require&password=s3cret&sslpassword=k3y"),
            "postgres://db/x?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(
            redact_url("nats://nats:4222?token=s3cret&stream=FUNDTRAIL"),
            "nats://nats:4222?token=***&stream=FUNDTRAIL"
        );
        assert_eq!(
            redact_url("kafka://k:9092?sasl.password=s3cret&Auth_Token=t&sig=x&topic=t"),
            "kafka://k:9092?sasl.password=***&Auth_Token=***&sig=***&topic=t"
        );
        assert_eq!(
            redact_url("sqlite:ledger.db?password=s3cret&mode=rwc"),
            "sqlite:ledger.db?password=***&mode=rwc"
        );
    }

    #[test]
    fn an_at_sign_in_the_query_does_not_reveal_what_precedes_it() {
        let shown = redact_url("postgres://db/x?password=s3cret&application_name=me@host");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for url in [
            "postgres://db:5432/ledger",
            "sqlite://data/ledger.db",
            "sqlite::memory:",
            "embedded",
            "nats://127.0.0.1:4222?stream=FUNDTRAIL&prefix=fundtrail.v1",
            "kafka://a:9092,b:9092?topic=t&partitions=6&replication=3",
            "postgres://db/x?sslmode=require&flag",
            "",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
