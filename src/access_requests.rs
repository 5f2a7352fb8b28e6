//! Asking Wonde for access to a school (product.md, "Asking Wonde for
//! access"): Wonde's request-access with the requester's contact details,
//! then the school and its connection recorded as PENDING until the
//! `schoolApproved` webhook brings the token.
//!
//! Wonde is asked first and the database written only when Wonde agreed,
//! so a refusal (unknown school, Wonde down, already approved) leaves
//! nothing behind.

use chrono::Utc;
use entity::enums::ConnectionStatus;
use entity::{school, wonde_catalog_school, wonde_connection};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
};

use crate::catalog;
use crate::connections;
use crate::wonde::model::AccessOutcome;
use crate::wonde::{AccessContact, AccessRequest, SecretToken, WondeClient, WondeError};

/// Who asks, as Wonde passes it on to the school.
#[derive(Clone, Debug)]
pub struct Contact {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub notes: Option<String>,
}

/// A request, checked by [`Contact::validate`] and the caller's scope.
#[derive(Clone, Debug)]
pub struct Request {
    pub trust_id: i32,
    pub wonde_school_id: String,
    pub contact: Contact,
    pub revoke_and_rerequest: bool,
    /// The API token that asked (recorded as who requested).
    pub requested_by: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    BadInput(String),
    #[error("that school belongs to another trust here")]
    OtherTrust,
    #[error("the school is already connected: its token is held here")]
    AlreadyConnected,
    #[error(
        "Wonde says access to this school is already approved, but no token for it is held here: \
         ask again with revokeAndRerequest to revoke that access and request it anew"
    )]
    AlreadyApproved,
    #[error("Wonde has no school with that id")]
    UnknownSchool,
    #[error("Wonde refused the app's token (WONDE_APP_TOKEN)")]
    AppTokenRefused,
    #[error("access requests need the app's Wonde token: set WONDE_APP_TOKEN")]
    NotConfigured,
    /// No answer at all: connection refused or dropped, or timed out.
    #[error("Wonde could not be reached; nothing was recorded, try again")]
    Unavailable(#[source] WondeError),
    /// Wonde answered, with a server error or rate limit after retries, or
    /// an answer that was not whole.
    #[error("Wonde is failing at the moment; nothing was recorded, try again later")]
    Failing(#[source] WondeError),
    /// Any other refusal, in Wonde's words (cleaned of anything token-like).
    #[error("Wonde refused the request ({status}): {message}; nothing was recorded")]
    Refused { status: u16, message: String },
    #[error("Wonde answered the request in a way we do not understand ({0}); nothing was recorded")]
    Unexpected(String),
    #[error("the directory's database failed: {0}")]
    Database(#[from] DbErr),
}

/// The longest contact field we pass on; Wonde's own limits are unknown.
const MAX_FIELD: usize = 200;
const MAX_NOTES: usize = 2000;

impl Contact {
    /// Trims every field and refuses what Wonde could not use.
    pub fn validate(self) -> Result<Self, RequestError> {
        let required = |value: &str, name: &str| {
            let value = value.trim().to_owned();
            if value.is_empty() {
                return Err(RequestError::BadInput(format!("contact {name} is required")));
            }
            if value.chars().count() > MAX_FIELD {
                return Err(RequestError::BadInput(format!(
                    "contact {name} is longer than {MAX_FIELD} characters"
                )));
            }
            Ok(value)
        };
        let first_name = required(&self.first_name, "firstName")?;
        let last_name = required(&self.last_name, "lastName")?;
        let email = required(&self.email, "email")?;
        if !plausible_email(&email) {
            return Err(RequestError::BadInput("contact email is not an email address".to_owned()));
        }
        let optional = |value: Option<String>, max: usize, name: &str| {
            let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            match value {
                Some(v) if v.chars().count() > max => {
                    Err(RequestError::BadInput(format!("contact {name} is longer than {max} characters")))
                }
                other => Ok(other),
            }
        };
        Ok(Self {
            first_name,
            last_name,
            email,
            phone: optional(self.phone, MAX_FIELD, "phone")?,
            notes: optional(self.notes, MAX_NOTES, "notes")?,
        })
    }
}

/// One `@`, something before it, a dot in the domain, no spaces.
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

/// Asks Wonde, then records the school as PENDING; returns the school.
pub async fn request(
    db: &DatabaseConnection,
    client: &WondeClient,
    app_token: Option<&SecretToken>,
    request: Request,
) -> Result<school::Model, RequestError> {
    let wonde_id = request.wonde_school_id.trim().to_owned();
    if wonde_id.is_empty() {
        return Err(RequestError::BadInput("wondeSchoolId is required".to_owned()));
    }
    let contact = request.contact.clone().validate()?;
    let app_token = app_token.ok_or(RequestError::NotConfigured)?;
    let known = school::Entity::find().filter(school::Column::WondeId.eq(wonde_id.as_str())).one(db).await?;
    if let Some(known) = &known {
        if known.trust_id != request.trust_id {
            return Err(RequestError::OtherTrust);
        }
        let connection = connections::by_wonde_id(db, &wonde_id).await?;
        if connection.is_some_and(|c| c.status == ConnectionStatus::Approved && c.token_ciphertext.is_some())
        {
            return Err(RequestError::AlreadyConnected);
        }
    }

    let asked = AccessRequest {
        contacts: vec![AccessContact {
            first_name: contact.first_name,
            last_name: contact.last_name,
            phone_number: contact.phone,
            email_address: contact.email,
            notes: contact.notes,
        }],
    };
    let mut outcome = ask(client, app_token, &wonde_id, &asked).await?;
    if outcome == AccessOutcome::AlreadyApproved && request.revoke_and_rerequest {
        client.revoke_access(app_token, &wonde_id).await.map_err(wonde_error)?;
        outcome = ask(client, app_token, &wonde_id, &asked).await?;
    }
    match outcome {
        AccessOutcome::Pending => {}
        AccessOutcome::AlreadyApproved => return Err(RequestError::AlreadyApproved),
        other => return Err(RequestError::Unexpected(format!("{other:?}").to_lowercase())),
    }
    record_pending(db, &request, &wonde_id, known).await
}

async fn ask(
    client: &WondeClient,
    app_token: &SecretToken,
    wonde_id: &str,
    asked: &AccessRequest,
) -> Result<AccessOutcome, RequestError> {
    let answer = client.request_access(app_token, wonde_id, asked).await.map_err(wonde_error)?;
    Ok(match answer.outcome() {
        // Wonde's documented answer says success and pending; an answer
        // that only says success is read the same way.
        AccessOutcome::Unknown if answer.success == Some(true) => AccessOutcome::Pending,
        outcome => outcome,
    })
}

/// Only a missing answer is "could not be reached"; an answer is told as
/// what it said.
fn wonde_error(err: WondeError) -> RequestError {
    match err {
        WondeError::NotFound { .. } => RequestError::UnknownSchool,
        WondeError::Unauthorized { .. } | WondeError::Forbidden { .. } => RequestError::AppTokenRefused,
        WondeError::Status { status, message, .. } => {
            RequestError::Refused { status, message: message.unwrap_or_else(|| "no reason given".to_owned()) }
        }
        err if err.is_unreachable() => RequestError::Unavailable(err),
        err
        @ (WondeError::Server { .. } | WondeError::RateLimited { .. } | WondeError::Incomplete { .. }) => {
            RequestError::Failing(err)
        }
        other => RequestError::Unexpected(other.to_string()),
    }
}

/// The school (details from the catalog when we have them) and its
/// connection, PENDING, with who asked; the catalog shows PENDING too.
async fn record_pending(
    db: &DatabaseConnection,
    request: &Request,
    wonde_id: &str,
    known: Option<school::Model>,
) -> Result<school::Model, RequestError> {
    let listed = wonde_catalog_school::Entity::find()
        .filter(wonde_catalog_school::Column::WondeId.eq(wonde_id))
        .one(db)
        .await?;
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let school = match known {
        Some(school) => school,
        None => {
            let listed = listed.as_ref();
            let text =
                |f: fn(&wonde_catalog_school::Model) -> &Option<String>| listed.and_then(|l| f(l).clone());
            school::ActiveModel {
                trust_id: Set(request.trust_id),
                wonde_id: Set(Some(wonde_id.to_owned())),
                name: Set(listed.map_or_else(|| wonde_id.to_owned(), |l| l.name.clone())),
                urn: Set(text(|l| &l.urn)),
                la_code: Set(text(|l| &l.la_code)),
                establishment_number: Set(text(|l| &l.establishment_number)),
                phase: Set(text(|l| &l.phase)),
                mis: Set(text(|l| &l.mis)),
                postcode: Set(text(|l| &l.postcode)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    let existing = wonde_connection::Entity::find()
        .filter(wonde_connection::Column::SchoolId.eq(school.id))
        .one(&txn)
        .await?;
    let connection = match existing {
        Some(connection) => connection,
        None => connections::create(&txn, school.id, wonde_id, ConnectionStatus::Pending, None).await?,
    };
    let mut row: wonde_connection::ActiveModel = connection.into();
    // A re-request starts clean: whatever token an earlier access left is
    // dead once Wonde revoked or the school declined.
    row.token_ciphertext = Set(None);
    row.requested_by_token_id = Set(Some(request.requested_by));
    row.updated_at = Set(now);
    let connection = row.update(&txn).await?;
    catalog::set_access_status(&txn, wonde_id, ConnectionStatus::Pending).await?;
    // Last: the status change appends an event (see `events::log`).
    connections::set_status(&txn, connection, ConnectionStatus::Pending, None).await?;
    txn.commit().await?;
    // A new school: trust-wide tokens cached before it see it at once.
    crate::auth::cache::forget_trust_everywhere(db, request.trust_id).await;
    Ok(school)
}

/// How the API says it (`extensions.code`): the error converts itself
/// where it is defined, so `error.rs` depends on nothing above it.
impl From<RequestError> for crate::error::AppError {
    fn from(err: RequestError) -> Self {
        use RequestError as E;
        let wonde = |code: &'static str, err: &E| Self::Wonde { code, message: err.to_string() };
        match err {
            E::BadInput(message) => Self::BadInput(message),
            E::AlreadyConnected => Self::BadInput(err.to_string()),
            E::OtherTrust => Self::Forbidden(err.to_string()),
            E::AlreadyApproved => wonde("WONDE_ALREADY_APPROVED", &err),
            E::UnknownSchool => wonde("WONDE_NOT_FOUND", &err),
            E::AppTokenRefused => wonde("WONDE_UNAUTHORIZED", &err),
            E::NotConfigured => wonde("WONDE_NOT_CONFIGURED", &err),
            E::Unavailable(_) | E::Failing(_) | E::Unexpected(_) => wonde("WONDE_UNAVAILABLE", &err),
            E::Refused { .. } => wonde("WONDE_REFUSED", &err),
            E::Database(err) => Self::Database(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(first: &str, last: &str, email: &str) -> Contact {
        Contact {
            first_name: first.into(),
            last_name: last.into(),
            email: email.into(),
            phone: Some("  ".into()),
            notes: None,
        }
    }

    #[test]
    fn contacts_are_trimmed_and_need_names_and_an_email() {
        let ok = contact(" Ann ", "Lee", " ann@trust.example ").validate();
        let ok = ok.ok().map(|c| (c.first_name, c.email, c.phone));
        assert_eq!(ok, Some(("Ann".into(), "ann@trust.example".into(), None)));
        for (first, last, email) in [
            ("", "Lee", "ann@trust.example"),
            ("Ann", " ", "ann@trust.example"),
            ("Ann", "Lee", ""),
            ("Ann", "Lee", "ann"),
            ("Ann", "Lee", "ann@localhost"),
            ("Ann", "Lee", "ann lee@trust.example"),
            ("Ann", "Lee", "a@b@trust.example"),
        ] {
            assert!(contact(first, last, email).validate().is_err(), "{first:?} {last:?} {email:?}");
        }
    }
}
