//! Offset pagination as Wonde does it: absolute `next`/`previous` URLs that
//! repeat the caller's query string plus `page=N`, and no pagination object
//! at all for a small answer to a request without `per_page`.

use std::ops::Range;

use serde_json::{Value, json};

use crate::query::{PageReq, Query};

/// The slice of a `total`-long list that a page covers (empty past the end).
pub(crate) fn window(total: usize, req: PageReq) -> Range<usize> {
    let per_page = req.per_page as usize;
    let start = (req.page as usize - 1).saturating_mul(per_page).min(total);
    start..(start + per_page).min(total)
}

/// `meta.pagination`, or `None` where Wonde leaves it out.
pub(crate) fn pagination(
    total: usize,
    req: PageReq,
    url_base: &str,
    path: &str,
    query: &Query,
) -> Option<Value> {
    if !req.explicit && req.page == 1 && total <= req.per_page as usize {
        return None;
    }
    let more = (req.page as usize) * (req.per_page as usize) < total;
    let link = |page: u32| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query.pairs_without("page") {
            s.append_pair(k, v);
        }
        s.append_pair("page", &page.to_string());
        format!("{url_base}{path}?{}", s.finish())
    };
    Some(json!({
        "next": if more { Value::String(link(req.page + 1)) } else { Value::Null },
        "previous": if req.page > 1 { Value::String(link(req.page - 1)) } else { Value::Null },
        "more": more,
        "per_page": req.per_page,
        "current_page": req.page,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_unpaged_answer_has_no_pagination() -> Result<(), String> {
        let q = Query::parse(Some("include=year"));
        assert!(pagination(40, q.page()?, "http://h", "/v1.0/x", &q).is_none());
        let q = Query::parse(Some("per_page=50"));
        assert!(pagination(40, q.page()?, "http://h", "/v1.0/x", &q).is_some());
        Ok(())
    }

    #[test]
    fn next_repeats_the_query() -> Result<(), String> {
        let q = Query::parse(Some("include=classes&has_class=true"));
        let p = pagination(120, q.page()?, "http://h", "/v1.0/s", &q).ok_or("no meta")?;
        assert_eq!(p["next"], "http://h/v1.0/s?include=classes&has_class=true&page=2");
        assert_eq!(p["previous"], Value::Null);
        let q = Query::parse(Some("per_page=50&page=3"));
        let p = pagination(120, q.page()?, "http://h", "/v1.0/s", &q).ok_or("no meta")?;
        assert_eq!(p["next"], Value::Null);
        assert_eq!(p["more"], false);
        assert_eq!(p["previous"], "http://h/v1.0/s?per_page=50&page=2");
        assert_eq!(window(120, q.page()?), 100..120);
        Ok(())
    }
}
