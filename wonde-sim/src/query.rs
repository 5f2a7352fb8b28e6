//! Query-string handling shared by every list endpoint: includes (dotted
//! paths, comma lists and repeated keys), `updated_after`/`updated_before`
//! in both accepted forms, and the raw pairs that next-page URLs repeat.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::model::Timestamp;

pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// The last value of a key, as PHP reads a repeated scalar parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn pairs_without(&self, key: &str) -> impl Iterator<Item = &(String, String)> {
        self.pairs.iter().filter(move |(k, _)| k != key)
    }

    /// Every `include` (and `include[]`) value, split on commas, with each
    /// dotted path also implying its parents.
    pub fn includes(&self) -> Includes {
        let mut set = BTreeSet::new();
        for (k, v) in &self.pairs {
            if k != "include" && k != "include[]" {
                continue;
            }
            for path in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let mut prefix = String::new();
                for part in path.split('.') {
                    if !prefix.is_empty() {
                        prefix.push('.');
                    }
                    prefix.push_str(part);
                    set.insert(prefix.clone());
                }
            }
        }
        Includes(set)
    }

    pub fn time(&self, key: &str) -> Result<Option<Timestamp>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| format!("The {key} is not a valid date.")),
        }
    }

    /// `page` (1-based) and `per_page` (default 50, clamped to 1..=200).
    pub fn page(&self) -> Result<PageReq, String> {
        let page = match self.get("page") {
            None => 1,
            Some(p) => {
                p.parse::<u32>().ok().filter(|p| *p >= 1).ok_or("The page must be a positive integer.")?
            }
        };
        let (per_page, explicit) = match self.get("per_page") {
            None => (DEFAULT_PER_PAGE, false),
            Some(p) => (
                p.parse::<u32>().map_err(|_| "The per page must be an integer.")?.clamp(1, MAX_PER_PAGE),
                true,
            ),
        };
        Ok(PageReq { page, per_page, explicit, repeat_previous: false })
    }
}

pub(crate) const DEFAULT_PER_PAGE: u32 = 50;
pub(crate) const MAX_PER_PAGE: u32 = 200;

#[derive(Clone, Copy, Debug)]
pub(crate) struct PageReq {
    pub page: u32,
    pub per_page: u32,
    /// Whether the caller sent `per_page`: Wonde omits the pagination object
    /// for small answers only when it did not.
    pub explicit: bool,
    /// Start the page with the last record of the page before (the
    /// `repeat_previous` fault).
    pub repeat_previous: bool,
}

/// Accepts `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD` and ISO-8601 / RFC 3339
/// (`2026-02-24T03:00:00.000Z`); naive forms are UTC.
pub(crate) fn parse_time(v: &str) -> Option<Timestamp> {
    let v = v.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

/// The set of requested include paths.
#[derive(Clone, Debug, Default)]
pub(crate) struct Includes(BTreeSet<String>);

impl Includes {
    pub fn has(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// The includes below `name.`, for a nested record.
    pub fn sub(&self, name: &str) -> Includes {
        let prefix = format!("{name}.");
        Includes(self.0.iter().filter_map(|p| p.strip_prefix(&prefix).map(str::to_owned)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_and_repeated_includes() {
        let q = Query::parse(Some("include=classes.employees,year&include=contacts.contact_details"));
        let inc = q.includes();
        for name in ["classes", "classes.employees", "year", "contacts", "contacts.contact_details"] {
            assert!(inc.has(name), "{name}");
        }
        assert!(inc.sub("classes").has("employees"));
        assert!(!inc.has("employees"));
    }

    #[test]
    fn both_updated_after_forms() {
        let a = parse_time("2026-02-24 03:00:00");
        let b = parse_time("2026-02-24T03:00:00.000Z");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn per_page_is_clamped() -> Result<(), String> {
        let p = Query::parse(Some("per_page=5000&page=3")).page()?;
        assert_eq!((p.page, p.per_page, p.explicit), (3, 200, true));
        let p = Query::parse(None).page()?;
        assert_eq!((p.page, p.per_page, p.explicit), (1, 50, false));
        Ok(())
    }
}
