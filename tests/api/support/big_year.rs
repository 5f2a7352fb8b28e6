//! A year group of any size, written in bulk, for the parent-group
//! statement-count test and benchmark (benches include this file by path).
//!
//! Each pupil is in the year, one form and one class, with a mother of
//! their own (parental responsibility, lives with them) and a father shared
//! with the next pupil (no parental responsibility): about 1.5 guardians per
//! pupil, siblings included.

use chrono::Utc;
use entity::enums::{AccountStatus, RelationshipType};
use entity::{class, class_student, form_group, form_student, guardian, guardian_link, student};
use entity::{year_group, year_student};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};

/// The groups of one generated year.
pub struct BigYear {
    pub year: year_group::Model,
    pub form: form_group::Model,
    pub class: class::Model,
}

const CHUNK: usize = 400;

/// A new `$entity` row of the year's school with the given fields, created
/// and updated at `$now`, not yet written.
macro_rules! new_row {
    ($entity:ident, $school_id:expr, $now:expr, { $($field:ident: $value:expr),* $(,)? }) => {
        $entity::ActiveModel {
            school_id: Set($school_id),
            $($field: Set($value),)*
            created_at: Set($now),
            updated_at: Set($now),
            ..Default::default()
        }
    };
}

/// Writes `rows` in statements of `CHUNK` rows.
async fn insert_chunked<A>(db: &DatabaseConnection, rows: &[A]) -> anyhow::Result<()>
where
    A: ActiveModelTrait + Clone + Send,
{
    for chunk in rows.chunks(CHUNK) {
        A::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Writes a year of `size` pupils called `name` at `school_id`; `tag`
/// keeps Wonde ids unique within the school.
pub async fn populate(
    db: &DatabaseConnection,
    school_id: i32,
    name: &str,
    tag: &str,
    size: usize,
) -> anyhow::Result<BigYear> {
    let now = Utc::now();
    // One of the year's groups, written now; its Wonde id is `prefix-tag`.
    macro_rules! group {
        ($entity:ident, $prefix:literal, $name:expr) => {
            new_row!($entity, school_id, now, {
                wonde_id: format!("{}-{tag}", $prefix),
                name: $name,
                active: true,
            })
            .insert(db)
            .await?
        };
    }
    let year = group!(year_group, "Y", name.to_owned());
    let form = group!(form_group, "F", format!("{name} Blue"));
    let class = group!(class, "C", format!("{name} English"));

    let students: Vec<student::ActiveModel> = (0..size)
        .map(|i| {
            new_row!(student, school_id, now, {
                wonde_id: format!("S-{tag}-{i}"),
                forename: format!("Kid{i:04}"),
                surname: format!("Family{:04}", i / 2),
                status: AccountStatus::Active,
            })
        })
        .collect();
    let guardians: Vec<guardian::ActiveModel> = (0..size)
        .map(|i| (format!("M-{tag}-{i}"), "Mum", i))
        .chain((0..size).step_by(2).map(|i| (format!("D-{tag}-{i}"), "Dad", i)))
        .map(|(wonde_id, forename, i)| {
            let email = format!("{forename}{i}.{tag}@families.example").to_lowercase();
            new_row!(guardian, school_id, now, {
                wonde_id: wonde_id,
                forename: format!("{forename}{i:04}"),
                surname: format!("Family{:04}", i / 2),
                email: Some(email.clone()),
                email_key: Some(email),
                status: AccountStatus::Active,
            })
        })
        .collect();
    insert_chunked(db, &students).await?;
    insert_chunked(db, &guardians).await?;
    let prefix = format!("S-{tag}-");
    let mut student_ids: Vec<(String, i32)> = student::Entity::find()
        .filter(student::Column::SchoolId.eq(school_id))
        .filter(student::Column::WondeId.starts_with(prefix.as_str()))
        .order_by_asc(student::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.wonde_id, s.id))
        .collect();
    student_ids.sort_by_key(|(w, _)| w[prefix.len()..].parse::<usize>().unwrap_or(usize::MAX));
    let guardian_id: std::collections::HashMap<String, i32> = guardian::Entity::find()
        .filter(guardian::Column::SchoolId.eq(school_id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.wonde_id, g.id))
        .collect();

    let mut links = Vec::new();
    let mut years = Vec::new();
    let mut forms = Vec::new();
    let mut classes = Vec::new();
    for (i, (_, student)) in student_ids.iter().enumerate() {
        // The pupil's active membership of `$group`.
        macro_rules! membership {
            ($entity:ident, $group_column:ident: $group:expr) => {
                new_row!($entity, school_id, now, {
                    $group_column: $group.id,
                    student_id: *student,
                    active: true,
                })
            };
        }
        let link = |guardian: i32, relationship, pr: bool, priority: i32| {
            new_row!(guardian_link, school_id, now, {
                student_id: *student,
                guardian_id: guardian,
                relationship: relationship,
                parental_responsibility: Some(pr),
                lives_with_student: Some(priority == 1),
                priority: Some(priority),
                active: true,
            })
        };
        let mother = guardian_id[&format!("M-{tag}-{i}")];
        let father = guardian_id[&format!("D-{tag}-{}", i - i % 2)];
        links.push(link(mother, RelationshipType::Mother, true, 1));
        links.push(link(father, RelationshipType::Father, false, 2));
        years.push(membership!(year_student, year_group_id: year));
        forms.push(membership!(form_student, form_group_id: form));
        classes.push(membership!(class_student, class_id: class));
    }
    insert_chunked(db, &links).await?;
    insert_chunked(db, &years).await?;
    insert_chunked(db, &forms).await?;
    insert_chunked(db, &classes).await?;
    Ok(BigYear { year, form, class })
}
