//! Test data written through the entity layer, as the sync will write it.

use chrono::{Duration, Utc};
use entity::enums::*;
use entity::*;
use onroll::crypto::{Secret, SecretKey};
use onroll::graphql::ids::{NodeType, encode};
use onroll::tenancy::{TokenSpec, create_token, create_trust};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};

/// Inserts a new `$entity` row with the given fields, created and updated
/// now; evaluates to the stored row (or returns the error with `?`).
macro_rules! insert_new {
    ($db:expr, $entity:ident { $($field:ident: $value:expr),* $(,)? }) => {{
        let now = Utc::now();
        $entity::ActiveModel {
            $($field: Set($value),)*
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert($db)
        .await?
    }};
}

/// A student, staff member or guardian of `$school` with the given fields,
/// active (never deactivated), as a sync creates one.
macro_rules! insert_active_person {
    (
        $db:expr, $entity:ident, $school:expr, $wonde_id:expr, $forename:expr, $surname:expr,
        { $($field:ident: $value:expr),* $(,)? }
    ) => {
        insert_new!($db, $entity {
            school_id: $school.id,
            wonde_id: $wonde_id.to_owned(),
            forename: $forename.to_owned(),
            surname: $surname.to_owned(),
            $($field: $value,)*
            status: AccountStatus::Active,
            deactivated_at: None,
            deactivation_reason: None,
        })
    };
}

/// An active class, year or form group of `$school`, with its own fields
/// (code, subject) given.
macro_rules! insert_group {
    (
        $db:expr, $entity:ident, $school:expr, $wonde_id:expr, $name:expr,
        { $($field:ident: $value:expr),* $(,)? }
    ) => {
        insert_new!($db, $entity {
            school_id: $school.id,
            wonde_id: $wonde_id.to_owned(),
            name: $name.to_owned(),
            $($field: $value,)*
            active: true,
        })
    };
}

/// Declares one `Fixture` method per junction table:
/// `name(group, member) => table(group_column, member_column)` makes
/// `name(&self, &group::Model, &member::Model)`, which writes an active
/// membership of the member in the group, in the group's school.
macro_rules! membership_methods {
    ($(
        $name:ident($group:ident, $member:ident) => $entity:ident($group_column:ident, $member_column:ident);
    )*) => {
        $(
            pub async fn $name(&self, group: &$group::Model, member: &$member::Model) -> anyhow::Result<()> {
                insert_new!(self.db, $entity {
                    school_id: group.school_id,
                    $group_column: group.id,
                    $member_column: member.id,
                    active: true,
                    ended_at: None,
                });
                Ok(())
            }
        )*
    };
}

pub struct Fixture<'a> {
    db: &'a DatabaseConnection,
}

/// A global ID as the API shows it.
pub fn gid(kind: NodeType, id: i32) -> String {
    encode(kind, id).0
}

/// A database of its own on `engine` holding one trust, `trust`, and its
/// school `school`.
pub async fn school_db(
    engine: &super::Engine,
    trust: &str,
    school: &str,
) -> anyhow::Result<(super::TestDb, school::Model)> {
    let data = super::TestDb::create(engine).await?;
    let f = Fixture::new(&data.db);
    let trust = f.trust(trust).await?;
    let school = f.school(&trust, school).await?;
    Ok((data, school))
}

impl<'a> Fixture<'a> {
    pub fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn trust(&self, name: &str) -> anyhow::Result<trust::Model> {
        Ok(create_trust(self.db, name).await?)
    }

    pub async fn school(&self, trust: &trust::Model, name: &str) -> anyhow::Result<school::Model> {
        let school = insert_new!(
            self.db,
            school {
                trust_id: trust.id,
                wonde_id: Some(format!("W{}", name.replace(' ', ""))),
                name: name.to_owned(),
                urn: Some("100001".to_owned()),
                la_code: Some("301".to_owned()),
                establishment_number: Some("2001".to_owned()),
                phase: Some("PRIMARY".to_owned()),
                mis: Some("SIMS".to_owned()),
                postcode: Some("CB8 7SG".to_owned()),
            }
        );
        // As the server's own school creation does: trust-wide tokens
        // cached before the school see it at once.
        onroll::auth::cache::forget_trust_everywhere(self.db, trust.id).await;
        Ok(school)
    }

    pub async fn token(&self, role: Role, trust: Option<i32>, schools: &[i32]) -> anyhow::Result<String> {
        let spec = TokenSpec {
            role,
            trust_id: trust,
            school_ids: schools.to_vec(),
            label: None,
            expires_in: None,
            scopes: Vec::new(),
        };
        Ok(create_token(self.db, &spec).await?.0)
    }

    pub async fn student(
        &self,
        school: &school::Model,
        wonde_id: &str,
        forename: &str,
        surname: &str,
        upn: Option<&str>,
    ) -> anyhow::Result<student::Model> {
        Ok(insert_active_person!(self.db, student, school, wonde_id, forename, surname, {
            upi: Some(format!("upi-{}-{wonde_id}", school.id)),
            mis_id: Some(format!("mis-{wonde_id}")),
            email: Some(format!("{}.{}@pupils.example", forename.to_lowercase(), surname.to_lowercase())),
            upn: upn.map(str::to_owned),
            leaving_date: None,
        }))
    }

    pub async fn deactivate_student(
        &self,
        student: &student::Model,
        reason: DeactivationReason,
    ) -> anyhow::Result<student::Model> {
        let mut row: student::ActiveModel = student.clone().into();
        row.status = Set(AccountStatus::Deactivated);
        row.deactivated_at = Set(Some(Utc::now()));
        row.deactivation_reason = Set(Some(reason));
        Ok(row.update(self.db).await?)
    }

    pub async fn staff(
        &self,
        school: &school::Model,
        wonde_id: &str,
        forename: &str,
        surname: &str,
    ) -> anyhow::Result<staff::Model> {
        Ok(insert_active_person!(self.db, staff, school, wonde_id, forename, surname, {
            upi: None,
            mis_id: None,
            title: Some("Ms".to_owned()),
            email: Some(format!("{}@staff.example", forename.to_lowercase())),
        }))
    }

    pub async fn guardian(
        &self,
        school: &school::Model,
        wonde_id: &str,
        forename: &str,
        surname: &str,
        email: Option<&str>,
    ) -> anyhow::Result<guardian::Model> {
        Ok(insert_active_person!(self.db, guardian, school, wonde_id, forename, surname, {
            upi: None,
            mis_id: None,
            title: None,
            email: email.map(str::to_owned),
            email_key: email.and_then(onroll::families::email_key),
        }))
    }

    pub async fn link(
        &self,
        student: &student::Model,
        guardian: &guardian::Model,
        relationship: RelationshipType,
        priority: i32,
    ) -> anyhow::Result<guardian_link::Model> {
        Ok(insert_new!(
            self.db,
            guardian_link {
                school_id: student.school_id,
                student_id: student.id,
                guardian_id: guardian.id,
                relationship: relationship,
                relationship_label: Some(format!("{relationship:?}")),
                parental_responsibility: Some(true),
                lives_with_student: Some(priority == 1),
                priority: Some(priority),
                active: true,
                ended_at: None,
            }
        ))
    }

    pub async fn class(
        &self,
        school: &school::Model,
        wonde_id: &str,
        name: &str,
    ) -> anyhow::Result<class::Model> {
        Ok(insert_group!(self.db, class, school, wonde_id, name, {
            code: Some(name.to_uppercase()),
            subject: Some("Mathematics".to_owned()),
        }))
    }

    pub async fn year_group(
        &self,
        school: &school::Model,
        wonde_id: &str,
        name: &str,
    ) -> anyhow::Result<year_group::Model> {
        Ok(insert_group!(self.db, year_group, school, wonde_id, name, { code: None }))
    }

    pub async fn form_group(
        &self,
        school: &school::Model,
        wonde_id: &str,
        name: &str,
    ) -> anyhow::Result<form_group::Model> {
        Ok(insert_group!(self.db, form_group, school, wonde_id, name, { code: None }))
    }

    membership_methods! {
        in_class(class, student) => class_student(class_id, student_id);
        teaches(class, staff) => class_teacher(class_id, staff_id);
        in_year(year_group, student) => year_student(year_group_id, student_id);
        in_form(form_group, student) => form_student(form_group_id, student_id);
        tutors(form_group, staff) => form_tutor(form_group_id, staff_id);
    }

    pub async fn sync_run(
        &self,
        school: &school::Model,
        kind: SyncKind,
        status: SyncStatus,
    ) -> anyhow::Result<sync_run::Model> {
        let now = Utc::now();
        Ok(sync_run::ActiveModel {
            school_id: Set(school.id),
            kind: Set(kind),
            status: Set(status),
            force: Set(false),
            queued_at: Set(now - Duration::minutes(5)),
            started_at: Set(Some(now - Duration::minutes(4))),
            finished_at: Set(Some(now)),
            error: Set(None),
            claimed_by: Set(None),
            heartbeat_at: Set(None),
            students_created: Set(3),
            students_updated: Set(0),
            students_deactivated: Set(1),
            students_reactivated: Set(0),
            staff_created: Set(1),
            staff_updated: Set(0),
            staff_deactivated: Set(0),
            staff_reactivated: Set(0),
            guardians_created: Set(2),
            guardians_updated: Set(0),
            guardians_deactivated: Set(0),
            guardians_reactivated: Set(0),
            groups_created: Set(2),
            groups_updated: Set(0),
            groups_deactivated: Set(0),
            groups_reactivated: Set(0),
            ..Default::default()
        }
        .insert(self.db)
        .await?)
    }

    pub async fn connection(&self, school: &school::Model) -> anyhow::Result<wonde_connection::Model> {
        let wonde_id = school.wonde_id.clone().unwrap_or_default();
        let created =
            onroll::connections::create(self.db, school.id, &wonde_id, ConnectionStatus::Approved, None)
                .await?;
        let mut row: wonde_connection::ActiveModel = created.into();
        // A stand-in for a sealed token: tests check it never reaches the API.
        row.token_ciphertext = Set(Some("sealed".to_owned()));
        row.sync_form_groups = Set(false);
        row.last_full_sync_at = Set(Some(Utc::now()));
        Ok(row.update(self.db).await?)
    }

    /// An approved Wonde connection of `school` to the Wonde school
    /// `wonde_school_id`, with its `token` sealed by `key`: what an approval
    /// leaves, ready to sync.
    pub async fn approved_connection(
        &self,
        school: &school::Model,
        wonde_school_id: &str,
        token: &str,
        key: &SecretKey,
    ) -> anyhow::Result<wonde_connection::Model> {
        let token = Secret::new(token.to_owned());
        let approved = ConnectionStatus::Approved;
        Ok(onroll::connections::create(self.db, school.id, wonde_school_id, approved, Some((&token, key)))
            .await?)
    }

    pub async fn deactivation_event(
        &self,
        student: &student::Model,
        trust: &trust::Model,
        run: Option<&sync_run::Model>,
        kind: EventKind,
    ) -> anyhow::Result<event::Model> {
        Ok(event::ActiveModel {
            trust_id: Set(trust.id),
            school_id: Set(student.school_id),
            kind: Set(kind),
            person_kind: Set(Some(PersonKind::Student)),
            person_id: Set(Some(student.id)),
            reason: Set(Some(DeactivationReason::LeftSchool)),
            sync_run_id: Set(run.map(|r| r.id)),
            payload: Set(None),
            occurred_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(self.db)
        .await?)
    }
}

/// The standard trust most tests read: two schools sharing a family, and a
/// second trust that nobody of the first may see.
pub struct Scenario {
    pub trust: trust::Model,
    pub school_a: school::Model,
    pub school_b: school::Model,
    pub other_school: school::Model,
    pub trust_admin: String,
    pub school_a_admin: String,
    pub integrator: String,
    pub integrator_b: String,
    pub other_admin: String,
    /// Ann Smith's children: `ann_a` at school A, `ann_b` at B (Ann's email
    /// differs in case and spaces between the schools).
    pub ann_a: student::Model,
    pub ann_b: student::Model,
    pub ann_at_a: guardian::Model,
    pub ann_at_b: guardian::Model,
    /// A child at A whose family stays at A.
    pub solo: student::Model,
    pub leaver: student::Model,
    pub class: class::Model,
    pub year: year_group::Model,
    pub form: form_group::Model,
    pub teacher: staff::Model,
    pub run: sync_run::Model,
    pub other_student: student::Model,
}

impl Scenario {
    pub async fn build(db: &DatabaseConnection) -> anyhow::Result<Self> {
        let f = Fixture::new(db);
        let trust = f.trust("Northern Lights Academy Trust").await?;
        let other = f.trust("Elsewhere Trust").await?;
        let school_a = f.school(&trust, "Ash Primary").await?;
        let school_b = f.school(&trust, "Birch Secondary").await?;
        let other_school = f.school(&other, "Cedar Primary").await?;

        let ann_a = f.student(&school_a, "SA1", "Amy", "Smith", Some("R100000000001")).await?;
        let solo = f.student(&school_a, "SA2", "Ben", "Jones", Some("F100000000002")).await?;
        let leaver = f.student(&school_a, "SA3", "Cara", "Leaves", Some("V100000000003")).await?;
        let leaver = f.deactivate_student(&leaver, DeactivationReason::LeftSchool).await?;
        let ann_b = f.student(&school_b, "SB1", "Tom", "Smith", Some("U200000000001")).await?;
        let other_student = f.student(&other_school, "SC1", "Zed", "Hidden", Some("W300000000001")).await?;

        let ann_at_a = f.guardian(&school_a, "GA1", "Ann", "Smith", Some("ann.smith@example.org")).await?;
        let ann_at_b = f.guardian(&school_b, "GB1", "Ann", "Smith", Some("  Ann.Smith@Example.ORG ")).await?;
        let dad = f.guardian(&school_a, "GA2", "Dan", "Smith", None).await?;
        let jones = f.guardian(&school_a, "GA3", "Jo", "Jones", Some("jo@jones.example")).await?;
        let hidden = f.guardian(&other_school, "GC1", "Ann", "Smith", Some("ann.smith@example.org")).await?;
        f.link(&ann_a, &ann_at_a, RelationshipType::Mother, 1).await?;
        f.link(&ann_a, &dad, RelationshipType::Father, 2).await?;
        f.link(&ann_b, &ann_at_b, RelationshipType::Mother, 1).await?;
        f.link(&solo, &jones, RelationshipType::FosterCarer, 1).await?;
        f.link(&other_student, &hidden, RelationshipType::Mother, 1).await?;

        let class = f.class(&school_a, "CA1", "Maths 5A").await?;
        let year = f.year_group(&school_a, "YA5", "Year 5").await?;
        let form = f.form_group(&school_a, "FA5", "5 Red").await?;
        let teacher = f.staff(&school_a, "EA1", "Maya", "Teach").await?;
        f.in_class(&class, &ann_a).await?;
        f.in_class(&class, &solo).await?;
        f.teaches(&class, &teacher).await?;
        f.in_year(&year, &ann_a).await?;
        f.in_year(&year, &solo).await?;
        f.in_form(&form, &ann_a).await?;
        f.tutors(&form, &teacher).await?;
        f.staff(&school_b, "EB1", "Sam", "Head").await?;
        f.connection(&school_a).await?;
        let run = f.sync_run(&school_a, SyncKind::Full, SyncStatus::Completed).await?;
        f.deactivation_event(&leaver, &trust, Some(&run), EventKind::Deactivated).await?;

        Ok(Self {
            trust_admin: f.token(Role::TrustAdmin, Some(trust.id), &[]).await?,
            school_a_admin: f.token(Role::SchoolAdmin, None, &[school_a.id]).await?,
            integrator: f.token(Role::Integrator, Some(trust.id), &[]).await?,
            integrator_b: f.token(Role::Integrator, Some(trust.id), &[school_b.id]).await?,
            other_admin: f.token(Role::TrustAdmin, Some(other.id), &[]).await?,
            trust,
            school_a,
            school_b,
            other_school,
            ann_a,
            ann_b,
            ann_at_a,
            ann_at_b,
            solo,
            leaver,
            class,
            year,
            form,
            teacher,
            run,
            other_student,
        })
    }
}
