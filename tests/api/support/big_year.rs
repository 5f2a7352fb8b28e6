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
    let year = year_group::ActiveModel {
        school_id: Set(school_id),
        wonde_id: Set(format!("Y-{tag}")),
        name: Set(name.to_owned()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let form = form_group::ActiveModel {
        school_id: Set(school_id),
        wonde_id: Set(format!("F-{tag}")),
        name: Set(format!("{name} Blue")),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let class = class::ActiveModel {
        school_id: Set(school_id),
        wonde_id: Set(format!("C-{tag}")),
        name: Set(format!("{name} English")),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;

    let students: Vec<student::ActiveModel> = (0..size)
        .map(|i| student::ActiveModel {
            school_id: Set(school_id),
            wonde_id: Set(format!("S-{tag}-{i}")),
            forename: Set(format!("Kid{i:04}")),
            surname: Set(format!("Family{:04}", i / 2)),
            status: Set(AccountStatus::Active),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    let guardians: Vec<guardian::ActiveModel> = (0..size)
        .map(|i| (format!("M-{tag}-{i}"), "Mum", i))
        .chain((0..size).step_by(2).map(|i| (format!("D-{tag}-{i}"), "Dad", i)))
        .map(|(wonde_id, forename, i)| guardian::ActiveModel {
            school_id: Set(school_id),
            wonde_id: Set(wonde_id),
            forename: Set(format!("{forename}{i:04}")),
            surname: Set(format!("Family{:04}", i / 2)),
            email: Set(Some(format!("{forename}{i}.{tag}@families.example").to_lowercase())),
            email_key: Set(Some(format!("{forename}{i}.{tag}@families.example").to_lowercase())),
            status: Set(AccountStatus::Active),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in students.chunks(CHUNK) {
        student::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in guardians.chunks(CHUNK) {
        guardian::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
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
        let link = |guardian: i32, relationship, pr: bool, priority: i32| guardian_link::ActiveModel {
            school_id: Set(school_id),
            student_id: Set(*student),
            guardian_id: Set(guardian),
            relationship: Set(relationship),
            parental_responsibility: Set(Some(pr)),
            lives_with_student: Set(Some(priority == 1)),
            priority: Set(Some(priority)),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let mother = guardian_id[&format!("M-{tag}-{i}")];
        let father = guardian_id[&format!("D-{tag}-{}", i - i % 2)];
        links.push(link(mother, RelationshipType::Mother, true, 1));
        links.push(link(father, RelationshipType::Father, false, 2));
        years.push(year_student::ActiveModel {
            school_id: Set(school_id),
            year_group_id: Set(year.id),
            student_id: Set(*student),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        forms.push(form_student::ActiveModel {
            school_id: Set(school_id),
            form_group_id: Set(form.id),
            student_id: Set(*student),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        classes.push(class_student::ActiveModel {
            school_id: Set(school_id),
            class_id: Set(class.id),
            student_id: Set(*student),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
    }
    for chunk in links.chunks(CHUNK) {
        guardian_link::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in years.chunks(CHUNK) {
        year_student::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in forms.chunks(CHUNK) {
        form_student::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in classes.chunks(CHUNK) {
        class_student::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(BigYear { year, form, class })
}
