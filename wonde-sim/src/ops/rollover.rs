//! The year-end rollover: the top year leaves, everyone else moves up, and
//! a new intake joins.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{SimError, change_mis, place, remove_from_roll, student_pos, year_code_of};
use crate::generate::{self, NewStudent};
use crate::model::{GroupKind, MisSnapshot, Student};
use crate::world::World;

/// What a year-end rollover did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RolloverSummary {
    /// Students of the top year, now leavers.
    pub left: Vec<String>,
    /// The new intake of the youngest year.
    pub joined: Vec<String>,
    /// Students who moved up a year.
    pub moved_up: usize,
}

/// Year-end: the top year leaves, everyone else moves up a year (same form
/// letter, new sets), and a new intake as large as the old youngest year
/// joins with new families.
pub(crate) fn rollover(world: &mut World, school_id: &str) -> Result<RolloverSummary, SimError> {
    change_mis(world, school_id, |world, mis, now| {
        let today = now.date_naive();
        let years = generate::year_codes(&mis.school.phase_of_education);
        let (Some(top), Some(bottom)) = (years.last().cloned(), years.first().cloned()) else {
            return Err(SimError::Invalid("school has no years".into()));
        };
        let mut summary = RolloverSummary::default();
        let code_of = |mis: &MisSnapshot, s: &Student| year_code_of(mis, s);

        // Leavers first.
        let leaving: Vec<String> = mis
            .students
            .iter()
            .filter(|s| code_of(mis, s).as_deref() == Some(top.as_str()))
            .map(|s| s.id.clone())
            .collect();
        for id in &leaving {
            if let Ok(pos) = student_pos(mis, id) {
                remove_from_roll(mis, pos, today, now);
            }
        }
        summary.left = leaving;
        let intake = mis
            .students
            .iter()
            .filter(|s| code_of(mis, s).as_deref() == Some(bottom.as_str()))
            .count()
            .max(1);

        // Everyone else moves up; sets are re-cut from scratch.
        for class in &mut mis.classes {
            class.student_ids.clear();
            class.updated_at = now;
        }
        let mut moving: Vec<(usize, String, Option<usize>)> = Vec::new();
        for (pos, s) in mis.students.iter().enumerate() {
            let Some(code) = code_of(mis, s) else { continue };
            let Some(y) = years.iter().position(|c| *c == code) else { continue };
            let form_index =
                s.form_group_id.as_ref().and_then(|f| forms_of(mis, &code).iter().position(|g| g == f));
            if let Some(next) = years.get(y + 1) {
                moving.push((pos, next.clone(), form_index));
            }
        }
        moving.shuffle(&mut world.rng);
        for (pos, next, form_index) in moving {
            let forms = forms_of(mis, &next);
            let form = form_index.and_then(|k| forms.get(k % forms.len().max(1)).cloned());
            place(mis, pos, &next, form.as_deref(), now)?;
            summary.moved_up += 1;
        }
        for g in &mut mis.groups {
            g.updated_at = now;
        }

        // The new intake.
        for _ in 0..intake {
            let mut student =
                generate::make_student(world, &mis.school, &NewStudent { year_code: &bottom, surname: None });
            student.created_at = now;
            student.updated_at = now;
            student.admission_date = today;
            mis.students.push(student);
            let pos = mis.students.len() - 1;
            place(mis, pos, &bottom, None, now)?;
            generate::families::add_new_family(world, mis, pos);
            summary.joined.push(mis.students[pos].id.clone());
        }
        Ok(summary)
    })
}

fn forms_of(mis: &MisSnapshot, year_code: &str) -> Vec<String> {
    let mut forms: Vec<&crate::model::Group> =
        mis.groups.iter().filter(|g| g.kind == GroupKind::Registration && g.year_code == year_code).collect();
    forms.sort_by(|a, b| a.name.cmp(&b.name));
    forms.into_iter().map(|g| g.id.clone()).collect()
}
