#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn an_account_runs_few_wildcard_evaluations_at_once() {
    let first = AccountSlot::take("111111111111").unwrap();
    let _second = AccountSlot::take("111111111111").unwrap();
    let third = AccountSlot::take("111111111111").err().unwrap();
    assert!(matches!(third, DescribeError::Throttled(_)));
    // Another account is not held up.
    let _other = AccountSlot::take("222222222222").unwrap();
    drop(first);
    let _again = AccountSlot::take("111111111111").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliced_evaluation_keeps_every_match_in_order() {
    let filters = Arc::new(
        compile(&[Filter {
            name: "n".into(),
            values: vec!["*7*".into()],
        }])
        .unwrap(),
    );
    let items: Vec<String> = (0..20_000).map(|n| n.to_string()).collect();
    let expected: Vec<String> = items.iter().filter(|s| s.contains('7')).cloned().collect();
    let kept = select("333333333333", items, filters, |item: &String, f| {
        f.iter().all(|c| c.values.matches(item))
    })
    .await
    .unwrap();
    assert_eq!(kept, expected);
}

fn m(pattern: &str, text: &str) -> bool {
    Wildcard::new(pattern).matches(text)
}

/// The reference: plain dynamic programming.
fn reference(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = row[j - 1] && (pc == '?' || pc == t[j - 1]);
            }
        }
        row = next;
    }
    row[t.len()]
}

#[test]
fn wildcards() {
    assert!(m("web-*", "web-1"));
    assert!(m("*", ""));
    assert!(m("a?c", "abc"));
    assert!(m("*b*d", "abcbd"));
    assert!(!m("a?c", "ac"));
    assert!(!m("web", "web-1"));
    assert!(m("", ""));
    assert!(!m("", "a"));
    assert!(m("é?*", "éü"));
    assert!(m("**a**", "xxa"));
    assert!(!m("*a*", "xyz"));
}

#[test]
fn agrees_with_the_reference() {
    let alphabet = ['a', 'b', '*', '?'];
    let texts = [
        "", "a", "b", "ab", "ba", "aab", "abab", "bbba", "abba", "aaaaab",
    ];
    // Every pattern of up to 5 symbols.
    let mut patterns = vec![String::new()];
    for _ in 0..5 {
        let mut longer = Vec::new();
        for p in &patterns {
            for c in alphabet {
                longer.push(format!("{p}{c}"));
            }
        }
        patterns.extend(longer);
    }
    patterns.sort();
    patterns.dedup();
    for p in &patterns {
        for t in texts {
            assert_eq!(m(p, t), reference(p, t), "pattern {p:?} text {t:?}");
        }
    }
    // Long patterns cross word boundaries.
    let long = format!("{}b", "a?".repeat(100));
    let text = format!("{}b", "ax".repeat(100));
    assert_eq!(m(&long, &text), reference(&long, &text));
    assert!(m(&long, &text));
    assert!(!m(&long, &text[1..]));
}

#[test]
fn pathological_patterns_are_cheap() {
    // Once a stack overflow (60,000 stars) and 13 s (15 stars and a `z`).
    assert!(m(&"*".repeat(60_000), "anything"));
    let p = format!("{}z", "*".repeat(15));
    assert!(!m(&p, &"a".repeat(10_000)));
    let p = format!("{}z", "*a".repeat(120));
    assert!(!m(&p, &"a".repeat(10_000)));
}

#[test]
fn value_sets() {
    let set = ValueSet::new(&["i-1".into(), "web-*".into()]);
    assert!(set.matches("i-1"));
    assert!(set.matches("web-9"));
    assert!(!set.matches("i-2"));
    assert!(set.has_patterns());
    assert!(ValueSet::new(&["***".into()]).matches("x"));
    assert!(!ValueSet::new(&[]).matches("x"));
}

#[test]
fn limits() {
    let filter = |n: usize, len: usize| Filter {
        name: "tag:Name".into(),
        values: vec!["x".repeat(len); n],
    };
    assert!(check_limits(&vec![filter(200, 255); 50]).is_ok());
    let code = |r: Result<()>| match r.unwrap_err() {
        DescribeError::Invalid(code, _) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        code(check_limits(&vec![filter(1, 1); 51])),
        "FilterLimitExceeded"
    );
    assert_eq!(code(check_limits(&[filter(201, 1)])), "FilterLimitExceeded");
    assert_eq!(
        code(check_limits(&[filter(1, 256)])),
        "InvalidParameterValue"
    );
    let long_name = Filter {
        name: "n".repeat(256),
        values: vec![],
    };
    assert_eq!(code(check_limits(&[long_name])), "InvalidParameterValue");
    let nul = Filter {
        name: "tag:Name".into(),
        values: vec!["a\0".into()],
    };
    assert_eq!(code(check_limits(&[nul])), "InvalidParameterValue");
    assert!(check_ids("InstanceId", &vec!["i-1".to_string(); 1000]).is_ok());
    assert!(check_ids("InstanceId", &vec!["i-1".to_string(); 1001]).is_err());
}
