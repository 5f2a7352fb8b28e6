//! The Node interface: every object with a global ID.

use async_graphql::{ID, Interface};

use super::*;

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Trust(Trust),
    School(School),
    Student(Student),
    Staff(Staff),
    Guardian(Guardian),
    Class(Class),
    YearGroup(YearGroup),
    FormGroup(FormGroup),
    Family(Family),
    SyncRun(SyncRun),
}
