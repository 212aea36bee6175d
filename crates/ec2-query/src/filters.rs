//! Describe filters, shared by every describe action of every facade and the native API: `Filter.N.Name` with
//! values `Filter.N.Value.M` (filters are ANDed, a filter's values ORed), EC2 wildcards
//! (`*` any run of characters, `?` exactly one).
//!
//! A request's filters are checked against the limits before any work ([`check_limits`]),
//! then compiled once ([`compile`]): values without wildcards go into a hash set, each
//! wildcard value becomes a bit-parallel NFA over its pattern positions, matched in
//! `O(|text| · ⌈|pattern| / 64⌉)` without recursion or backtracking. A request that holds
//! wildcard patterns is evaluated off the async workers ([`select`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kumo_common::text;

use crate::error::{DescribeError, Result};
use crate::tags::{self, Tags};

/// At most this many filters per request (more: `FilterLimitExceeded`).
pub const MAX_FILTERS: usize = 50;
/// At most this many values per filter (more: `FilterLimitExceeded`).
pub const MAX_FILTER_VALUES: usize = 200;
/// Longest filter value, in characters (longer: `InvalidParameterValue`).
pub const MAX_FILTER_VALUE_CHARS: usize = 255;
/// Longest filter name, in characters (longer: `InvalidParameterValue`).
pub const MAX_FILTER_NAME_CHARS: usize = 255;
/// At most this many ids in an `InstanceId.N`-style list (AWS: 1000).
pub const MAX_IDS: usize = 1000;

/// A describe filter: name and accepted values (any of them matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

pub fn too_many_filters() -> DescribeError {
    DescribeError::Invalid(
        "FilterLimitExceeded",
        format!("The maximum number of filters specified on a single call is {MAX_FILTERS}"),
    )
}

pub fn too_many_values() -> DescribeError {
    DescribeError::Invalid(
        "FilterLimitExceeded",
        format!(
            "The maximum number of filter values specified on a single call is {MAX_FILTER_VALUES}"
        ),
    )
}

/// `value` of parameter `field`: no control characters, at most `max` characters.
fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    text::check_parameter(field, value, max).map_err(DescribeError::invalid)
}

/// The limits on one request's filters, checked before any work.
pub fn check_limits(filters: &[Filter]) -> Result<()> {
    if filters.len() > MAX_FILTERS {
        return Err(too_many_filters());
    }
    for filter in filters {
        check_text("Filter.Name", &filter.name, MAX_FILTER_NAME_CHARS)?;
        if filter.values.len() > MAX_FILTER_VALUES {
            return Err(too_many_values());
        }
        for value in &filter.values {
            check_text("Filter.Value", value, MAX_FILTER_VALUE_CHARS)?;
        }
    }
    Ok(())
}

/// An id list (`InstanceId.N`, `ImageId.N`, …): at most [`MAX_IDS`] entries of at most
/// 255 characters each.
pub fn check_ids(name: &str, ids: &[String]) -> Result<()> {
    if ids.len() > MAX_IDS {
        return Err(DescribeError::invalid(format!(
            "The maximum number of {name} values on a single call is {MAX_IDS}"
        )));
    }
    for id in ids {
        check_text(name, id, 255)?;
    }
    Ok(())
}

/// One EC2 wildcard pattern, compiled: state `i` means "the first `i` pattern characters
/// are matched"; runs of `*` are collapsed to one, so the ε-closure is a single step.
#[derive(Debug, Clone)]
pub struct Wildcard {
    /// Pattern characters (after collapsing `*` runs).
    len: usize,
    /// Words per state vector.
    words: usize,
    /// Per literal character: bit `i + 1` set where the pattern's `i`-th character is it.
    literal: Vec<(char, Vec<u64>)>,
    /// Bit `i + 1` set where the pattern's `i`-th character is `?`.
    any_one: Vec<u64>,
    /// Bit `i` set where the pattern's `i`-th character is `*`.
    star: Vec<u64>,
    /// Characters any match needs (every one but `*`).
    min_chars: usize,
    /// Whether the pattern holds a `*` (else a match has exactly `min_chars` characters).
    has_star: bool,
    /// The literal characters before the first wildcard, and after the last.
    prefix: String,
    suffix: String,
}

fn set_bit(v: &mut [u64], bit: usize) {
    v[bit / 64] |= 1 << (bit % 64);
}

fn get_bit(v: &[u64], bit: usize) -> bool {
    v[bit / 64] & (1 << (bit % 64)) != 0
}

/// `out = v << 1` across words.
fn shift_left_one(v: &[u64], out: &mut [u64]) {
    let mut carry = 0;
    for (o, w) in out.iter_mut().zip(v) {
        *o = (w << 1) | carry;
        carry = w >> 63;
    }
}

impl Wildcard {
    pub fn new(pattern: &str) -> Self {
        let mut chars: Vec<char> = Vec::with_capacity(pattern.len());
        for c in pattern.chars() {
            if c == '*' && chars.last() == Some(&'*') {
                continue;
            }
            chars.push(c);
        }
        let len = chars.len();
        let words = (len + 1).div_ceil(64);
        let mut literal: Vec<(char, Vec<u64>)> = Vec::new();
        let mut any_one = vec![0; words];
        let mut star = vec![0; words];
        for (i, &c) in chars.iter().enumerate() {
            match c {
                '*' => set_bit(&mut star, i),
                '?' => set_bit(&mut any_one, i + 1),
                c => {
                    let slot = match literal.iter().position(|(l, _)| *l == c) {
                        Some(slot) => slot,
                        None => {
                            literal.push((c, vec![0; words]));
                            literal.len() - 1
                        }
                    };
                    set_bit(&mut literal[slot].1, i + 1);
                }
            }
        }
        literal.sort_by_key(|(c, _)| *c);
        let is_wild = |c: &char| *c == '*' || *c == '?';
        let prefix: String = chars.iter().take_while(|c| !is_wild(c)).collect();
        let suffix: String = if prefix.len() == pattern.len() {
            String::new()
        } else {
            let mut tail: Vec<char> = chars
                .iter()
                .rev()
                .take_while(|c| !is_wild(c))
                .copied()
                .collect();
            tail.reverse();
            tail.into_iter().collect()
        };
        Self {
            len,
            words,
            literal,
            any_one,
            star,
            min_chars: chars.iter().filter(|&&c| c != '*').count(),
            has_star: chars.contains(&'*'),
            prefix,
            suffix,
        }
    }

    /// Add the ε-moves: a state before a `*` may also be past it.
    fn close(&self, state: &mut [u64], scratch: &mut [u64]) {
        for (s, (w, st)) in scratch.iter_mut().zip(state.iter().zip(&self.star)) {
            *s = w & st;
        }
        let mut carry = 0;
        for (w, s) in state.iter_mut().zip(scratch.iter()) {
            *w |= (s << 1) | carry;
            carry = s >> 63;
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        // Cheap refusals first: anchored literal ends, and length.
        if !text.starts_with(&self.prefix) || !text.ends_with(&self.suffix) {
            return false;
        }
        if text.len() < self.min_chars {
            return false;
        }
        let chars = text.chars().count();
        if chars < self.min_chars || (!self.has_star && chars != self.min_chars) {
            return false;
        }
        // Three state vectors, on the stack for patterns of up to 511 characters.
        let mut stack = [0u64; 24];
        let mut heap = Vec::new();
        let buffer: &mut [u64] = if self.words <= 8 {
            &mut stack[..3 * self.words]
        } else {
            heap.resize(3 * self.words, 0);
            &mut heap
        };
        let (state, rest) = buffer.split_at_mut(self.words);
        let (next, scratch) = rest.split_at_mut(self.words);
        self.run(text, state, next, scratch)
    }

    fn run(&self, text: &str, state: &mut [u64], next: &mut [u64], scratch: &mut [u64]) -> bool {
        let (mut state, mut next) = (state, next);
        set_bit(state, 0);
        self.close(state, scratch);
        for c in text.chars() {
            let literal = self
                .literal
                .binary_search_by_key(&c, |(l, _)| *l)
                .ok()
                .map(|i| &self.literal[i].1);
            shift_left_one(state, next);
            let mut alive = 0;
            for i in 0..self.words {
                let step = self.any_one[i] | literal.map_or(0, |l| l[i]);
                // Advance on this character, or stay on a `*` (which consumes it).
                next[i] = (next[i] & step) | (state[i] & self.star[i]);
                alive |= next[i];
            }
            if alive == 0 {
                return false;
            }
            std::mem::swap(&mut state, &mut next);
            self.close(state, scratch);
        }
        get_bit(state, self.len)
    }
}

/// Does `pattern` use wildcards?
pub fn is_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// One filter's values, compiled: exact values in a set, wildcard patterns as NFAs.
#[derive(Debug, Clone, Default)]
pub struct ValueSet {
    exact: HashSet<String>,
    patterns: Vec<Wildcard>,
    /// A bare `*`: everything matches.
    everything: bool,
}

impl ValueSet {
    pub fn new(values: &[String]) -> Self {
        let mut set = ValueSet::default();
        for value in values {
            if !is_wildcard(value) {
                set.exact.insert(value.clone());
            } else if value.chars().all(|c| c == '*') {
                set.everything = true;
            } else {
                set.patterns.push(Wildcard::new(value));
            }
        }
        set
    }

    pub fn matches(&self, text: &str) -> bool {
        self.everything
            || self.exact.contains(text)
            || self.patterns.iter().any(|p| p.matches(text))
    }

    /// Does any of `texts` match?
    pub fn matches_any<'a>(&self, mut texts: impl Iterator<Item = &'a str>) -> bool {
        texts.any(|t| self.matches(t))
    }

    pub fn has_patterns(&self) -> bool {
        !self.patterns.is_empty()
    }
}

/// A filter, compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub name: String,
    pub values: ValueSet,
}

/// A request's filters, compiled once.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub filters: Vec<Compiled>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    pub fn has_patterns(&self) -> bool {
        self.filters.iter().any(|f| f.values.has_patterns())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Compiled> {
        self.filters.iter()
    }
}

/// Check the limits, then compile every filter.
pub fn compile(filters: &[Filter]) -> Result<Filters> {
    check_limits(filters)?;
    Ok(Filters {
        filters: filters
            .iter()
            .map(|f| Compiled {
                name: f.name.clone(),
                values: ValueSet::new(&f.values),
            })
            .collect(),
    })
}

/// Wildcard evaluations of one account that may run at once; more answer
/// `RequestLimitExceeded` (AWS's throttling code, which clients retry with back-off).
pub const MAX_EVALUATIONS_PER_ACCOUNT: usize = 2;

/// How long one evaluation holds a core before it lets the next in line run.
const SLICE: std::time::Duration = std::time::Duration::from_millis(10);

/// Keep the items `keep` accepts. When the filters hold wildcard patterns the work runs on
/// the blocking pool, so it never holds an async worker, in slices of about 10 ms that
/// take turns (FIFO) for the permitted cores, so one costly request delays another by at
/// most a slice per request ahead of it; and an account may run only a few at once.
pub async fn select<T, K>(
    account_id: &str,
    items: Vec<T>,
    filters: Arc<Filters>,
    keep: K,
) -> Result<Vec<T>>
where
    T: Send + 'static,
    K: Fn(&T, &Filters) -> bool + Send + Sync + 'static,
{
    if filters.is_empty() {
        return Ok(items);
    }
    if !filters.has_patterns() {
        return Ok(items
            .into_iter()
            .filter(|item| keep(item, &filters))
            .collect());
    }
    let _slot = AccountSlot::take(account_id)?;
    let keep = Arc::new(keep);
    let mut pending = items.into_iter();
    let mut kept = Vec::new();
    loop {
        let permit = evaluations()
            .acquire()
            .await
            .map_err(|e| DescribeError::Internal(format!("filter evaluation failed: {e}")))?;
        let (filters, keep) = (filters.clone(), keep.clone());
        let slice = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            while started.elapsed() < SLICE {
                match pending.next() {
                    Some(item) => {
                        if keep(&item, &filters) {
                            kept.push(item);
                        }
                    }
                    None => return (pending, kept, true),
                }
            }
            (pending, kept, false)
        })
        .await
        .map_err(|e| DescribeError::Internal(format!("filter evaluation failed: {e}")))?;
        drop(permit);
        let done;
        (pending, kept, done) = slice;
        if done {
            return Ok(kept);
        }
    }
}

/// Wildcard evaluations run on at most half the cores at a time (at least one).
fn evaluations() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

/// One of an account's [`MAX_EVALUATIONS_PER_ACCOUNT`] evaluation slots, given back on drop.
struct AccountSlot(String);

fn slots() -> &'static std::sync::Mutex<HashMap<String, usize>> {
    static SLOTS: std::sync::OnceLock<std::sync::Mutex<HashMap<String, usize>>> =
        std::sync::OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

impl AccountSlot {
    fn take(account_id: &str) -> Result<Self> {
        let mut slots = slots().lock().unwrap_or_else(|e| e.into_inner());
        let in_use = slots.entry(account_id.to_string()).or_insert(0);
        if *in_use >= MAX_EVALUATIONS_PER_ACCOUNT {
            return Err(DescribeError::Throttled(format!(
                "Request limit exceeded: at most {MAX_EVALUATIONS_PER_ACCOUNT} requests with wildcard filters run at once per account"
            )));
        }
        *in_use += 1;
        Ok(Self(account_id.to_string()))
    }
}

impl Drop for AccountSlot {
    fn drop(&mut self) {
        let mut slots = slots().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(in_use) = slots.get_mut(&self.0) {
            *in_use = in_use.saturating_sub(1);
            if *in_use == 0 {
                slots.remove(&self.0);
            }
        }
    }
}

/// Keep the items every filter accepts (filters are ANDed, their values ORed): `fields`
/// gives an item's values for a filter name, `tags_of` its tags for the tag filters
/// (`tag:<key>`, `tag-key`, `tag-value`; `None` for untaggable resources). Checks the
/// limits, compiles once, and evaluates as [`select`] does.
pub async fn select_by_fields<T, F, G>(
    account_id: &str,
    items: Vec<T>,
    filters: &[Filter],
    fields: F,
    tags_of: G,
) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(&T, &str) -> Vec<String> + Send + Sync + 'static,
    G: Fn(&T) -> Option<&Tags> + Send + Sync + 'static,
{
    let compiled = Arc::new(compile(filters)?);
    select(account_id, items, compiled, move |item, filters| {
        filters.iter().all(|filter| {
            match tags_of(item).and_then(|tags| tags::matches(filter, tags)) {
                Some(accepted) => accepted,
                None => filter
                    .values
                    .matches_any(fields(item, &filter.name).iter().map(String::as_str)),
            }
        })
    })
    .await
}

/// Every filter must be one `known` accepts (else `InvalidParameterValue`, as AWS answers
/// an unknown filter name).
pub fn check_names(filters: &[Filter], known: impl Fn(&str) -> bool) -> Result<()> {
    match filters.iter().find(|f| !known(&f.name)) {
        Some(filter) => Err(invalid_filter(&filter.name)),
        None => Ok(()),
    }
}

/// AWS's answer to a filter name the action does not know.
pub fn invalid_filter(name: &str) -> DescribeError {
    DescribeError::invalid(format!("The filter '{name}' is invalid"))
}

#[cfg(test)]
mod tests;
