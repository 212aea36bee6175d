//! S3's XML: a small writer for responses and a reader for the flat request documents S3
//! takes (CreateBucketConfiguration, VersioningConfiguration, Tagging,
//! CompleteMultipartUpload, Delete).

use chrono::{DateTime, Utc};
use kumo_common::xml::escape;

pub const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document element by element.
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// A document whose root element carries S3's namespace.
    pub fn new(root: &str) -> Self {
        Self {
            out: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{NAMESPACE}\">"
            ),
        }
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Append markup as is (callers pass constant, well-formed text).
    pub fn raw(&mut self, markup: &str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.open(name);
        self.out.push_str(&escape(value));
        self.close(name)
    }

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

    pub fn time(&mut self, name: &str, value: DateTime<Utc>) -> &mut Self {
        self.text(name, &iso8601(value))
    }

    /// `<Owner><ID/><DisplayName/></Owner>` for an account.
    pub fn owner(&mut self, name: &str, account_id: &str) -> &mut Self {
        self.open(name)
            .text("ID", &canonical_user_id(account_id))
            .text("DisplayName", account_id)
            .close(name)
    }

    pub fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

/// S3's timestamp in listings: `2009-10-12T17:50:30.000Z`.
pub fn iso8601(value: DateTime<Utc>) -> String {
    value.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// HTTP date for `Last-Modified`: `Wed, 12 Oct 2009 17:50:00 GMT`.
pub fn http_date(value: DateTime<Utc>) -> String {
    value.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// S3's 64-hex canonical user id; ours is derived from the account id.
pub fn canonical_user_id(account_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        format!("kumo-account:{account_id}").as_bytes(),
    ))
}

/// The inner text of every `<name>…</name>` element (attributes allowed), in order. Enough
/// for S3's flat request documents; nested same-name elements are not supported.
pub fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let open_plain = format!("<{name}>");
    let open_attr = format!("<{name} ");
    let close = format!("</{name}>");
    let mut rest = xml;
    loop {
        let start = match (rest.find(&open_plain), rest.find(&open_attr)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        let Some(tag_end) = rest[start..].find('>') else {
            break;
        };
        let body_start = start + tag_end + 1;
        if rest[start..body_start].ends_with("/>") {
            found.push("");
            rest = &rest[body_start..];
            continue;
        }
        let Some(end) = rest[body_start..].find(&close) else {
            break;
        };
        found.push(&rest[body_start..body_start + end]);
        rest = &rest[body_start + end + close.len()..];
    }
    found
}

/// The unescaped text of the first `<name>` element.
pub fn first_text(xml: &str, name: &str) -> Option<String> {
    elements(xml, name).first().map(|t| unescape(t.trim()))
}

pub fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else {
            break;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") => u32::from_str_radix(&entity[2..], 16)
                .ok()
                .and_then(char::from_u32),
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `<Tagging><TagSet><Tag><Key/><Value/></Tag>…` → pairs.
pub fn parse_tagging(xml: &str) -> Vec<(String, String)> {
    elements(xml, "Tag")
        .into_iter()
        .map(|tag| {
            (
                first_text(tag, "Key").unwrap_or_default(),
                first_text(tag, "Value").unwrap_or_default(),
            )
        })
        .collect()
}

pub fn write_tagging(tags: &[(String, String)]) -> String {
    let mut w = XmlWriter::new("Tagging");
    w.open("TagSet");
    for (k, v) in tags {
        w.open("Tag").text("Key", k).text("Value", v).close("Tag");
    }
    w.close("TagSet");
    w.finish("Tagging")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_flat_documents() {
        let xml = r#"<?xml version="1.0"?><CompleteMultipartUpload xmlns="x"><Part><ETag>"a&amp;b"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>c</ETag></Part></CompleteMultipartUpload>"#;
        let parts = elements(xml, "Part");
        assert_eq!(parts.len(), 2);
        assert_eq!(first_text(parts[0], "ETag").unwrap(), "\"a&b\"");
        assert_eq!(first_text(parts[1], "PartNumber").unwrap(), "2");
        let tags = parse_tagging("<Tagging><TagSet><Tag><Key>k</Key><Value></Value></Tag><Tag><Key>x</Key><Value>&lt;y&gt;</Value></Tag></TagSet></Tagging>");
        assert_eq!(
            tags,
            vec![("k".into(), "".into()), ("x".into(), "<y>".into())]
        );
        assert_eq!(elements("<A><B/><B>t</B></A>", "B"), vec!["", "t"]);
    }

    #[test]
    fn writes_namespaced_documents() {
        let mut w = XmlWriter::new("Root");
        w.text("Name", "a<b").bool("Flag", true);
        let doc = w.finish("Root");
        assert!(doc.contains(r#"<Root xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>a&lt;b</Name><Flag>true</Flag></Root>"#));
    }
}
