//! A Subsonic request's parameters: the query string and, for a form POST
//! (OpenSubsonic `formPost`, which keeps passwords out of URLs and logs), the
//! `application/x-www-form-urlencoded` body, in that order. Names repeat (`id=1&id=2`);
//! unknown names are ignored, as every Subsonic server does (apps send their own).

use super::error::SubsonicError;
use crate::http::request::{Request, percent_decode};

/// Most parameters one request may carry (a play queue or playlist edit repeats `id`).
pub(crate) const MAX_PARAMS: usize = 20_000;

pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

fn pairs_of(text: &str, out: &mut Vec<(String, String)>) -> Result<(), SubsonicError> {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        if out.len() >= MAX_PARAMS {
            return Err(SubsonicError::Invalid {
                name: "parameters",
                why: format!("more than {MAX_PARAMS}"),
            });
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((percent_decode(k), percent_decode(v)));
    }
    Ok(())
}

impl Params {
    pub(crate) fn from_request(req: &Request) -> Result<Self, SubsonicError> {
        let mut pairs = Vec::new();
        if let Some(q) = req.query() {
            pairs_of(q, &mut pairs)?;
        }
        let form = req.header("content-type").is_some_and(|t| {
            t.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if form && !req.body.is_empty() {
            let body = std::str::from_utf8(&req.body).map_err(|_| SubsonicError::Invalid {
                name: "body",
                why: "the form is not UTF-8".into(),
            })?;
            pairs_of(body, &mut pairs)?;
        }
        Ok(Self { pairs })
    }

    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be there and not empty.
    pub(crate) fn required(&self, name: &'static str) -> Result<&str, SubsonicError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or(SubsonicError::Missing(name))
    }

    /// An integer parameter in `min..=max`; `None` when absent.
    pub(crate) fn int(
        &self,
        name: &'static str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, SubsonicError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match raw.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(SubsonicError::Invalid {
                name,
                why: format!("{raw:?} is not an integer in {min}..={max}"),
            }),
        }
    }

    /// `true`/`false` (any case) or `1`/`0`; `None` when absent.
    pub(crate) fn boolean(&self, name: &'static str) -> Result<Option<bool>, SubsonicError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(other) => Err(SubsonicError::Invalid {
                name,
                why: format!("{other:?} is not true or false"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::Method;

    #[test]
    fn query_then_form_body_with_repeats_and_escapes() {
        let req = Request::build(
            Method::Post,
            "/rest/star?u=al%20ice&id=1",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )],
            b"id=2&p=enc%3A41&id=3",
        );
        let p = Params::from_request(&req).unwrap();
        assert_eq!(p.get("u"), Some("al ice"));
        assert_eq!(p.all("id").collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(p.get("p"), Some("enc:41"));
        assert!(matches!(p.required("t"), Err(SubsonicError::Missing("t"))));
    }

    #[test]
    fn a_body_that_is_not_a_form_is_not_read_and_limits_hold() {
        let req = Request::build(
            Method::Post,
            "/rest/ping",
            &[("Content-Type", "text/plain")],
            b"u=x",
        );
        assert_eq!(Params::from_request(&req).unwrap().get("u"), None);
        let many = "id=1&".repeat(MAX_PARAMS + 1);
        let req = Request::build(Method::Get, &format!("/rest/x?{many}"), &[], b"");
        assert!(Params::from_request(&req).is_err());
        let p = Params::from_pairs(&[("size", "9223372036854775808"), ("b", "TRUE")]);
        assert!(p.int("size", 0, 500).is_err());
        assert_eq!(p.boolean("b").unwrap(), Some(true));
    }
}
