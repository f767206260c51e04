//! The `subsonic-response` every answer sits in, as XML (default), JSON (`f=json`) or
//! JSONP (`f=jsonp&callback=name`); errors are answers too, with HTTP 200 unless the
//! method itself is unknown.

use super::element::Element;
use super::error::SubsonicError;
use crate::http::response::Response;

/// The Subsonic API version served.
pub(crate) const API_VERSION: &str = "1.16.1";
/// What `type` names (OpenSubsonic: the server's name).
pub(crate) const SERVER_TYPE: &str = "auralis";

/// How the answer is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    Xml,
    Json,
    /// JSON wrapped in a call to this function name.
    Jsonp(String),
}

impl Format {
    /// From `f` (and `callback`): unknown values answer XML, as Subsonic does; a
    /// callback must be a plain JavaScript name (it is echoed into a script).
    pub(crate) fn of(f: Option<&str>, callback: Option<&str>) -> Format {
        match f {
            Some("json") => Format::Json,
            Some("jsonp") => match callback {
                Some(cb) if plain_name(cb) => Format::Jsonp(cb.to_string()),
                _ => Format::Json,
            },
            _ => Format::Xml,
        }
    }
}

/// A JavaScript identifier of ASCII letters, digits, `_` and `$`, not starting with a
/// digit, and not a reserved word a call could not use.
fn plain_name(cb: &str) -> bool {
    const RESERVED: &[&str] = &[
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "new",
        "null",
        "return",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
    ];
    let mut chars = cb.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
    first_ok
        && cb.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !RESERVED.contains(&cb)
}

fn head(status: &'static str) -> Element {
    Element::new("subsonic-response")
        .attr("status", status)
        .attr("version", API_VERSION)
        .attr("type", SERVER_TYPE)
        .attr("serverVersion", env!("CARGO_PKG_VERSION"))
        .attr("openSubsonic", true)
}

/// A success, with its payload element (none for `ping` and changes).
pub(crate) fn ok(payload: Option<Element>, format: &Format) -> Response {
    let mut root = head("ok");
    if let Some(p) = payload {
        root = root.child(p);
    }
    write(root, format, 200)
}

/// A success whose payload is a list (`openSubsonicExtensions`: an array in JSON).
pub(crate) fn ok_list(name: &'static str, items: Vec<Element>, format: &Format) -> Response {
    write(head("ok").list(name, items), format, 200)
}

/// A failure (HTTP 200: Subsonic clients read the code from the body).
pub(crate) fn failed(e: &SubsonicError, format: &Format, status: u16) -> Response {
    let root = head("failed").child(
        Element::new("error")
            .attr("code", e.code())
            .attr("message", e.to_string()),
    );
    write(root, format, status)
}

fn write(mut root: Element, format: &Format, status: u16) -> Response {
    let (content_type, body) = match format {
        Format::Xml => {
            root = root.attr("xmlns", "http://subsonic.org/restapi");
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            root.write_xml(&mut out);
            ("text/xml; charset=utf-8", out.into_bytes())
        }
        Format::Json | Format::Jsonp(_) => {
            let doc = serde_json::json!({ "subsonic-response": root.to_json() });
            let json = doc.to_string();
            match format {
                Format::Jsonp(cb) => (
                    "text/javascript; charset=utf-8",
                    format!("{cb}({json});").into_bytes(),
                ),
                _ => ("application/json", json.into_bytes()),
            }
        }
    };
    let mut resp = Response::new(status)
        .header("Content-Type", content_type)
        .header("Cache-Control", "no-store");
    resp.body = body.into();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_the_code_and_every_envelope_says_opensubsonic() {
        let r = failed(&SubsonicError::WrongCredentials, &Format::Json, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let s = &v["subsonic-response"];
        assert_eq!(s["status"], "failed");
        assert_eq!(s["error"]["code"], 40);
        assert_eq!(s["openSubsonic"], true);
        assert_eq!(s["version"], API_VERSION);
        let x = ok(None, &Format::Xml);
        let text = String::from_utf8(x.body.to_vec()).unwrap();
        assert!(
            text.contains("status=\"ok\"")
                && text.contains("xmlns=\"http://subsonic.org/restapi\"")
        );
    }

    #[test]
    fn a_jsonp_callback_must_be_a_plain_name() {
        assert_eq!(
            Format::of(Some("jsonp"), Some("cb_1")),
            Format::Jsonp("cb_1".into())
        );
        assert_eq!(Format::of(Some("jsonp"), Some("alert(1)//")), Format::Json);
        assert_eq!(Format::of(Some("yaml"), None), Format::Xml);
        for bad in ["1abc", "function", "a.b", "", "a-b", "é"] {
            assert_eq!(Format::of(Some("jsonp"), Some(bad)), Format::Json, "{bad}");
        }
    }
}
