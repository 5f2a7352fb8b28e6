//! Every relation is batched: one nested query issues the same number of
//! SQL statements whether it returns 10 students or 100.

use entity::enums::RelationshipType;
use entity::school;
use onroll::graphql::ids::NodeType;
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::big_year;
use crate::support::fixture::{Fixture, Scenario, gid};
use crate::support::{Engine, TestApp};

on_both_engines!(
    nested_query_statement_count_is_constant,
    held_changes_statement_count_is_constant,
    parent_groups_statement_count_is_constant,
    total_is_counted_only_when_selected
);

const NESTED: &str = "query($school: ID!) { school(id: $school) { name
    students(first: 100) { totalCount edges { node {
        forename status
        yearGroup { name } formGroup { name tutors { forename } }
        classes { name teachers { forename } }
        guardians { relationship active guardian { forename email children { student { forename } } } }
        family { id guardians { forename school { name } } children { forename } schools { name } }
    } } } } }";

/// A school of `size` students, each with two guardians (one shared with a
/// sibling, one whose email matches a guardian at the other school), a year,
/// a form and two classes.
async fn populate(
    f: &Fixture<'_>,
    school: &school::Model,
    twin_school: &school::Model,
    size: usize,
) -> anyhow::Result<()> {
    let tag = school.id;
    let year = f.year_group(school, &format!("Y{tag}"), "Year 7").await?;
    let form = f.form_group(school, &format!("F{tag}"), "7 Blue").await?;
    let tutor = f.staff(school, &format!("T{tag}"), "Tess", "Tutor").await?;
    f.tutors(&form, &tutor).await?;
    let classes = [
        f.class(school, &format!("C{tag}a"), "English").await?,
        f.class(school, &format!("C{tag}b"), "Science").await?,
    ];
    for class in &classes {
        f.teaches(class, &tutor).await?;
    }
    let mut shared = None;
    for i in 0..size {
        let student = f
            .student(
                school,
                &format!("S{tag}-{i}"),
                &format!("Kid{i}"),
                "Load",
                Some(&format!("U{tag}{i:09}")),
            )
            .await?;
        f.in_year(&year, &student).await?;
        f.in_form(&form, &student).await?;
        for class in &classes {
            f.in_class(class, &student).await?;
        }
        let email = format!("parent{i}@families.example");
        let mother = f.guardian(school, &format!("M{tag}-{i}"), "Mum", "Load", Some(&email)).await?;
        f.link(&student, &mother, RelationshipType::Mother, 1).await?;
        // The same parent, known at the other school.
        let twin = f
            .guardian(twin_school, &format!("M{tag}-{i}-twin"), "Mum", "Load", Some(&email.to_uppercase()))
            .await?;
        let twin_child = f.student(twin_school, &format!("S{tag}-{i}-twin"), "Sib", "Load", None).await?;
        f.link(&twin_child, &twin, RelationshipType::Mother, 1).await?;
        // Every two children share a father.
        if i % 2 == 0 {
            shared = Some(f.guardian(school, &format!("D{tag}-{i}"), "Dad", "Load", None).await?);
        }
        if let Some(father) = &shared {
            f.link(&student, father, RelationshipType::Father, 2).await?;
        }
    }
    Ok(())
}

/// The statements `query` with `vars` costs when it runs a second time,
/// and its answer: the first request warms the pool (and the request's own
/// first statements), so connection set-up is not counted.
async fn measured(app: &TestApp, token: &str, query: &str, vars: &Value) -> anyhow::Result<(usize, Value)> {
    app.query(token, query, vars.clone()).await?;
    let before = app.statements();
    let data = app.query(token, query, vars.clone()).await?;
    Ok((app.statements() - before, data))
}

/// The edges at `edges` (a JSON pointer) of `answer`: how many.
fn edges_at(answer: &Value, edges: &str) -> usize {
    answer.pointer(edges).and_then(Value::as_array).map_or(0, Vec::len)
}

/// Statements (after a warm-up) of `query` at `school`, and how many edges
/// its answer holds at `edges`.
async fn statements_at(
    app: &TestApp,
    token: &str,
    (query, edges): (&str, &str),
    school: &school::Model,
) -> anyhow::Result<(usize, usize)> {
    let vars = json!({ "school": gid(NodeType::School, school.id) });
    let (statements, data) = measured(app, token, query, &vars).await?;
    Ok((statements, edges_at(&data, edges)))
}

/// A server, the scenario, and two new schools of its trust, `names`.
async fn two_schools(
    engine: &Engine,
    names: [&str; 2],
) -> anyhow::Result<(TestApp, Scenario, [school::Model; 2])> {
    let app = TestApp::spawn(engine).await?;
    let s = Scenario::build(app.db()).await?;
    let f = Fixture::new(app.db());
    let schools = [f.school(&s.trust, names[0]).await?, f.school(&s.trust, names[1]).await?];
    Ok((app, s, schools))
}

async fn nested_query_statement_count_is_constant(engine: Engine) -> anyhow::Result<()> {
    let (app, s, [small, large]) = two_schools(&engine, ["Small School", "Large School"]).await?;
    let f = Fixture::new(app.db());
    populate(&f, &small, &s.school_b, 10).await?;
    populate(&f, &large, &s.school_b, 200).await?;

    let nested = (NESTED, "/school/students/edges");
    let (small_count, small_rows) = statements_at(&app, &s.trust_admin, nested, &small).await?;
    let (large_count, large_rows) = statements_at(&app, &s.trust_admin, nested, &large).await?;
    assert_eq!(small_rows, 10);
    assert_eq!(large_rows, 100, "a page is capped at 100 of the 200");
    eprintln!("statements: {small_count} for 10 students, {large_count} for 100 of 200");
    assert_eq!(small_count, large_count);
    assert!(small_count < 40, "{small_count} statements is more than the query's shape needs");
    Ok(())
}

const HELD: &str =
    "query($school: ID!) { heldChanges(schoolId: $school, first: 100) { totalCount edges { node {
    id target evidence reason syncRun { id held }
    person { ... on Student { forename yearGroup { name } } }
    group { ... on Class { name } }
} } } }";

/// Holds a change for every student of `school` and every class membership.
async fn hold_everything(db: &sea_orm::DatabaseConnection, school: &school::Model) -> anyhow::Result<()> {
    use entity::enums::{DeactivationReason, HeldEvidence, HeldStatus, HeldTarget};
    use entity::{class_student, held_change, student};
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    let row = |target, target_id, pair: Option<(i32, i32)>, reason| held_change::ActiveModel {
        trust_id: Set(school.trust_id),
        school_id: Set(school.id),
        target: Set(target),
        target_id: Set(target_id),
        group_id: Set(pair.map(|p: (i32, i32)| p.0)),
        member_id: Set(pair.map(|p| p.1)),
        evidence: Set(HeldEvidence::AbsentFromFullFetch),
        reason: Set(reason),
        status: Set(HeldStatus::Pending),
        sync_run_id: Set(None),
        held_at: Set(chrono::Utc::now()),
        decided_at: Set(None),
        decided_by: Set(None),
        ..Default::default()
    };
    let mut rows = Vec::new();
    for s in student::Entity::find().filter(student::Column::SchoolId.eq(school.id)).all(db).await? {
        rows.push(row(HeldTarget::Student, s.id, None, Some(DeactivationReason::RemovedFromMis)));
    }
    for m in
        class_student::Entity::find().filter(class_student::Column::SchoolId.eq(school.id)).all(db).await?
    {
        rows.push(row(HeldTarget::ClassMembership, m.id, Some((m.class_id, m.student_id)), None));
    }
    for chunk in rows.chunks(200) {
        held_change::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// `heldChanges` resolves each change's person and group in batches.
async fn held_changes_statement_count_is_constant(engine: Engine) -> anyhow::Result<()> {
    let (app, s, [small, large]) = two_schools(&engine, ["Small Held School", "Large Held School"]).await?;
    let f = Fixture::new(app.db());
    populate(&f, &small, &s.school_b, 3).await?;
    populate(&f, &large, &s.school_b, 60).await?;
    hold_everything(app.db(), &small).await?;
    hold_everything(app.db(), &large).await?;
    let held = (HELD, "/heldChanges/edges");
    let (small_count, small_rows) = statements_at(&app, &s.trust_admin, held, &small).await?;
    let (large_count, large_rows) = statements_at(&app, &s.trust_admin, held, &large).await?;
    assert_eq!((small_rows, large_rows), (9, 100));
    eprintln!("statements: {small_count} for 9 held changes, {large_count} for 100 of 180");
    assert_eq!(small_count, large_count);
    assert!(small_count < 15, "{small_count} statements is more than the query's shape needs");
    Ok(())
}

/// The change log alone: its group loads would otherwise join or miss the
/// root `node` lookups' batch depending on timing.
const CHANGES: &str = "query($school: ID!) {
  groupMembershipChanges(schoolId: $school, first: 100) { edges { cursor node { kind occurredAt
      guardian { forename } school { name } syncRun { id }
      group { ... on YearGroup { name } ... on FormGroup { name } ... on Class { name } } } } } }";

const PARENTS: &str = "query($y: ID!, $f: ID!, $c: ID!, $name: String) {
  y: node(id: $y) { ... on YearGroup { guardianCount(filter: { parentalResponsibility: true })
      guardians(first: 100, filter: { parentalResponsibility: true }) { ...g } } }
  f: node(id: $f) { ... on FormGroup { guardianCount guardians(first: 100) { ...g } } }
  c: node(id: $c) { ... on Class { guardianCount(filter: { relationships: [FATHER] })
      guardians(first: 100, filter: { relationships: [MOTHER, FATHER], search: \"family\" }) { ...g } } }
  trusts { guardianCount(filter: { yearGroupName: $name })
      guardians(first: 100, filter: { yearGroupName: $name, livesWithStudent: false }) { ...g } } }
fragment g on GroupGuardianConnection { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { forename email } children { forename } relationships links { relationship } familyId } }";

/// Statements (after a warm-up) and edges of the form group's page.
async fn parents_statements(
    app: &TestApp,
    token: &str,
    year: &big_year::BigYear,
) -> anyhow::Result<(usize, usize)> {
    // The school's parent groups, logged as a first run would log them.
    use onroll::parent_groups::membership;
    use sea_orm::EntityTrait;
    let school = year.year.school_id;
    // Year groups only, so that a page of either size loads one kind of group.
    let mut after = membership::snapshot(app.db(), school).await?;
    after.retain(|(group, _)| matches!(group, onroll::parent_groups::GroupRef::Year(_)));
    let trust_id = school::Entity::find_by_id(school).one(app.db()).await?.map_or(0, |s| s.trust_id);
    let origin = membership::Origin { trust_id, school_id: school, run_id: None, now: chrono::Utc::now() };
    let rows = membership::changes(&Default::default(), &after, origin);
    onroll::events::log::append(app.db(), rows).await?;
    let vars = json!({
        "y": gid(NodeType::YearGroup, year.year.id),
        "f": gid(NodeType::FormGroup, year.form.id),
        "c": gid(NodeType::Class, year.class.id),
        "name": year.year.name,
    });
    let (statements, data) = measured(app, token, PARENTS, &vars).await?;
    let rows = edges_at(&data, "/f/guardians/edges");
    let vars = json!({ "school": gid(NodeType::School, school) });
    let (change_statements, data) = measured(app, token, CHANGES, &vars).await?;
    let changes = edges_at(&data, "/groupMembershipChanges/edges");
    assert_eq!(changes, rows, "one year group change per guardian, up to a page");
    Ok((statements + change_statements, rows))
}

/// Parent groups (year, form, class, trust-wide year; one request) and
/// their change log (another)
/// cost the same statements for a year of 10 pupils as for one of 1,000.
async fn parent_groups_statement_count_is_constant(engine: Engine) -> anyhow::Result<()> {
    let names = ["Small Parents School", "Large Parents School"];
    let (app, s, [small_school, large_school]) = two_schools(&engine, names).await?;
    let small = big_year::populate(app.db(), small_school.id, "Year 9 small", "s", 10).await?;
    let large = big_year::populate(app.db(), large_school.id, "Year 9 large", "l", 1_000).await?;
    let (small_count, small_rows) = parents_statements(&app, &s.trust_admin, &small).await?;
    let (large_count, large_rows) = parents_statements(&app, &s.trust_admin, &large).await?;
    assert_eq!((small_rows, large_rows), (15, 100), "15 guardians of 10 pupils; a page of the 1,500");
    eprintln!("statements: {small_count} for a year of 10, {large_count} for a year of 1,000");
    assert_eq!(small_count, large_count);
    assert!(small_count <= 40, "{small_count} statements is more than the query's shape needs");
    Ok(())
}

/// `totalCount` costs a `COUNT(*)` over every matching row: a page that
/// does not select it (directly, through a fragment or an alias) must not
/// pay for it, and one that does gets the true total.
async fn total_is_counted_only_when_selected(engine: Engine) -> anyhow::Result<()> {
    let (app, s) = TestApp::with_scenario(&engine).await?;
    let f = Fixture::new(app.db());
    let school = f.school(&s.trust, "Counted School").await?;
    populate(&f, &school, &s.school_b, 12).await?;
    let vars = json!({ "school": gid(NodeType::School, school.id) });
    let shapes = [
        (
            "plain",
            "query($school: ID!) { school(id: $school) { students(first: 5) { totalCount edges { node { id } } } } }",
            true,
        ),
        (
            "fragment",
            "query($school: ID!) { school(id: $school) { students(first: 5) { ...T edges { node { id } } } } } fragment T on StudentConnection { n: totalCount }",
            true,
        ),
        (
            "without",
            "query($school: ID!) { school(id: $school) { students(first: 5) { edges { node { id } } } } }",
            false,
        ),
    ];
    let mut counts = Vec::new();
    for (name, query, counted) in shapes {
        let (used, data) = measured(&app, &s.trust_admin, query, &vars).await?;
        let students = &data["school"]["students"];
        assert_eq!(edges_at(&data, "/school/students/edges"), 5, "{name}: {data}");
        if counted {
            let total = students.get("totalCount").or_else(|| students.get("n"));
            assert_eq!(total.and_then(Value::as_i64), Some(12), "{name}: {data}");
        }
        counts.push((name, used));
    }
    eprintln!("statements per shape: {counts:?}");
    assert_eq!(counts[0].1, counts[1].1, "a fragment's totalCount is counted like a direct one");
    assert_eq!(counts[2].1 + 1, counts[0].1, "without totalCount, the COUNT(*) is not issued");
    Ok(())
}
