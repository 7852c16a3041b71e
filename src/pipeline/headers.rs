//! A header list: names and values in the order they came, looked up by a linear scan.
//!
//! Request heads and upstream response heads are built once per request and read by name a
//! few times; with the handful of headers a real head has, comparing names one by one is
//! cheaper than hashing each into an `http::HeaderMap` (and keeps the order a client or an
//! upstream sent, which nginx passes on). The methods follow `HeaderMap`'s names and
//! meanings so that code reads the same: `get` is the first value, `insert` replaces every
//! value of a name, `remove` takes them all, `len` counts values.

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderList(Vec<(HeaderName, HeaderValue)>);

/// What a header can be looked up by: a `HeaderName`, or a name as text in any case (as
/// `HeaderMap` takes it).
pub trait ListKey {
    fn matches(&self, name: &HeaderName) -> bool;
}

impl ListKey for HeaderName {
    fn matches(&self, name: &HeaderName) -> bool {
        self == name
    }
}

impl ListKey for &HeaderName {
    fn matches(&self, name: &HeaderName) -> bool {
        *self == name
    }
}

impl ListKey for &str {
    fn matches(&self, name: &HeaderName) -> bool {
        // `HeaderName`s are lower case.
        name.as_str().eq_ignore_ascii_case(self)
    }
}

impl ListKey for &String {
    fn matches(&self, name: &HeaderName) -> bool {
        ListKey::matches(&self.as_str(), name)
    }
}

impl HeaderList {
    pub fn new() -> HeaderList {
        HeaderList(Vec::new())
    }

    pub fn with_capacity(n: usize) -> HeaderList {
        HeaderList(Vec::with_capacity(n))
    }

    /// The number of values (a name sent twice counts twice), as `HeaderMap::len`.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first value of `key`.
    pub fn get<K: ListKey>(&self, key: K) -> Option<&HeaderValue> {
        self.0.iter().find(|(n, _)| key.matches(n)).map(|(_, v)| v)
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a, K: ListKey + 'a>(
        &'a self,
        key: K,
    ) -> impl Iterator<Item = &'a HeaderValue> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| key.matches(n))
            .map(|(_, v)| v)
    }

    pub fn contains_key<K: ListKey>(&self, key: K) -> bool {
        self.0.iter().any(|(n, _)| key.matches(n))
    }

    /// Adds a value after the others, keeping any earlier values of the name.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.0.push((name, value));
    }

    /// Sets `name` to the one value `value`: it takes the place of the name's first value
    /// and the others go. Returns the first old value.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) -> Option<HeaderValue> {
        let Some(i) = self.0.iter().position(|(n, _)| *n == name) else {
            self.0.push((name, value));
            return None;
        };
        let old = std::mem::replace(&mut self.0[i].1, value);
        let mut j = i + 1;
        while j < self.0.len() {
            if self.0[j].0 == name {
                self.0.remove(j);
            } else {
                j += 1;
            }
        }
        Some(old)
    }

    /// Takes every value of `key` out; returns the first.
    pub fn remove<K: ListKey>(&mut self, key: K) -> Option<HeaderValue> {
        let mut first = None;
        let mut i = 0;
        while i < self.0.len() {
            if key.matches(&self.0[i].0) {
                let (_, v) = self.0.remove(i);
                first.get_or_insert(v);
            } else {
                i += 1;
            }
        }
        first
    }

    /// Appends copies of `items` (values share their bytes).
    pub fn extend_from_slice(&mut self, items: &[(HeaderName, HeaderValue)]) {
        self.0.extend_from_slice(items);
    }

    /// Appends the headers of `other` whose names this list does not have (as it was
    /// before the call), keeping their order.
    pub fn append_missing(&mut self, other: HeaderList) {
        let had = self.0.len();
        for (k, v) in other {
            if !self.0[..had].iter().any(|(n, _)| *n == k) {
                self.0.push((k, v));
            }
        }
    }

    /// The entries, in order.
    pub fn as_slice(&self) -> &[(HeaderName, HeaderValue)] {
        &self.0
    }

    /// Every (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> + '_ {
        self.0.iter().map(|(n, v)| (n, v))
    }

    /// Each name once, in the order of its first value.
    pub fn keys(&self) -> impl Iterator<Item = &HeaderName> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(i, (n, _))| !self.0[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n)
    }

    /// The same headers in an `http::HeaderMap` (for hyper and h2).
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.0.len());
        for (n, v) in &self.0 {
            map.append(n.clone(), v.clone());
        }
        map
    }
}

/// What code that edits either kind of header set (a request's list, a response's map)
/// needs of it.
pub trait HeaderSet {
    fn get_value(&self, name: &HeaderName) -> Option<&HeaderValue>;
    fn has(&self, name: &HeaderName) -> bool;
    fn set(&mut self, name: HeaderName, value: HeaderValue);
    fn add(&mut self, name: HeaderName, value: HeaderValue);
    fn delete(&mut self, name: &HeaderName);
    /// Each name once.
    fn names(&self) -> Vec<HeaderName>;
}

// Both types have the same inherent methods (the list follows the map's names).
macro_rules! header_set {
    ($t:ty) => {
        impl HeaderSet for $t {
            fn get_value(&self, name: &HeaderName) -> Option<&HeaderValue> {
                self.get(name)
            }
            fn has(&self, name: &HeaderName) -> bool {
                self.contains_key(name)
            }
            fn set(&mut self, name: HeaderName, value: HeaderValue) {
                self.insert(name, value);
            }
            fn add(&mut self, name: HeaderName, value: HeaderValue) {
                self.append(name, value);
            }
            fn delete(&mut self, name: &HeaderName) {
                self.remove(name);
            }
            fn names(&self) -> Vec<HeaderName> {
                self.keys().cloned().collect()
            }
        }
    };
}
header_set!(HeaderList);
header_set!(HeaderMap);

impl From<HeaderMap> for HeaderList {
    fn from(map: HeaderMap) -> HeaderList {
        let mut out = HeaderList::with_capacity(map.len());
        let mut last = None;
        for (k, v) in map {
            // The map yields a name once, before the first of its values.
            if let Some(k) = k {
                last = Some(k);
            }
            if let Some(k) = &last {
                out.append(k.clone(), v);
            }
        }
        out
    }
}

impl IntoIterator for HeaderList {
    type Item = (HeaderName, HeaderValue);
    type IntoIter = std::vec::IntoIter<(HeaderName, HeaderValue)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    fn list() -> HeaderList {
        let mut l = HeaderList::new();
        l.append(http::header::HOST, v("a"));
        l.append(HeaderName::from_static("x-one"), v("1"));
        l.append(http::header::ACCEPT, v("b"));
        l.append(HeaderName::from_static("x-one"), v("2"));
        l
    }

    #[test]
    fn lookups_by_name_or_text_in_any_case() {
        let l = list();
        assert_eq!(l.get(http::header::HOST), Some(&v("a")));
        assert_eq!(l.get("X-One"), Some(&v("1")));
        assert_eq!(l.get("x-two"), None);
        let all: Vec<_> = l.get_all("x-one").collect();
        assert_eq!(all, [&v("1"), &v("2")]);
        assert!(l.contains_key(&http::header::ACCEPT));
        assert_eq!(l.len(), 4);
        let keys: Vec<_> = l.keys().map(|n| n.as_str()).collect();
        assert_eq!(keys, ["host", "x-one", "accept"]);
    }

    #[test]
    fn insert_replaces_every_value_in_the_first_place() {
        let mut l = list();
        assert_eq!(
            l.insert(HeaderName::from_static("x-one"), v("3")),
            Some(v("1"))
        );
        let all: Vec<_> = l
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(all, [("host", "a"), ("x-one", "3"), ("accept", "b")]);
        assert_eq!(l.insert(HeaderName::from_static("x-new"), v("4")), None);
        assert_eq!(l.get("x-new"), Some(&v("4")));
    }

    #[test]
    fn remove_takes_every_value() {
        let mut l = list();
        assert_eq!(l.remove("x-one"), Some(v("1")));
        assert!(!l.contains_key("x-one"));
        assert_eq!(l.len(), 2);
        assert_eq!(l.remove("x-one"), None);
    }

    #[test]
    fn append_missing_skips_names_already_there() {
        let mut l = list();
        let mut early = HeaderList::new();
        early.append(http::header::HOST, v("early"));
        early.append(HeaderName::from_static("x-new"), v("1"));
        early.append(HeaderName::from_static("x-new"), v("2"));
        l.append_missing(early);
        let all: Vec<_> = l.get_all("x-new").collect();
        assert_eq!(all, [&v("1"), &v("2")]);
        assert_eq!(l.get_all("host").count(), 1);
    }

    #[test]
    fn round_trips_through_a_header_map() {
        let l = list();
        let back = HeaderList::from(l.to_map());
        // A map groups a name's values together.
        let all: Vec<_> = back
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            all,
            [
                ("host", "a"),
                ("x-one", "1"),
                ("x-one", "2"),
                ("accept", "b")
            ]
        );
    }
}
