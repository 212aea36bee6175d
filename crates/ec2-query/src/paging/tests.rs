#![allow(clippy::unwrap_used)]
use super::*;

fn page(max: Option<i64>, token: Option<&str>) -> Page {
    Page::parse(max, token, (5, 1000)).unwrap()
}

fn code(error: DescribeError) -> &'static str {
    match error {
        DescribeError::Invalid(code, _) => code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn pages_in_key_order() {
    let items = || (0..12).rev().collect::<Vec<u32>>();
    let (first, next) = page(Some(5), None).apply(items(), |n| *n).unwrap();
    assert_eq!(first, vec![0, 1, 2, 3, 4]);
    let (second, next) = page(Some(5), next.as_deref())
        .apply(items(), |n| *n)
        .unwrap();
    assert_eq!(second, vec![5, 6, 7, 8, 9]);
    let (third, next) = page(Some(5), next.as_deref())
        .apply(items(), |n| *n)
        .unwrap();
    assert_eq!((third, next), (vec![10, 11], None));
    let (all, next) = Page::all().apply(items(), |n| *n).unwrap();
    assert_eq!((all.len(), next), (12, None));
    // Exactly one full page: no token for an empty next page.
    let (full, next) = page(Some(12), None).apply(items(), |n| *n).unwrap();
    assert_eq!((full.len(), next), (12, None));
}

/// The keyset promise: rows inserted before and after the cursor between two calls
/// neither repeat nor hide any row that was there throughout.
#[test]
fn tokens_survive_inserts_on_both_sides_of_the_cursor() {
    // (created_at, id), as a describer would key its rows.
    let mut rows: Vec<(i64, String)> = (0..10).map(|n| (n * 10, format!("r-{n:02}"))).collect();
    let key = |row: &(i64, String)| row.clone();
    let (first, next) = page(Some(5), None).apply(rows.clone(), key).unwrap();
    assert_eq!(first.last().unwrap().0, 40);
    // Between the calls: one row sorts before the cursor, one just after it, one at the end,
    // and one with the cursor's own time but a later id.
    rows.push((5, "r-early".into()));
    rows.push((41, "r-next".into()));
    rows.push((40, "r-05-twin".into()));
    rows.push((1000, "r-late".into()));
    let (second, next) = page(Some(5), next.as_deref())
        .apply(rows.clone(), key)
        .unwrap();
    let (third, next) = page(Some(5), next.as_deref())
        .apply(rows.clone(), key)
        .unwrap();
    assert!(next.is_none());
    let seen: Vec<(i64, String)> = first.into_iter().chain(second).chain(third).collect();
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen, "no row twice");
    for n in 0..10 {
        let original = (n * 10, format!("r-{n:02}"));
        assert!(seen.contains(&original), "{original:?} was skipped");
    }
    // Rows inserted after the cursor are seen; the one before it is not (it was behind).
    assert!(seen.contains(&(41, "r-next".into())));
    assert!(seen.contains(&(1000, "r-late".into())));
    assert!(seen.contains(&(40, "r-05-twin".into())));
    assert!(!seen.contains(&(5, "r-early".into())));
}

/// A row deleted right at the cursor does not lose the place.
#[test]
fn tokens_survive_the_last_row_being_deleted() {
    let rows: Vec<String> = (0..8).map(|n| format!("i-{n}")).collect();
    let (_, next) = page(Some(5), None)
        .apply(rows.clone(), String::clone)
        .unwrap();
    let remaining: Vec<String> = rows.into_iter().filter(|r| r != "i-4").collect();
    let (second, _) = page(Some(5), next.as_deref())
        .apply(remaining, String::clone)
        .unwrap();
    assert_eq!(second, vec!["i-5", "i-6", "i-7"]);
}

#[test]
fn tokens_and_limits_are_checked() {
    for bad in ["garbage!", "b2Zmc2V0OjU", "e30"] {
        // Not base64; the old `offset:5`; `{}` without a key.
        let error = Page::parse(Some(5), Some(bad), (5, 1000)).unwrap_err();
        assert_eq!(code(error), "InvalidNextToken", "{bad}");
    }
    // A well-formed token whose key has the wrong shape for this describer.
    let (_, next) = page(Some(5), None)
        .apply((0..9).collect::<Vec<u32>>(), |n| *n)
        .unwrap();
    let error = page(Some(5), next.as_deref())
        .apply(vec!["a".to_string()], String::clone)
        .unwrap_err();
    assert_eq!(code(error), "InvalidNextToken");
    let error = Page::parse(Some(2), None, (5, 1000)).unwrap_err();
    assert_eq!(code(error), "InvalidParameterValue");
    assert!(Page::parse(Some(1001), None, (5, 1000)).is_err());
    assert_eq!(Page::parse(None, Some(""), (5, 1000)).unwrap(), Page::all());
}
