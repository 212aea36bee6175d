//! XML for AWS responses: escaping, and the one writer every facade uses.

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

/// Escape text for use inside an XML element or attribute. The result is always
/// well-formed: TAB, LF and CR become character references (so parsers keep them, as
/// S3 does with `&#13;`), and anything XML 1.0 cannot carry at all (other controls,
/// U+FFFE/U+FFFF) becomes U+FFFD. The edges refuse such text before it is stored (see
/// [`crate::text`]); this is the last line of defence for text that came from elsewhere.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if !crate::text::is_allowed_char(c) => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
    out
}

pub const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Builds an AWS response document element by element, on quick-xml.
///
/// Every facade (EC2, IAM/STS, S3) writes through this one type, so escaping and
/// nesting are handled once: text always goes through [`escape`], and elements close in
/// order (`close` takes no name, `finish` closes whatever is still open).
pub struct XmlWriter {
    writer: quick_xml::Writer<Vec<u8>>,
    open: Vec<String>,
}

impl XmlWriter {
    /// A document: the XML declaration, then `<root xmlns="namespace">`.
    pub fn document(root: &str, namespace: Option<&str>) -> Self {
        let mut xml = Self::fragment();
        xml.writer
            .get_mut()
            .extend_from_slice(XML_DECLARATION.as_bytes());
        let mut start = BytesStart::new(root);
        if let Some(namespace) = namespace {
            start.push_attribute(("xmlns", namespace));
        }
        xml.event(Event::Start(start));
        xml.open.push(root.to_owned());
        xml
    }

    /// A piece of a document (no declaration, no root), for parts built separately.
    pub fn fragment() -> Self {
        Self {
            writer: quick_xml::Writer::new(Vec::new()),
            open: Vec::new(),
        }
    }

    fn event(&mut self, event: Event<'_>) {
        // Writing into a Vec cannot fail.
        let _ = self.writer.write_event(event);
    }

    /// Open `<name>`; the matching [`close`](Self::close) ends it.
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.open_with(name, &[])
    }

    /// Open `<name key="value" …>` (S3's `Grantee` carries an `xsi:type`).
    pub fn open_with(&mut self, name: &str, attributes: &[(&str, &str)]) -> &mut Self {
        let start = BytesStart::new(name).with_attributes(attributes.iter().copied());
        self.event(Event::Start(start));
        self.open.push(name.to_owned());
        self
    }

    /// Escaped character data inside the innermost open element (S3's
    /// `<LocationConstraint>` holds its region as the root's text).
    pub fn content(&mut self, value: &str) -> &mut Self {
        self.event(Event::Text(BytesText::from_escaped(escape(value))));
        self
    }

    /// Close the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.event(Event::End(BytesEnd::new(name)));
        }
        self
    }

    /// `<name>…</name>` around whatever `body` writes.
    pub fn element(&mut self, name: &str, body: impl FnOnce(&mut Self)) -> &mut Self {
        self.open(name);
        body(self);
        self.close()
    }

    /// `<name>` holding one `<item_name>` per item (EC2 writes sets as `<xSet><item>`).
    pub fn list<T>(
        &mut self,
        name: &str,
        item_name: &str,
        items: impl IntoIterator<Item = T>,
        mut body: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.open(name);
        for item in items {
            self.open(item_name);
            body(self, item);
            self.close();
        }
        self.close()
    }

    /// `<name>escaped text</name>`.
    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.event(Event::Start(BytesStart::new(name)));
        self.event(Event::Text(BytesText::from_escaped(escape(value))));
        self.event(Event::End(BytesEnd::new(name)));
        self
    }

    /// `<name>` only when there is a value.
    pub fn opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.text(name, value);
        }
        self
    }

    pub fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.text(name, if value { "true" } else { "false" })
    }

    pub fn num(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.text(name, &value.to_string())
    }

    /// An AWS timestamp: `2009-10-12T17:50:30.000Z`.
    pub fn time(&mut self, name: &str, value: DateTime<Utc>) -> &mut Self {
        self.text(name, &iso8601(value))
    }

    /// An empty element `<name/>`.
    pub fn empty(&mut self, name: &str) -> &mut Self {
        self.event(Event::Empty(BytesStart::new(name)));
        self
    }

    /// Append a fragment built by another writer.
    pub fn fragment_of(&mut self, part: XmlWriter) -> &mut Self {
        self.finished_fragment(&part.finish())
    }

    /// Append the text of a fragment another writer already finished (for callers that
    /// hand fragments around as strings); never for text from elsewhere, which goes
    /// through [`text`](Self::text).
    pub fn finished_fragment(&mut self, xml: &str) -> &mut Self {
        self.writer.get_mut().extend_from_slice(xml.as_bytes());
        self
    }

    /// Close everything still open and return the text.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        // Only `escape`d text and element names we chose went in: valid UTF-8.
        String::from_utf8(self.writer.into_inner())
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// AWS's timestamp in XML bodies: `2009-10-12T17:50:30.000Z`.
pub fn iso8601(value: DateTime<Utc>) -> String {
    value.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_documents() {
        let mut xml = XmlWriter::document("ListResult", Some("urn:x"));
        xml.text("Name", "a&b")
            .opt("Missing", None)
            .bool("Truncated", false);
        xml.list("tagSet", "item", [("k", "v")], |xml, (k, v)| {
            xml.text("key", k).text("value", v);
        });
        xml.element("Owner", |xml| {
            xml.num("ID", 7);
        });
        xml.open_with("Left", &[("a", "1")])
            .empty("Nothing")
            .content("x<");
        assert_eq!(
            xml.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListResult xmlns=\"urn:x\">\
             <Name>a&amp;b</Name><Truncated>false</Truncated>\
             <tagSet><item><key>k</key><value>v</value></item></tagSet>\
             <Owner><ID>7</ID></Owner><Left a=\"1\"><Nothing/>x&lt;</Left></ListResult>"
        );
        let mut part = XmlWriter::fragment();
        part.text("a", "\u{1}");
        let mut whole = XmlWriter::document("r", None);
        whole.fragment_of(part);
        assert_eq!(
            whole.finish(),
            format!("{XML_DECLARATION}<r><a>\u{fffd}</a></r>")
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("x&y"), "x&amp;y");
    }

    #[test]
    fn never_ill_formed() {
        assert_eq!(escape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
        assert_eq!(escape("a\u{1}b\0c\u{ffff}"), "a\u{fffd}b\u{fffd}c\u{fffd}");
        assert_eq!(escape("日本"), "日本");
    }
}
