//! A Subsonic response as a tree, written as XML (the default) or as JSON (`f=json`)
//! with the shapes Subsonic servers use: attributes become fields with their JSON
//! types, a repeated child becomes an array under its element name (always an array,
//! even of one), a single child an object, text content `value`.

use serde_json::{Map, Value as Json};

/// An attribute's value: typed, because JSON clients read numbers and booleans as such.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Float(f64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl Value {
    fn write_xml(&self, out: &mut String) {
        match self {
            Value::Str(s) => escape(s, out),
            Value::Int(n) => out.push_str(itoa::Buffer::new().format(*n)),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Float(x) => out.push_str(&x.to_string()),
        }
    }

    fn to_json(&self) -> Json {
        match self {
            Value::Str(s) => Json::String(s.clone()),
            Value::Int(n) => Json::from(*n),
            Value::Bool(b) => Json::Bool(*b),
            Value::Float(x) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
        }
    }
}

/// A child: one element, or a list of same-named ones (an array in JSON).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Child {
    One(Element),
    List(&'static str, Vec<Element>),
    /// Same-named elements holding only a value (`<folder>1</folder>`): an array of
    /// plain values in JSON (`"folder": [1]`).
    Values(&'static str, Vec<Value>),
}

/// One element: name, attributes in order, children, optional text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Element {
    pub name: &'static str,
    pub attrs: Vec<(&'static str, Value)>,
    pub children: Vec<Child>,
    pub text: Option<String>,
}

impl Element {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
            text: None,
        }
    }

    /// The same element under another name.
    pub(crate) fn rename(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Adds an attribute.
    pub(crate) fn attr(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }

    /// Adds an attribute when there is a value.
    pub(crate) fn opt<V: Into<Value>>(self, name: &'static str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    pub(crate) fn child(mut self, child: Element) -> Self {
        self.children.push(Child::One(child));
        self
    }

    /// Adds a list of `name` children (an array in JSON even when it holds one).
    pub(crate) fn list(mut self, name: &'static str, items: Vec<Element>) -> Self {
        self.children.push(Child::List(name, items));
        self
    }

    /// Adds a list of `name` elements holding only values.
    pub(crate) fn values(mut self, name: &'static str, items: Vec<Value>) -> Self {
        self.children.push(Child::Values(name, items));
        self
    }

    pub(crate) fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The element as XML (no declaration).
    pub(crate) fn write_xml(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            value.write_xml(out);
            out.push('"');
        }
        let empty = self.text.is_none()
            && self.children.iter().all(|c| match c {
                Child::One(_) => false,
                Child::List(_, v) => v.is_empty(),
                Child::Values(_, v) => v.is_empty(),
            });
        if empty {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(t) = &self.text {
            escape(t, out);
        }
        for child in &self.children {
            match child {
                Child::One(e) => e.write_xml(out),
                Child::List(_, items) => items.iter().for_each(|e| e.write_xml(out)),
                Child::Values(name, items) => {
                    for v in items {
                        out.push('<');
                        out.push_str(name);
                        out.push('>');
                        v.write_xml(out);
                        out.push_str("</");
                        out.push_str(name);
                        out.push('>');
                    }
                }
            }
        }
        out.push_str("</");
        out.push_str(self.name);
        out.push('>');
    }

    /// The element's content as a JSON object (its name is the key it sits under).
    pub(crate) fn to_json(&self) -> Json {
        let mut map = Map::new();
        for (name, value) in &self.attrs {
            map.insert((*name).to_string(), value.to_json());
        }
        if let Some(t) = &self.text {
            map.insert("value".into(), Json::String(t.clone()));
        }
        for child in &self.children {
            match child {
                Child::One(e) => {
                    map.insert(e.name.to_string(), e.to_json());
                }
                Child::List(name, items) => {
                    map.insert(
                        (*name).to_string(),
                        Json::Array(items.iter().map(Element::to_json).collect()),
                    );
                }
                Child::Values(name, items) => {
                    map.insert(
                        (*name).to_string(),
                        Json::Array(items.iter().map(Value::to_json).collect()),
                    );
                }
            }
        }
        Json::Object(map)
    }
}

/// XML-escapes `s` into `out`; characters XML 1.0 cannot carry at all (controls but
/// tab, newline, carriage return) become U+FFFD, so a tag read from a file never makes
/// the document unreadable.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Element {
        Element::new("artists")
            .attr("ignoredArticles", "The")
            .list(
                "index",
                vec![Element::new("index").attr("name", "A").list(
                    "artist",
                    vec![Element::new("artist")
                        .attr("id", "ar-1")
                        .attr("name", "A & <B> \"q\" \u{1}")
                        .attr("albumCount", 2i64)
                        .attr("starred", true)],
                )],
            )
            .list("empty", vec![])
    }

    #[test]
    fn xml_escapes_every_special_character_and_drops_controls() {
        let mut out = String::new();
        sample().write_xml(&mut out);
        assert_eq!(
            out,
            "<artists ignoredArticles=\"The\"><index name=\"A\"><artist id=\"ar-1\" \
             name=\"A &amp; &lt;B&gt; &quot;q&quot; \u{FFFD}\" albumCount=\"2\" starred=\"true\"/>\
             </index></artists>"
        );
    }

    #[test]
    fn json_keeps_types_and_makes_lists_arrays_even_of_one() {
        let j = sample().to_json();
        assert_eq!(j["ignoredArticles"], "The");
        let artist = &j["index"][0]["artist"][0];
        assert_eq!(artist["albumCount"], 2);
        assert_eq!(artist["starred"], true);
        assert_eq!(j["empty"], serde_json::json!([]));
        let lyrics = Element::new("lyrics")
            .attr("artist", "x")
            .text("la la")
            .to_json();
        assert_eq!(lyrics["value"], "la la");
        let user = Element::new("user").values("folder", vec![1i64.into()]);
        assert_eq!(user.to_json()["folder"], serde_json::json!([1]));
        let mut xml = String::new();
        user.write_xml(&mut xml);
        assert_eq!(xml, "<user><folder>1</folder></user>");
    }
}
