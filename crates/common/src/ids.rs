//! Identifiers that look like AWS's: random, never sequential.

use rand::Rng;

const BASE32_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `prefix-` followed by 17 lowercase hex digits, like `i-0123456789abcdef0`.
pub fn resource_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let digits: String = (0..17)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect();
    format!("{prefix}-{digits}")
}

/// `prefix` followed by `len` characters of upper-case base32, like `AKIA…` / `AIDA…`.
pub fn upper_base32_id(prefix: &str, len: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    for _ in 0..len {
        id.push(BASE32_UPPER[rng.gen_range(0..BASE32_UPPER.len())] as char);
    }
    id
}

/// A random secret of `len` characters from `[A-Za-z0-9]`.
pub fn secret_string(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHANUMERIC[rng.gen_range(0..ALPHANUMERIC.len())] as char)
        .collect()
}

/// A 12-digit account id that never starts with 0.
pub fn account_id() -> String {
    let mut rng = rand::thread_rng();
    let first = rng.gen_range(1..10u32);
    let rest: String = (0..11)
        .map(|_| char::from_digit(rng.gen_range(0..10), 10).unwrap_or('0'))
        .collect();
    format!("{first}{rest}")
}

/// Is this a well-formed 12-digit account id?
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = resource_id("i");
        assert_eq!(id.len(), 19);
        assert!(id.starts_with("i-"));
        let key = upper_base32_id("AKIA", 16);
        assert_eq!(key.len(), 20);
        assert!(is_account_id(&account_id()));
        assert!(!is_account_id("12345"));
        assert_eq!(secret_string(40).len(), 40);
    }
}
