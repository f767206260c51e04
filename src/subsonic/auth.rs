//! Who is calling: Subsonic's three logins, each checked against the library's
//! principals. `u` + `p` (the password, plain or `enc:` + hex), `u` + `t` + `s`
//! (`t = md5(password + s)`, recomputed from the sealed password), or OpenSubsonic's
//! `apiKey` (a bearer token: an API key made for a user, or any token). Failed logins
//! go through the [`LoginThrottle`](super::throttle::LoginThrottle).

use super::error::SubsonicError;
use super::params::Params;
use crate::library::tokens::Principal;
use crate::runtime::core_state::CoreState;
use md5::{Digest, Md5};
use std::net::IpAddr;

/// Longest salt accepted (clients send 6-32 characters).
const MAX_SALT: usize = 256;

/// A logged-in caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub principal: Principal,
    /// The app's name (`c`), for the play queue's `changedBy` and now-playing.
    pub client: String,
}

/// Equal bytes, in time that depends on the length only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The password a `p` parameter carries (`enc:` hex-encodes it).
fn plain(p: &str) -> Result<String, SubsonicError> {
    let Some(hex) = p.strip_prefix("enc:") else {
        return Ok(p.to_string());
    };
    let bad = || SubsonicError::Invalid {
        name: "p",
        why: "enc: must be followed by hex digits".into(),
    };
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>, _>>()?;
    String::from_utf8(bytes).map_err(|_| SubsonicError::Invalid {
        name: "p",
        why: "enc: must carry the hex of a UTF-8 password".into(),
    })
}

fn md5_hex(password: &str, salt: &str) -> String {
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(salt.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// How the request asks to be let in.
enum Login<'a> {
    ApiKey(&'a str),
    Password {
        user: &'a str,
        p: &'a str,
    },
    Token {
        user: &'a str,
        t: &'a str,
        s: &'a str,
    },
}

fn login(params: &Params) -> Result<Login<'_>, SubsonicError> {
    let user = params.get("u");
    if let Some(key) = params.get("apiKey") {
        // OpenSubsonic: an API key names its user; `u` beside it is a conflict.
        return match user {
            Some(_) => Err(SubsonicError::ConflictingMechanisms),
            None => Ok(Login::ApiKey(key)),
        };
    }
    let user = user.ok_or(SubsonicError::Missing("u"))?;
    match (params.get("p"), params.get("t"), params.get("s")) {
        (Some(_), Some(_), _) => Err(SubsonicError::ConflictingMechanisms),
        (Some(p), None, _) => Ok(Login::Password { user, p }),
        (None, Some(t), Some(s)) => Ok(Login::Token { user, t, s }),
        (None, Some(_), None) => Err(SubsonicError::Missing("s")),
        (None, None, _) => Err(SubsonicError::Missing("p")),
    }
}

/// The caller of a request, or why not.
pub(crate) fn authenticate(
    core: &CoreState,
    ip: IpAddr,
    params: &Params,
) -> Result<Caller, SubsonicError> {
    let client = params.get("c").unwrap_or("").chars().take(100).collect();
    let reader = core
        .library
        .as_ref()
        .ok_or_else(|| SubsonicError::Generic("no library is configured".into()))?;
    let throttle = &core.shared.subsonic.logins;
    let login = login(params)?;
    let named = match &login {
        Login::ApiKey(_) => None,
        Login::Password { user, .. } | Login::Token { user, .. } => Some(*user),
    };
    if let Some(wait) = throttle.check(named, ip) {
        return Err(SubsonicError::Throttled(wait));
    }
    let found = match login {
        Login::ApiKey(key) => match reader.principal(key)? {
            Some(principal) => Ok(principal),
            None => Err(SubsonicError::InvalidApiKey),
        },
        Login::Password { user, p } => {
            let given = plain(p)?;
            match reader.account(user)? {
                Some(a) if same(a.password.as_bytes(), given.as_bytes()) => Ok(a.principal),
                _ => Err(SubsonicError::WrongCredentials),
            }
        }
        Login::Token { user, t, s } => {
            if s.len() > MAX_SALT {
                return Err(SubsonicError::Invalid {
                    name: "s",
                    why: format!("longer than {MAX_SALT} characters"),
                });
            }
            match reader.account(user)? {
                Some(a)
                    if same(
                        md5_hex(&a.password, s).as_bytes(),
                        t.to_ascii_lowercase().as_bytes(),
                    ) =>
                {
                    Ok(a.principal)
                }
                _ => Err(SubsonicError::WrongCredentials),
            }
        }
    };
    match found {
        Ok(principal) => Ok(Caller { principal, client }),
        Err(e) => {
            throttle.failed(named, ip);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_md5_of_password_and_salt_as_the_subsonic_docs_show() {
        // http://www.subsonic.org/pages/api.jsp: password "sesame", salt "c19b2d".
        assert_eq!(
            md5_hex("sesame", "c19b2d"),
            "26719a1196d2a940705a59634eb18eab"
        );
    }

    #[test]
    fn enc_passwords_are_hex_and_bad_hex_is_refused() {
        assert_eq!(plain("enc:736573616d65").unwrap(), "sesame");
        assert_eq!(plain("sesame").unwrap(), "sesame");
        assert!(plain("enc:7").is_err());
        assert!(plain("enc:zz").is_err());
        assert!(plain("enc:ff").is_err(), "not UTF-8");
    }

    #[test]
    fn mechanisms_are_chosen_and_conflicts_refused() {
        let l = |pairs: &[(&str, &str)]| {
            login(&Params::from_pairs(pairs))
                .map(|_| ())
                .map_err(|e| e.code())
        };
        assert_eq!(l(&[("apiKey", "k")]), Ok(()));
        assert_eq!(l(&[("apiKey", "k"), ("u", "a")]), Err(43));
        assert_eq!(l(&[("u", "a"), ("p", "x"), ("t", "y")]), Err(43));
        assert_eq!(l(&[("u", "a"), ("t", "y")]), Err(10));
        assert_eq!(l(&[("u", "a")]), Err(10));
        assert_eq!(l(&[]), Err(10));
        assert!(!same(b"abc", b"abd") && same(b"abc", b"abc") && !same(b"ab", b"abc"));
    }
}
