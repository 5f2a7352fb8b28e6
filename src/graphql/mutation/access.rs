//! `requestWondeAccess`: asking Wonde for access to a school that has no
//! token to paste (see `access_requests`).

use async_graphql::{Context, Object};

use super::{school, trust_admin_of};
use crate::access_requests::{self, Contact, Request};
use crate::catalog::WondeAppToken;
use crate::error::ResultExt;
use crate::graphql::context::service;
use crate::graphql::inputs::RequestWondeAccessInput;
use crate::graphql::types::School;
use crate::wonde::WondeClient;

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Asks Wonde for access to a school; the school approves in Wonde, and
    /// the schoolApproved webhook completes the connection. Trust admins
    /// only. Allowed again after DECLINED or REVOKED; when Wonde already
    /// approved us but no token is held here, fails with
    /// WONDE_ALREADY_APPROVED unless `revokeAndRerequest`. Other errors:
    /// WONDE_NOT_FOUND (no such school), WONDE_UNAUTHORIZED (the app token
    /// was refused), WONDE_REFUSED (any other refusal; the message carries
    /// Wonde's words), WONDE_UNAVAILABLE (Wonde could not be reached, or is
    /// failing). Nothing is recorded on any error.
    async fn request_wonde_access(
        &self,
        ctx: &Context<'_>,
        input: RequestWondeAccessInput,
    ) -> async_graphql::Result<School> {
        let (rc, trust_id) = trust_admin_of(ctx, &input.trust_id, "ask Wonde for access")?;
        let client = service::<WondeClient>(ctx, "Wonde client missing")?;
        let app_token = ctx.data::<WondeAppToken>().ok().and_then(|t| t.0.as_ref());
        let request = Request {
            trust_id,
            wonde_school_id: input.wonde_school_id,
            contact: Contact {
                first_name: input.contact.first_name,
                last_name: input.contact.last_name,
                email: input.contact.email,
                phone: input.contact.phone,
                notes: input.contact.notes,
            },
            revoke_and_rerequest: input.revoke_and_rerequest.unwrap_or(false),
            requested_by: rc.viewer.token_id,
        };
        let requested = access_requests::request(&rc.db, client, app_token, request).await.gql()?;
        school(rc, requested.id).await.gql()
    }
}
