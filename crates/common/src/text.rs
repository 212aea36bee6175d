//! Text every Kumo edge refuses: what neither XML 1.0 nor Postgres `text` can hold, so it
//! can never reach the catalog or break a response for a whole account later.
//!
//! Refused: NUL (Postgres cannot store it), the other C0 controls except TAB, LF and CR,
//! DEL and the C1 controls, and the non-characters U+FFFE/U+FFFF (XML 1.0 cannot carry
//! them, even as character references). Invalid UTF-8 is refused by [`check_bytes`]:
//! nothing is ever decoded lossily, so two different byte strings never become one name.

use std::fmt;

/// Why a piece of text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// A NUL character (`\0`).
    Nul,
    /// A control or non-character code point that XML 1.0 cannot hold.
    Control(char),
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// Longer than the limit (in characters).
    TooLong { max: usize },
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextProblem::Nul => f.write_str("contains a NUL character"),
            TextProblem::Control(c) => {
                write!(f, "contains the control character U+{:04X}", *c as u32)
            }
            TextProblem::InvalidUtf8 => f.write_str("is not valid UTF-8"),
            TextProblem::TooLong { max } => write!(f, "is longer than {max} characters"),
        }
    }
}

impl std::error::Error for TextProblem {}

/// May `c` appear in text Kumo stores and renders?
pub fn is_allowed_char(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// Refuse NUL, controls (other than TAB/LF/CR) and U+FFFE/U+FFFF.
pub fn check(value: &str) -> Result<(), TextProblem> {
    // Fast path: printable ASCII is by far the common case.
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Ok(());
    }
    match value.chars().find(|&c| !is_allowed_char(c)) {
        None => Ok(()),
        Some('\0') => Err(TextProblem::Nul),
        Some(c) => Err(TextProblem::Control(c)),
    }
}

/// [`check`], and at most `max` characters.
pub fn check_len(value: &str, max: usize) -> Result<(), TextProblem> {
    check(value)?;
    // Byte length bounds the character count from above: skip the count when it is short.
    if value.len() > max && value.chars().count() > max {
        return Err(TextProblem::TooLong { max });
    }
    Ok(())
}

/// [`check_len`] for a named request parameter, with the message every AWS facade sends
/// (`Value for parameter {field} …`).
pub fn check_parameter(field: &str, value: &str, max: usize) -> Result<(), String> {
    check_len(value, max).map_err(|problem| match problem {
        TextProblem::TooLong { max } => {
            format!("Value for parameter {field} is too long: at most {max} characters")
        }
        other => format!("Value for parameter {field} {other}"),
    })
}

/// Strict UTF-8, then [`check`].
pub fn check_bytes(bytes: &[u8]) -> Result<&str, TextProblem> {
    let text = std::str::from_utf8(bytes).map_err(|_| TextProblem::InvalidUtf8)?;
    check(text)?;
    Ok(text)
}

/// Percent-decode strictly: the decoded bytes must be UTF-8 (a stray `%` stays literal);
/// with `plus_as_space`, `+` is a space as in `application/x-www-form-urlencoded`. Only
/// the encoding is checked here: callers apply [`check`] or their own rules.
pub fn percent_decode(raw: &[u8], plus_as_space: bool) -> Result<String, TextProblem> {
    let bytes: Vec<u8> = if plus_as_space && raw.contains(&b'+') {
        let spaced: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced).collect()
    } else {
        percent_encoding::percent_decode(raw).collect()
    };
    String::from_utf8(bytes).map_err(|_| TextProblem::InvalidUtf8)
}

/// A form pair [`form_pairs`] refused: which part, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormProblem {
    /// The pair's decoded name, when the value was the refused part.
    pub name: Option<String>,
    pub problem: TextProblem,
}

/// The `name=value` pairs of an `application/x-www-form-urlencoded` string (a URL query,
/// a form body, S3's `x-amz-tagging`), each part decoded with [`percent_decode`] and
/// passed through [`check`].
pub fn form_pairs(raw: &[u8]) -> impl Iterator<Item = Result<(String, String), FormProblem>> + '_ {
    decode_form(raw).map(|pair| {
        let (name, value) = pair?;
        check(&name).map_err(|problem| FormProblem {
            name: None,
            problem,
        })?;
        check(&value).map_err(|problem| FormProblem {
            name: Some(name.clone()),
            problem,
        })?;
        Ok((name, value))
    })
}

/// [`form_pairs`] with only the encoding checked, for callers whose own rules refuse
/// characters with their own error (S3's tags).
pub fn decode_form(raw: &[u8]) -> impl Iterator<Item = Result<(String, String), FormProblem>> + '_ {
    raw.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (raw_name, raw_value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let name = percent_decode(raw_name, true).map_err(|problem| FormProblem {
                name: None,
                problem,
            })?;
            let value = percent_decode(raw_value, true).map_err(|problem| FormProblem {
                name: Some(name.clone()),
                problem,
            })?;
            Ok((name, value))
        })
}

/// The first string in a JSON value (keys included) that [`check`] refuses, with a
/// JSON-pointer-like path to it; recursion is bounded by serde_json's own depth limit.
pub fn check_json(value: &serde_json::Value) -> Result<(), (String, TextProblem)> {
    fn walk(value: &serde_json::Value, path: &mut String) -> Result<(), (String, TextProblem)> {
        match value {
            serde_json::Value::String(s) => check(s).map_err(|p| (path.clone(), p)),
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    let len = path.len();
                    check(key).map_err(|p| (format!("{path}/<key>"), p))?;
                    path.push('/');
                    path.push_str(key);
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    let mut path = String::new();
    walk(value, &mut path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_what_xml_and_postgres_cannot_hold() {
        assert_eq!(check("plain text"), Ok(()));
        assert_eq!(check("tab\tnew\nline\r"), Ok(()));
        assert_eq!(check("日本語 ✓"), Ok(()));
        assert_eq!(check("a\0b"), Err(TextProblem::Nul));
        assert_eq!(check("a\u{1}b"), Err(TextProblem::Control('\u{1}')));
        assert_eq!(check("\u{7f}"), Err(TextProblem::Control('\u{7f}')));
        assert_eq!(check("\u{85}"), Err(TextProblem::Control('\u{85}')));
        assert_eq!(check("\u{ffff}"), Err(TextProblem::Control('\u{ffff}')));
        assert_eq!(check_bytes(b"lossy\xffkey"), Err(TextProblem::InvalidUtf8));
        assert_eq!(check_bytes(b"fine"), Ok("fine"));
        assert_eq!(check_len("abc", 3), Ok(()));
        assert_eq!(check_len("abcd", 3), Err(TextProblem::TooLong { max: 3 }));
        assert_eq!(check_len("ééé", 3), Ok(()));
        assert_eq!(TextProblem::Nul.to_string(), "contains a NUL character");
    }

    #[test]
    fn strict_form_decoding() {
        let pairs: Vec<_> = form_pairs(b"a=1+2%2B3&&b&c=").collect();
        assert_eq!(
            pairs,
            vec![
                Ok(("a".into(), "1 2+3".into())),
                Ok(("b".into(), String::new())),
                Ok(("c".into(), String::new()))
            ]
        );
        assert_eq!(percent_decode(b"100%&%zz+", false).unwrap(), "100%&%zz+");
        assert_eq!(
            percent_decode(b"lossy%FFkey", false),
            Err(TextProblem::InvalidUtf8)
        );
        let bad: Vec<_> = form_pairs(b"k=a%00b").collect();
        assert_eq!(
            bad,
            vec![Err(FormProblem {
                name: Some("k".into()),
                problem: TextProblem::Nul
            })]
        );
    }

    #[test]
    fn json_walk_names_the_field() {
        let v: serde_json::Value = serde_json::from_str(r#"{"a":{"b":["ok","x\u0000"]}}"#).unwrap();
        let (path, problem) = check_json(&v).unwrap_err();
        assert_eq!(path, "/a/b/1");
        assert_eq!(problem, TextProblem::Nul);
        let v: serde_json::Value = serde_json::from_str(r#"{"k\u0001":1}"#).unwrap();
        assert!(check_json(&v).is_err());
        let v: serde_json::Value = serde_json::from_str(r#"{"k":[1,true,null,"s"]}"#).unwrap();
        assert!(check_json(&v).is_ok());
    }
}
