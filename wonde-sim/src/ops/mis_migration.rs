//! A change of MIS: every record re-keyed, the school's people and groups
//! otherwise unchanged.

use serde::{Deserialize, Serialize};

use super::{SimError, change_mis};
use crate::world::World;

/// What a change of MIS does to a school's records.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct MisMigration {
    /// Give every record a new UPI as well as a new id (Wonde often does).
    #[serde(default)]
    pub new_upis: bool,
}

/// The school changes MIS: every record (students, leavers, employees,
/// contacts, classes, groups) gets a new Wonde id, and with `new_upis` a
/// new UPI; names, UPNs, emails, memberships and links stay. Everything is
/// dated now. The old ids get no deletion entries: the new MIS simply
/// does not know them.
pub(crate) fn migrate_mis(world: &mut World, school_id: &str, how: MisMigration) -> Result<(), SimError> {
    use std::collections::HashMap;
    change_mis(world, school_id, |world, mis, now| {
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut rekey = |world: &mut World, id: &mut String| {
            let fresh = world.fresh_id();
            ids.insert(std::mem::replace(id, fresh.clone()), fresh);
        };
        for student in mis.students.iter_mut().chain(mis.leavers.iter_mut()) {
            rekey(world, &mut student.id);
            if how.new_upis {
                student.upi = world.fresh_upi();
            }
            student.updated_at = now;
        }
        for employee in &mut mis.employees {
            rekey(world, &mut employee.id);
            if how.new_upis {
                employee.upi = world.fresh_upi();
            }
            employee.updated_at = now;
        }
        for contact in &mut mis.contacts {
            rekey(world, &mut contact.id);
            if how.new_upis {
                contact.upi = world.fresh_upi();
            }
            contact.updated_at = now;
        }
        for group in &mut mis.groups {
            rekey(world, &mut group.id);
            group.updated_at = now;
        }
        for class in &mut mis.classes {
            rekey(world, &mut class.id);
            class.updated_at = now;
        }
        let new = |old: &str| ids.get(old).cloned().unwrap_or_else(|| old.to_owned());
        for student in mis.students.iter_mut().chain(mis.leavers.iter_mut()) {
            student.year_group_id = student.year_group_id.as_deref().map(new);
            student.form_group_id = student.form_group_id.as_deref().map(new);
        }
        for group in &mut mis.groups {
            group.employee_ids = group.employee_ids.iter().map(|e| new(e)).collect();
        }
        for class in &mut mis.classes {
            class.student_ids = class.student_ids.iter().map(|s| new(s)).collect();
            for teaching in &mut class.teachers {
                teaching.employee_id = new(&teaching.employee_id);
            }
        }
        for link in &mut mis.links {
            link.student_id = new(&link.student_id);
            link.contact_id = new(&link.contact_id);
        }
        mis.school.updated_at = now;
        Ok(())
    })
}
