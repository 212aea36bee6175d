//! Minimal XML writing for AWS responses: escaping and element helpers.

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

/// `<name>escaped text</name>`
pub fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

pub const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(element("Code", "x&y"), "<Code>x&amp;y</Code>");
    }

    #[test]
    fn never_ill_formed() {
        assert_eq!(escape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
        assert_eq!(escape("a\u{1}b\0c\u{ffff}"), "a\u{fffd}b\u{fffd}c\u{fffd}");
        assert_eq!(escape("日本"), "日本");
    }
}
