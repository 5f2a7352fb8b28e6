//! The app-token access workflow: the app's schools by access state, asking
//! for access (a refusal saying access exists already is an answer) and
//! giving it up.

use reqwest::Method;

use super::options::AccessList;
use super::{Call, WondeClient};
use crate::wonde::model::{AccessRequest, AccessResponse, WondeSchool};
use crate::wonde::{Pager, SecretToken, WondeError};

impl WondeClient {
    /// The app's schools in one access state.
    pub fn schools_in(&self, app_token: &SecretToken, list: AccessList) -> Pager<WondeSchool> {
        let segments: &[&str] = match list {
            AccessList::Approved => &["schools"],
            AccessList::Pending => &["schools", "pending"],
            AccessList::Declined => &["schools", "declined"],
            AccessList::Revoked => &["schools", "revoked"],
            AccessList::Audited => &["schools", "audited"],
        };
        let mut query = Vec::new();
        self.push_per_page(&mut query);
        let url = self.url(None, segments, &query);
        Pager::new(self.clone(), app_token.clone(), segments.join("/"), url)
    }

    /// Asks Wonde for access to a school, with the requester's contacts.
    /// [`AccessResponse::outcome`] tells [`AccessOutcome::Pending`] (asked)
    /// from [`AccessOutcome::AlreadyApproved`] (access exists; the caller may
    /// revoke and ask again), however loosely the answer is spelt.
    ///
    /// [`AccessOutcome::Pending`]: crate::wonde::model::AccessOutcome::Pending
    /// [`AccessOutcome::AlreadyApproved`]: crate::wonde::model::AccessOutcome::AlreadyApproved
    pub async fn request_access(
        &self,
        app_token: &SecretToken,
        school_id: &str,
        request: &AccessRequest,
    ) -> Result<AccessResponse, WondeError> {
        let endpoint = format!("schools/{school_id}/request-access");
        let url = self.url(None, &["schools", school_id, "request-access"], &[])?;
        let body = serde_json::to_value(request).map_err(|e| WondeError::Config(e.to_string()))?;
        let call =
            Call { method: Method::POST, body: Some(&body), ..Call::get(&url, app_token, &endpoint, 1) };
        match self.fetch::<AccessResponse>(call).await {
            Ok((resp, _)) => Ok(resp),
            Err(err) => already_approved(&err).ok_or(err),
        }
    }

    /// Gives up access to an approved school, or withdraws a pending
    /// request: `outcome()` is [`AccessOutcome::Revoked`] when done.
    ///
    /// [`AccessOutcome::Revoked`]: crate::wonde::model::AccessOutcome::Revoked
    pub async fn revoke_access(
        &self,
        app_token: &SecretToken,
        school_id: &str,
    ) -> Result<AccessResponse, WondeError> {
        let endpoint = format!("schools/{school_id}/revoke-access");
        let url = self.url(None, &["schools", school_id, "revoke-access"], &[])?;
        let call = Call { method: Method::DELETE, ..Call::get(&url, app_token, &endpoint, 1) };
        let (resp, _) = self.fetch::<AccessResponse>(call).await?;
        Ok(resp)
    }
}

/// A request-access refused because access exists already: Wonde answers
/// 400 whose message says access is already approved (issue 10); 409 and 422 are read
/// the same way. It is an answer, not a failure: the caller may revoke and
/// ask again.
fn already_approved(err: &WondeError) -> Option<AccessResponse> {
    let WondeError::Status { status: 400 | 409 | 422, message: Some(message), .. } = err else {
        return None;
    };
    let lower = message.to_ascii_lowercase();
    (lower.contains("already") && lower.contains("approved")).then(|| AccessResponse {
        success: Some(false),
        state: Some("approved".to_owned()),
        message: Some(message.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_approved_refusals_are_an_answer() {
        let refusal = |status, message: &str| WondeError::Status {
            endpoint: "e".into(),
            status,
            message: Some(message.to_owned()),
        };
        use crate::wonde::model::AccessOutcome;
        for message in ["Access to this school has already been approved", "Access already approved"] {
            let answer = already_approved(&refusal(400, message)).map(|a| a.outcome());
            assert_eq!(answer, Some(AccessOutcome::AlreadyApproved), "{message}");
        }
        assert!(already_approved(&refusal(400, "Bad contact")).is_none());
        assert!(already_approved(&refusal(500, "already approved")).is_none());
    }
}
