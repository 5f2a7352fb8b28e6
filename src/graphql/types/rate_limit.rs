//! `rateLimit`: where the token's points budget stands (GitHub's field of
//! the same name; docs/limits.md).

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use crate::limits::rate::{self, Metered};

/// The token's points budget after this operation was charged. A point is
/// 100 of cost (`extensions.cost.requestedQueryCost`), at least 1 per
/// operation; the budget refills continuously over a minute.
#[derive(SimpleObject, Clone, Debug)]
pub struct RateLimit {
    /// Points per minute (`ONROLL_RATE_LIMIT_POINTS`).
    pub limit: i32,
    /// Points this operation was charged.
    pub cost: i32,
    /// Points left after this operation.
    pub remaining: i32,
    /// When the budget is whole again (UTC).
    pub reset_at: DateTime<Utc>,
    /// This operation's requested cost: each field 1, times the pages and
    /// lists around it.
    pub query_cost: i32,
}

impl RateLimit {
    /// From what the request's meter recorded; a request that was not
    /// charged (no limits configured) reads as a whole budget.
    pub fn from_meter(metered: Metered, limit: u32) -> Self {
        let query_cost = metered.measure.map_or(0, |m| m.cost);
        let to_i32 = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        let (limit, charged, remaining, until_full) = match metered.rate {
            Some(status) => (status.limit, status.charged, status.remaining, status.until_full),
            None => (limit, rate::points(query_cost), limit, std::time::Duration::ZERO),
        };
        Self {
            limit: to_i32(limit.into()),
            cost: to_i32(charged.into()),
            remaining: to_i32(remaining.into()),
            reset_at: Utc::now() + chrono::Duration::from_std(until_full).unwrap_or_default(),
            query_cost: to_i32(query_cost),
        }
    }
}
