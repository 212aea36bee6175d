//! S3's XML: responses are written with the shared `kumo_common::xml::XmlWriter` (the
//! root in S3's namespace, [`document`]); requests' flat documents
//! (CreateBucketConfiguration, VersioningConfiguration, Tagging, CompleteMultipartUpload,
//! Delete) are read here.

use chrono::{DateTime, Utc};
pub use kumo_common::xml::XmlWriter;

pub const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A response document whose root element carries S3's namespace.
pub fn document(root: &str) -> XmlWriter {
    XmlWriter::document(root, Some(NAMESPACE))
}

/// What S3 documents write in many places.
pub trait S3Xml {
    /// `<name><ID/><DisplayName/></name>` for an account (`Owner`, `Initiator`).
    fn owner(&mut self, name: &str, account_id: &str) -> &mut Self;
}

impl S3Xml for XmlWriter {
    fn owner(&mut self, name: &str, account_id: &str) -> &mut Self {
        self.element(name, |xml| {
            xml.text("ID", &canonical_user_id(account_id))
                .text("DisplayName", account_id);
        })
    }
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
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut rest = xml;
    // One search for `<name`, then a look at what follows it: linear in the document.
    // (Three searches, for `<name>`, `<name ` and `<name/>`, each ran to the end of the
    // document whenever its form was absent: quadratic, 45 s for a 1 MiB Delete body.)
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        if !(after.starts_with('>') || after.starts_with(' ') || after.starts_with("/>")) {
            rest = after;
            continue;
        }
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

/// The text of the first `<name>` element, exactly as sent (references resolved, CDATA
/// sections unwrapped, nothing trimmed): for data such as keys, tag keys and values, whose
/// spaces are part of them.
pub fn first_text(xml: &str, name: &str) -> Option<String> {
    elements(xml, name).first().map(|t| text_content(t))
}

/// The text of the first `<name>` element without surrounding whitespace: for tokens
/// (numbers, `Enabled`, `true`, ETags) that pretty-printed documents may indent.
pub fn first_token(xml: &str, name: &str) -> Option<String> {
    elements(xml, name)
        .first()
        .map(|t| text_content(t).trim().to_string())
}

/// Character data of an element's inner text: references resolved outside CDATA sections,
/// CDATA content taken as is.
pub fn text_content(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(start) = rest.find("<![CDATA[") {
        out.push_str(&unescape(&rest[..start]));
        let after = &rest[start + 9..];
        match after.find("]]>") {
            Some(end) => {
                out.push_str(&after[..end]);
                rest = &after[end + 3..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(&unescape(rest));
    out
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

/// XML 1.0's `Char`: what a document may hold, raw or as a character reference (`&#0;` is
/// not well-formed).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Is `xml` a well-formed document whose root element is `root` (namespace prefix aside)?
/// Checks what a flat request document needs before [`elements`] reads it: every tag closes
/// in order, entities are known, attributes are quoted, and nothing but comments, processing
/// instructions and whitespace surrounds the root. (No DTDs: S3 refuses them too.)
pub fn well_formed(xml: &str, root: &str) -> bool {
    if !xml.chars().all(xml_char) {
        return false;
    }
    let mut open: Vec<&str> = Vec::new();
    let mut seen_root = false;
    let mut rest = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    loop {
        let text_end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..text_end];
        // Outside the root only whitespace; inside, text with valid entities.
        if open.is_empty() && !text.trim().is_empty() {
            return false;
        }
        if !entities_valid(text) {
            return false;
        }
        rest = &rest[text_end..];
        if rest.is_empty() {
            return seen_root && open.is_empty();
        }
        if let Some(after) = rest.strip_prefix("<!--") {
            let Some(end) = after.find("-->") else {
                return false;
            };
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let Some(end) = after.find("]]>") else {
                return false;
            };
            if open.is_empty() {
                return false;
            }
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<?") {
            let Some(end) = after.find("?>") else {
                return false;
            };
            rest = &after[end + 2..];
        } else if rest.starts_with("<!") {
            return false;
        } else if let Some(after) = rest.strip_prefix("</") {
            let Some(end) = after.find('>') else {
                return false;
            };
            let name = after[..end].trim_end();
            if open.pop() != Some(name) {
                return false;
            }
            rest = &after[end + 1..];
        } else {
            let after = &rest[1..];
            let name_end = after
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(after.len());
            let name = &after[..name_end];
            if !valid_name(name) {
                return false;
            }
            let Some((self_closing, consumed)) = tag_rest(&after[name_end..]) else {
                return false;
            };
            if open.is_empty() {
                if seen_root {
                    return false;
                }
                seen_root = true;
                let local = name.rsplit(':').next().unwrap_or(name);
                if local != root {
                    return false;
                }
            }
            if !self_closing {
                open.push(name);
            }
            rest = &after[name_end + consumed..];
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

/// The attributes and end of a start tag (after its name): `(self-closing, bytes consumed)`.
fn tag_rest(text: &str) -> Option<(bool, usize)> {
    let mut i = 0;
    let bytes = text.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => return Some((false, i + 1)),
            b'/' => return (bytes.get(i + 1) == Some(&b'>')).then_some((true, i + 2)),
            _ => {
                // name="value" or name='value'
                let eq = i + text[i..].find('=')?;
                if !valid_name(text[i..eq].trim_end()) {
                    return None;
                }
                let mut j = eq + 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                let quote = *bytes.get(j)?;
                if quote != b'"' && quote != b'\'' {
                    return None;
                }
                let close = j + 1 + text[j + 1..].find(quote as char)?;
                let value = &text[j + 1..close];
                if value.contains('<') || !entities_valid(value) {
                    return None;
                }
                i = close + 1;
                if !matches!(bytes.get(i), Some(b) if b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
                {
                    return None;
                }
            }
        }
    }
}

/// Every `&` starts a known entity or a character reference.
fn entities_valid(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        rest = &rest[at + 1..];
        let Some(end) = rest.find(';') else {
            return false;
        };
        let entity = &rest[..end];
        let known = match entity {
            "amp" | "lt" | "gt" | "quot" | "apos" => true,
            _ if entity.starts_with("#x") => u32::from_str_radix(&entity[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .is_some_and(xml_char),
            _ if entity.starts_with('#') => entity[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .is_some_and(xml_char),
            _ => false,
        };
        if !known {
            return false;
        }
        rest = &rest[end + 1..];
    }
    true
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
    let mut w = document("Tagging");
    w.list("TagSet", "Tag", tags, |w, (k, v)| {
        w.text("Key", k).text("Value", v);
    });
    w.finish()
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
        assert_eq!(
            elements("<A><BC>x</BC><B a='1'>t</B><BB/><B/></A>", "B"),
            vec!["t", ""]
        );
    }

    #[test]
    fn well_formed_documents() {
        let good = [
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a&amp;b</Key><Value/></Tag></TagSet></Tagging>"#,
            "<Tagging><TagSet></TagSet></Tagging>\n",
            "<!-- c --><s3:Tagging xmlns:s3='x'><s3:TagSet /></s3:Tagging>",
            "<Tagging><TagSet><Tag><Key><![CDATA[<k>]]></Key><Value>&#x263A;&#9731;</Value></Tag></TagSet></Tagging>",
        ];
        for doc in good {
            assert!(well_formed(doc, "Tagging"), "{doc}");
        }
        let bad = [
            "",
            "not xml",
            "<Tagging>",
            "<Tagging><TagSet><Tag><Key>a</Key>",
            "<Tagging><TagSet></Tagging></TagSet>",
            "<Tagging></Tagging><Tagging></Tagging>",
            "<Tagging></Tagging>trailing",
            "<Tagging>&bogus;</Tagging>",
            "<Tagging>a & b</Tagging>",
            "<Tagging a=b></Tagging>",
            "<Tagging a=\"b></Tagging>",
            "<Other></Other>",
            "<!DOCTYPE x><Tagging></Tagging>",
            "{}",
            "<Tagging><1a></1a></Tagging>",
        ];
        for doc in bad {
            assert!(!well_formed(doc, "Tagging"), "{doc}");
        }
    }

    #[test]
    fn data_is_never_trimmed() {
        let doc = "<Delete><Object><Key> </Key></Object><Object><Key>x </Key></Object><Object><Key> y</Key><VersionId>v</VersionId></Object><Quiet>\n true </Quiet></Delete>";
        assert!(well_formed(doc, "Delete"));
        let keys: Vec<String> = elements(doc, "Object")
            .into_iter()
            .map(|o| first_text(o, "Key").unwrap())
            .collect();
        assert_eq!(keys, vec![" ", "x ", " y"]);
        assert_eq!(first_token(doc, "Quiet").as_deref(), Some("true"));
        assert_eq!(text_content("a&amp;<![CDATA[<b>&amp;]]>c"), "a&<b>&amp;c");
        let tags = parse_tagging(
            "<Tagging><TagSet><Tag><Key> k </Key><Value> v </Value></Tag></TagSet></Tagging>",
        );
        assert_eq!(tags, vec![(" k ".into(), " v ".into())]);
    }

    #[test]
    fn characters_xml_cannot_hold_are_not_well_formed() {
        for doc in [
            "<Tagging>&#0;</Tagging>",
            "<Tagging>&#x0;</Tagging>",
            "<Tagging>&#x1;</Tagging>",
            "<Tagging>&#xFFFE;</Tagging>",
            "<Tagging>a\u{0}b</Tagging>",
            "<Tagging>a\u{1}b</Tagging>",
            "<Tagging a='&#0;'></Tagging>",
        ] {
            assert!(!well_formed(doc, "Tagging"), "{doc:?}");
        }
        assert!(well_formed("<Tagging>&#9;&#xA;\t</Tagging>", "Tagging"));
    }

    #[test]
    fn writes_namespaced_documents() {
        let mut w = document("Root");
        w.text("Name", "a<b")
            .bool("Flag", true)
            .owner("Owner", "123");
        let doc = w.finish();
        assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>a&lt;b</Name><Flag>true</Flag><Owner><ID>"));
        assert!(doc.ends_with("</ID><DisplayName>123</DisplayName></Owner></Root>"));
        assert_eq!(
            write_tagging(&[("k".into(), "v&".into())]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>k</Key><Value>v&amp;</Value></Tag></TagSet></Tagging>"
        );
    }
}
