//! Following `meta.pagination.next` one page at a time, so a school of any
//! size costs one page of memory.

use std::marker::PhantomData;

use futures::Stream;
use reqwest::Url;
use serde::de::DeserializeOwned;

use super::client::envelope::{ListEnvelope, Unreadable};
use super::client::{Call, WondeClient};
use super::{SecretToken, WondeError};

/// A guard against a server that links pages in a circle: 200 per page
/// times this is far beyond any school.
const MAX_PAGES: u32 = 10_000;

/// One page of records.
#[derive(Debug)]
pub struct Page<T> {
    pub records: Vec<T>,
    /// 1-based, in fetch order.
    pub number: u32,
    /// Size of the JSON body, for throughput figures.
    pub body_bytes: usize,
    /// Whether another page follows.
    pub has_more: bool,
    /// A page the previous one promised (it linked here) that holds no
    /// records: the listing ended before it said it would, so it is not
    /// known to be whole (rows moved between two requests, or a broken
    /// answer). Offset paging only links to a page that has records.
    pub came_back_empty: bool,
    /// A page that says more records follow (`more: true`) but links to
    /// none: the listing ends here before its announced end.
    pub more_without_link: bool,
    /// Records of the page that could not be read, left out of `records`.
    pub unreadable: Vec<Unreadable>,
}

/// A cursor over a paged list. Call [`Pager::next_page`] until `None`, or
/// turn it into a stream. After an error the same page can be asked again.
pub struct Pager<T> {
    client: WondeClient,
    token: SecretToken,
    endpoint: String,
    next: Option<Url>,
    fetched: u32,
    pending_error: Option<WondeError>,
    _records: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("endpoint", &self.endpoint)
            .field("fetched", &self.fetched)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Pager<T> {
    pub(crate) fn new(
        client: WondeClient,
        token: SecretToken,
        endpoint: String,
        first: Result<Url, WondeError>,
    ) -> Self {
        let (next, pending_error) = match first {
            Ok(url) => (Some(url), None),
            Err(e) => (None, Some(e)),
        };
        Pager { client, token, endpoint, next, fetched: 0, pending_error, _records: PhantomData }
    }

    /// The endpoint, as errors name it (`schools/A1/students`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The next page, or `None` after the last. A response without a
    /// pagination object is the only page.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, WondeError> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let number = self.fetched + 1;
        let fetched =
            self.client.fetch::<ListEnvelope<T>>(Call::get(&url, &self.token, &self.endpoint, number)).await;
        let (envelope, body_bytes) = match fetched {
            Ok(ok) => ok,
            Err(e) => {
                self.next = Some(url);
                return Err(e);
            }
        };
        self.fetched = number;
        if let Some(next) = envelope.next() {
            self.next = Some(self.checked_next(&url, next, number)?);
        }
        let has_more = self.next.is_some();
        let more_without_link = envelope.says_more() && !has_more;
        let (records, unreadable) = envelope.into_records();
        let came_back_empty = number > 1 && records.is_empty() && unreadable.is_empty();
        Ok(Some(Page {
            records,
            number,
            body_bytes,
            has_more,
            came_back_empty,
            more_without_link,
            unreadable,
        }))
    }

    /// The next page, refused whole when any record of it could not be read
    /// (`WondeError::Decode` naming the first): for lists that are stored
    /// as a whole picture without a sync's judgement, such as the catalog
    /// and the app's access lists, where a record left out would read as
    /// a school without access.
    pub async fn next_whole_page(&mut self) -> Result<Option<Page<T>>, WondeError> {
        let Some(page) = self.next_page().await? else { return Ok(None) };
        match page.unreadable.first() {
            None => Ok(Some(page)),
            Some(first) => Err(WondeError::Decode {
                endpoint: self.endpoint.clone(),
                page: page.number,
                field: first.field.clone(),
                record: first.record.clone(),
                detail: first.detail.clone(),
            }),
        }
    }

    /// The next URL is followed with the token, so it must stay on the same
    /// origin; and it must move on.
    fn checked_next(&self, current: &Url, next: &str, number: u32) -> Result<Url, WondeError> {
        let bad = |detail: &str| WondeError::Decode {
            endpoint: self.endpoint.clone(),
            page: number,
            field: "meta.pagination.next".into(),
            record: None,
            detail: detail.to_owned(),
        };
        let url = Url::parse(next).map_err(|_| bad("not an absolute URL"))?;
        if url.origin() != current.origin() {
            return Err(bad("points to another host; not sending the token there"));
        }
        if url == *current {
            return Err(bad("repeats the current page"));
        }
        if number >= MAX_PAGES {
            return Err(bad("too many pages"));
        }
        Ok(url)
    }

    /// The pages as a stream; it ends after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<Page<T>, WondeError>> + Send + 'static
    where
        T: Send + 'static,
    {
        futures::stream::unfold(Some(self), |state| async move {
            let mut pager = state?;
            match pager.next_page().await {
                Ok(Some(page)) => Some((Ok(page), Some(pager))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Every record in memory: for small lists (catalog searches, tests),
    /// not for a school's students.
    pub async fn collect_all(mut self) -> Result<Vec<T>, WondeError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_whole_page().await? {
            all.extend(page.records);
        }
        Ok(all)
    }
}
