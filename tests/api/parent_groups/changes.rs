//! Parent groups' membership followed through runs and logged for
//! polling: a class move and a leaver in the same run (synced from the
//! simulator over HTTP), an approval, and CSV form moves.

use entity::enums::{DeactivationReason, SyncKind, SyncStatus};
use entity::{class, event, guardian, student, year_group};
use onroll::graphql::ids::NodeType;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::held::Held;
use crate::on_both_engines;
use crate::row_by_wonde_id;
use crate::support::Engine;
use crate::support::fixture::{Fixture, gid};

use super::{group, year};

on_both_engines!(
    a_class_move_and_a_leaver_move_parents_in_the_same_run,
    an_approval_logs_the_parents_who_leave,
    csv_form_moves_log_joins_and_leaves,
    a_groups_changes_are_one_row_and_listed_one_guardian_at_a_time
);

const CHANGES: &str = "query($s: ID!, $after: String, $kind: GroupMembershipChangeKind) {
  groupMembershipChanges(schoolId: $s, after: $after, first: 100, kind: $kind) {
  pageInfo { hasNextPage endCursor }
  edges { cursor node { kind guardian { id } syncRun { id }
    group { __typename ... on Class { id } ... on YearGroup { id } ... on FormGroup { id } } } } } }";

/// Synced from the simulator over HTTP: a child moves class and another
/// leaves; in that same run the first child's parents leave the old
/// class's group and join the new one, and the leaver's parent leaves the
/// leaver's year group but stays in the year group of a sibling. The log
/// lists those changes after the cursor taken before the run, with the run.
async fn a_class_move_and_a_leaver_move_parents_in_the_same_run(engine: Engine) -> anyhow::Result<()> {
    let h = Held::start(&engine, 80).await?;
    let truth = h.sim.truth(&h.wonde_id)?;
    let contacts_of = |student: &str| -> BTreeSet<String> {
        truth.links_of(student).iter().map(|l| l.contact_id.clone()).collect()
    };
    let children_of = |contact: &str| -> Vec<String> {
        truth.links.iter().filter(|l| l.contact_id == contact).map(|l| l.student_id.clone()).collect()
    };
    let year_of = |student: &str| truth.student(student).and_then(|s| s.year_group_id.clone());
    // The mover: in a class, with parents who have no other child there or in the class it goes to.
    let mut mover = None;
    'search: for from in &truth.classes {
        for to in &truth.classes {
            for sid in &from.student_ids {
                let parents = contacts_of(sid);
                if to.student_ids.contains(sid) || parents.is_empty() {
                    continue;
                }
                let others_in = |class: &wonde_sim::model::Class| {
                    parents
                        .iter()
                        .any(|p| children_of(p).iter().any(|c| c != sid && class.student_ids.contains(c)))
                };
                if !others_in(from) && !others_in(to) {
                    mover = Some((sid.clone(), from.id.clone(), to.id.clone(), parents));
                    break 'search;
                }
            }
        }
    }
    let (mover, from, to, mover_parents) = mover.ok_or_else(|| anyhow::anyhow!("no child to move"))?;
    // The leaver: a child whose parent has another child in another year, and none in the leaver's.
    let mut leaver = None;
    for s in &truth.students {
        let Some(year) = year_of(&s.id) else { continue };
        if s.id == mover {
            continue;
        }
        for parent in contacts_of(&s.id) {
            if mover_parents.contains(&parent) {
                continue;
            }
            let others: Vec<String> = children_of(&parent).into_iter().filter(|c| *c != s.id).collect();
            let sibling = others.iter().find(|c| year_of(c).is_some_and(|y| y != year));
            if let Some(sibling) = sibling
                && others.iter().all(|c| year_of(c).as_deref() != Some(year.as_str()))
            {
                leaver = Some((s.id.clone(), year.clone(), parent.clone(), year_of(sibling)));
            }
        }
    }
    let (leaver, leaver_year, parent, sibling_year) =
        leaver.ok_or_else(|| anyhow::anyhow!("no leaver with a sibling in another year"))?;
    let sibling_year = sibling_year.ok_or_else(|| anyhow::anyhow!("sibling without a year"))?;

    let db = h.db();
    let school = h.school.id;
    let from_id = row_by_wonde_id!(db, school, class, from.as_str())?.id;
    let to_id = row_by_wonde_id!(db, school, class, to.as_str())?.id;
    let leaver_year_id = row_by_wonde_id!(db, school, year_group, leaver_year.as_str())?.id;
    let sibling_year_id = row_by_wonde_id!(db, school, year_group, sibling_year.as_str())?.id;
    let parent_id = row_by_wonde_id!(db, school, guardian, parent.as_str())?.id;
    let mut mover_parent_ids = BTreeSet::new();
    for p in &mover_parents {
        mover_parent_ids
            .insert(gid(NodeType::Guardian, row_by_wonde_id!(db, school, guardian, p.as_str())?.id));
    }
    let guardian_ids = |node: &Value| -> BTreeSet<String> {
        node["guardians"]["edges"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["node"]["id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let token = &h.s.trust_admin;
    let read = |kind: NodeType, id: i32| {
        let app = &h.app;
        async move { group(app, token, &gid(kind, id), Value::Null).await }
    };
    assert!(guardian_ids(&read(NodeType::Class, from_id).await?).is_superset(&mover_parent_ids));
    assert!(guardian_ids(&read(NodeType::Class, to_id).await?).is_disjoint(&mover_parent_ids));
    let parent_gid = gid(NodeType::Guardian, parent_id);
    assert!(guardian_ids(&read(NodeType::YearGroup, leaver_year_id).await?).contains(&parent_gid));
    // The first run's joins are in the log already: start after them.
    let newest = event::Entity::find().order_by_desc(event::Column::Id).one(db).await?.map_or(0, |e| e.id);
    let cursor = onroll::graphql::pagination::encode_cursor(newest);

    h.sim.move_class(&h.wonde_id, &mover, &from, &to)?;
    h.sim.student_leaves(&h.wonde_id, &leaver, None)?;
    let run = h.sync(SyncKind::Incremental).await?;
    assert_eq!(run.status, SyncStatus::Completed, "{:?}", run.error);

    assert!(guardian_ids(&read(NodeType::Class, from_id).await?).is_disjoint(&mover_parent_ids));
    assert!(guardian_ids(&read(NodeType::Class, to_id).await?).is_superset(&mover_parent_ids));
    assert!(!guardian_ids(&read(NodeType::YearGroup, leaver_year_id).await?).contains(&parent_gid));
    assert!(guardian_ids(&read(NodeType::YearGroup, sibling_year_id).await?).contains(&parent_gid));
    let left = row_by_wonde_id!(db, school, student, leaver.as_str())?;
    assert_eq!(left.deactivation_reason, Some(DeactivationReason::LeftSchool));

    let data = h.app.query(token, CHANGES, json!({ "s": h.school_id(), "after": cursor })).await?;
    let edges = data["groupMembershipChanges"]["edges"].as_array().cloned().unwrap_or_default();
    let changes: BTreeSet<(String, String, String)> = edges
        .iter()
        .map(|e| {
            let n = &e["node"];
            assert_eq!(n["syncRun"]["id"], gid(NodeType::SyncRun, run.id), "{n}");
            (
                n["kind"].as_str().unwrap_or("").to_owned(),
                n["guardian"]["id"].as_str().unwrap_or("").to_owned(),
                n["group"]["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for p in &mover_parent_ids {
        assert!(changes.contains(&("LEFT".into(), p.clone(), gid(NodeType::Class, from_id))), "{changes:?}");
        assert!(changes.contains(&("JOINED".into(), p.clone(), gid(NodeType::Class, to_id))), "{changes:?}");
    }
    assert!(changes.contains(&("LEFT".into(), parent_gid.clone(), gid(NodeType::YearGroup, leaver_year_id))));
    assert!(
        !changes
            .iter()
            .any(|(_, g, grp)| *g == parent_gid && *grp == gid(NodeType::YearGroup, sibling_year_id))
    );
    // Kept off the deactivation log and its subscription.
    let deactivations = h
        .app
        .query(
            token,
            "query($s: ID!) { deactivationEvents(schoolId: $s, first: 100) { edges { node { kind } } } }",
            json!({ "s": h.school_id() }),
        )
        .await?;
    let kinds: BTreeSet<String> = deactivations["deactivationEvents"]["edges"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["node"]["kind"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    assert!(kinds.iter().all(|k| ["STUDENT", "STAFF", "GUARDIAN"].contains(&k.as_str())), "{kinds:?}");
    // Only the leaves, from the start of the log: the first run's joins
    // (one for each parent in each group) are passed over, and the leaves
    // are this run's.
    let leaves = h.app.query(token, CHANGES, json!({ "s": h.school_id(), "kind": "LEFT" })).await?;
    let of_kind = |data: &Value| -> BTreeSet<(String, String, String)> {
        data["groupMembershipChanges"]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .map(|e| {
                        let n = &e["node"];
                        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
                        (text(&n["kind"]), text(&n["guardian"]["id"]), text(&n["group"]["id"]))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let expected_leaves: BTreeSet<_> = changes.iter().filter(|(k, _, _)| k == "LEFT").cloned().collect();
    assert!(!expected_leaves.is_empty());
    assert_eq!(of_kind(&leaves), expected_leaves, "kind: LEFT from the start of the log");
    assert_eq!(leaves["groupMembershipChanges"]["pageInfo"]["hasNextPage"], false, "{leaves}");
    let joins =
        h.app.query(token, CHANGES, json!({ "s": h.school_id(), "after": cursor, "kind": "JOINED" })).await?;
    let expected_joins: BTreeSet<_> = changes.iter().filter(|(k, _, _)| k == "JOINED").cloned().collect();
    assert_eq!(of_kind(&joins), expected_joins, "kind: JOINED after the run's cursor");
    assert_eq!(joins["groupMembershipChanges"]["pageInfo"]["hasNextPage"], false, "{joins}");
    // A cursor taken with one kind resumes a poll of both, where it left off.
    let cursors = |data: &Value| -> Vec<String> {
        data["groupMembershipChanges"]["edges"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["cursor"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let last_leave = leaves["groupMembershipChanges"]["pageInfo"]["endCursor"].clone();
    let all = cursors(&data);
    let at = all
        .iter()
        .position(|c| Some(c.as_str()) == last_leave.as_str())
        .ok_or_else(|| anyhow::anyhow!("the last leave {last_leave} is among the run's changes {all:?}"))?;
    let resumed = h.app.query(token, CHANGES, json!({ "s": h.school_id(), "after": last_leave })).await?;
    assert_eq!(cursors(&resumed), all[at + 1..].to_vec(), "both kinds after the last leave, in order");
    let (_, bad) = h.app.post(Some(token), CHANGES, json!({ "s": h.school_id(), "kind": "MOVED" })).await?;
    assert_eq!(bad["data"], Value::Null, "{bad}");
    assert!(bad["errors"][0]["message"].as_str().is_some_and(|m| m.contains("MOVED")), "{bad}");
    // Polling after the last cursor finds nothing new.
    let last = data["groupMembershipChanges"]["pageInfo"]["endCursor"].clone();
    let again = h.app.query(token, CHANGES, json!({ "s": h.school_id(), "after": last })).await?;
    assert_eq!(again["groupMembershipChanges"]["edges"], json!([]));
    Ok(())
}

/// Held deactivations, once approved, take the parents out of their
/// children's groups in the approval's commit, and the log says so.
async fn an_approval_logs_the_parents_who_leave(engine: Engine) -> anyhow::Result<()> {
    let h = Held::start(&engine, 8).await?;
    let db = h.db();
    let newest = event::Entity::find().order_by_desc(event::Column::Id).one(db).await?.map_or(0, |e| e.id);
    let cursor = onroll::graphql::pagination::encode_cursor(newest);
    h.sim.set_outage(&h.wonde_id, true)?;
    let run = h.sync(SyncKind::Full).await?;
    assert!(run.students_held > 0, "{run:?}");
    // Held, nothing changed: nobody left a group.
    let token = &h.s.trust_admin;
    let data = h.app.query(token, CHANGES, json!({ "s": h.school_id(), "after": cursor })).await?;
    assert_eq!(data["groupMembershipChanges"]["edges"], json!([]));
    let pupils: Vec<String> = h
        .held("PENDING")
        .await?
        .iter()
        .filter(|n| n["target"] == "STUDENT")
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect();
    let approve =
        "mutation($s: ID!, $ids: [ID!]!) { approveHeldChanges(schoolId: $s, ids: $ids) { skipped } }";
    h.app.query(token, approve, json!({ "s": h.school_id(), "ids": pupils })).await?;
    let data = h.app.query(token, CHANGES, json!({ "s": h.school_id(), "after": cursor })).await?;
    let edges = data["groupMembershipChanges"]["edges"].as_array().cloned().unwrap_or_default();
    assert!(!edges.is_empty());
    assert!(edges.iter().all(|e| e["node"]["kind"] == "LEFT" && e["node"]["syncRun"].is_null()), "{edges:?}");
    // Every year group of the school is now without parents.
    let years: Vec<year_group::Model> =
        year_group::Entity::find().filter(year_group::Column::SchoolId.eq(h.school.id)).all(db).await?;
    for y in years {
        assert_eq!(group(&h.app, token, &year(&y), Value::Null).await?["guardianCount"], 0);
    }
    Ok(())
}

/// (kind, guardian source id, form name) of a run's parent-group entries
/// about form groups.
async fn form_changes(
    db: &sea_orm::DatabaseConnection,
    run: i32,
) -> anyhow::Result<BTreeSet<(String, String, String)>> {
    use onroll::parent_groups::GroupRef;
    let mut out = BTreeSet::new();
    let rows = event::Entity::find().filter(event::Column::SyncRunId.eq(run)).all(db).await?;
    for row in &rows {
        let Some(change) = onroll::parent_groups::membership::GroupChange::of(row) else { continue };
        let GroupRef::Form(form) = change.group else { continue };
        let form = entity::form_group::Entity::find_by_id(form)
            .one(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("form"))?;
        for id in change.guardians {
            let guardian =
                guardian::Entity::find_by_id(id).one(db).await?.ok_or_else(|| anyhow::anyhow!("guardian"))?;
            out.insert((row.kind.as_str().to_owned(), guardian.wonde_id, form.name.clone()));
        }
    }
    Ok(out)
}

/// CSV imports go through the same apply: a form move logs the parents
/// who join the new form, and who leave the old one only when no other
/// child keeps them there.
async fn csv_form_moves_log_joins_and_leaves(engine: Engine) -> anyhow::Result<()> {
    use onroll::sync::csv_import::{CsvImportOutcome, CsvImporter};
    use onroll::sync::csv_source::CsvFiles;
    let data = crate::support::TestDb::create(&engine).await?;
    let db = &data.db;
    let f = Fixture::new(db);
    let trust = f.trust("CSV Parents Trust").await?;
    let school = f.school(&trust, "CSV Parents School").await?;
    let importer = CsvImporter {
        db: db.clone(),
        events: onroll::events::EventBus::default(),
        guard_share: 0.5,
        worker: "csv-parents".into(),
    };
    let import = |students: &str, guardians: Option<&str>, full: bool| {
        let files = CsvFiles {
            students: Some(students.as_bytes().to_vec()),
            staff: None,
            guardians: guardians.map(|g| g.as_bytes().to_vec()),
        };
        let importer = &importer;
        let school = school.id;
        async move {
            match importer.import(school, files, full, false).await? {
                CsvImportOutcome::Ran(run) => Ok(*run),
                CsvImportOutcome::Refused(errors) => anyhow::bail!("refused: {errors:?}"),
            }
        }
    };
    let students = "id,upn,forename,surname,email,year,form,classes,leaving_date\n\
                    S1,R100000000001,Amy,Smith,,Year 7,7A,7A/Ma1,\n\
                    S2,F100000000002,Ben,Smith,,Year 7,7A,7A/Ma1,\n";
    let guardians = "id,forename,surname,email,student_id,relationship,parental_responsibility,lives_with_student,priority\n\
                     G1,Ann,Smith,ann@example.org,S1,Mother,yes,yes,1\n\
                     G1,Ann,Smith,ann@example.org,S2,Mother,yes,yes,1\n\
                     G2,Dan,Smith,,S1,Father,yes,no,2\n";
    let first = import(students, Some(guardians), true).await?;
    assert_eq!(first.status, SyncStatus::Completed, "{:?}", first.error);
    let joined = |g: &str, form: &str| ("GUARDIAN_JOINED_GROUP".to_owned(), g.to_owned(), form.to_owned());
    let left = |g: &str, form: &str| ("GUARDIAN_LEFT_GROUP".to_owned(), g.to_owned(), form.to_owned());
    assert_eq!(form_changes(db, first.id).await?, [joined("G1", "7A"), joined("G2", "7A")].into());

    // Ben moves to 7B: Ann joins 7B and stays in 7A through Amy.
    let run =
        import("id,forename,surname,year,form,classes\nS2,Ben,Smith,Year 7,7B,7A/Ma1\n", None, false).await?;
    assert_eq!(form_changes(db, run.id).await?, [joined("G1", "7B")].into());
    // Amy follows: both parents leave 7A; Dan joins 7B, Ann is there already.
    let run =
        import("id,forename,surname,year,form,classes\nS1,Amy,Smith,Year 7,7B,7A/Ma1\n", None, false).await?;
    assert_eq!(
        form_changes(db, run.id).await?,
        [left("G1", "7A"), left("G2", "7A"), joined("G2", "7B")].into()
    );
    Ok(())
}

/// Seen in a profile: a school's first FULL run logged one row per guardian
/// and group, about 22,000 rows for 1,000 pupils, two-thirds of what the
/// run wrote. Now one row per group and direction names its guardians,
/// and the list still gives one change per guardian: paged a few at a
/// time, cutting through rows, each pair comes once and in order. Rows
/// and cursors written before still read, and a guardian's export lists
/// their groups.
async fn a_groups_changes_are_one_row_and_listed_one_guardian_at_a_time(
    engine: Engine,
) -> anyhow::Result<()> {
    use onroll::parent_groups::{GroupRef, membership};
    let h = Held::start(&engine, 30).await?;
    let db = h.db();
    let pairs = membership::snapshot(db, h.school.id).await?;
    let groups: BTreeSet<GroupRef> = pairs.iter().map(|(group, _)| *group).collect();
    let rows: Vec<event::Model> = event::Entity::find()
        .filter(event::Column::SchoolId.eq(h.school.id))
        .filter(event::Column::Kind.is_in(entity::enums::EventKind::LOG_ONLY))
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?;
    assert!(pairs.len() > 3 * groups.len(), "{} pairs in {} groups", pairs.len(), groups.len());
    assert_eq!(rows.len(), groups.len(), "one row per group joined");
    let largest = rows.iter().filter_map(membership::GroupChange::of).map(|c| c.guardians.len()).max();
    assert!(largest > Some(7), "pages of 7 end inside a row: {largest:?}");

    const PAGE: &str = "query($s: ID!, $after: String) {
      groupMembershipChanges(schoolId: $s, after: $after, first: 7) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { kind guardian { id } group { ... on Class { id } ... on YearGroup { id } ... on FormGroup { id } } } } } }";
    let token = &h.s.trust_admin;
    let page = |after: Value| {
        let app = &h.app;
        let school = h.school_id();
        async move {
            let data = app.query(token, PAGE, json!({ "s": school, "after": after })).await?;
            anyhow::Ok(data["groupMembershipChanges"].clone())
        }
    };
    let mut listed: Vec<(String, String, String)> = Vec::new();
    let mut after = Value::Null;
    loop {
        let connection = page(after.clone()).await?;
        let edges = connection["edges"].as_array().cloned().unwrap_or_default();
        assert!(edges.len() <= 7);
        for edge in &edges {
            let n = &edge["node"];
            let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
            listed.push((text(&n["kind"]), text(&n["guardian"]["id"]), text(&n["group"]["id"])));
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        assert_eq!(edges.len(), 7, "a full page before the last");
        after = connection["pageInfo"]["endCursor"].clone();
    }
    let gid_of = |group: GroupRef| match group {
        GroupRef::Year(id) => gid(NodeType::YearGroup, id),
        GroupRef::Form(id) => gid(NodeType::FormGroup, id),
        GroupRef::Class(id) => gid(NodeType::Class, id),
    };
    // The log's order: row by row, each row's guardians in id order.
    let mut expected = Vec::new();
    for row in &rows {
        let change = membership::GroupChange::of(row).ok_or_else(|| anyhow::anyhow!("a group change"))?;
        for guardian in change.guardians {
            expected.push(("JOINED".to_owned(), gid(NodeType::Guardian, guardian), gid_of(change.group)));
        }
    }
    assert_eq!(listed, expected, "every join once, in the log's order");
    assert_eq!(listed.len(), pairs.len());

    // `first: 0` answers no change and says more follow; a cursor this
    // list never gave is refused.
    let none = h
        .app
        .query(token, "query($s: ID!) { groupMembershipChanges(schoolId: $s, first: 0) { edges { cursor } pageInfo { hasNextPage } } }", json!({ "s": h.school_id() }))
        .await?;
    assert_eq!(none["groupMembershipChanges"], json!({ "edges": [], "pageInfo": { "hasNextPage": true } }));
    for bad in ["m:1", "m:x.1", "nonsense"] {
        let cursor = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bad);
        let (_, refused) =
            h.app.post(Some(token), PAGE, json!({ "s": h.school_id(), "after": cursor })).await?;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad}: {refused}");
    }

    // A row written before rows named several guardians, and a cursor of
    // that time (the row id alone), still read.
    let (group, guardian) = pairs.iter().next().copied().ok_or_else(|| anyhow::anyhow!("a pair"))?;
    let old_row = event::ActiveModel {
        trust_id: Set(h.s.trust.id),
        school_id: Set(h.school.id),
        kind: Set(entity::enums::EventKind::GuardianLeftGroup),
        person_kind: Set(Some(entity::enums::PersonKind::Guardian)),
        person_id: Set(Some(guardian)),
        reason: Set(None),
        sync_run_id: Set(None),
        payload: Set(Some(group.to_payload())),
        occurred_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    onroll::events::log::append(db, vec![old_row]).await?;
    let last_row = rows.last().map_or(0, |r| r.id);
    let resumed = page(json!(onroll::graphql::pagination::encode_cursor(last_row))).await?;
    let edges = resumed["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(edges.len(), 1, "{resumed}");
    assert_eq!(edges[0]["node"]["kind"], "LEFT");
    assert_eq!(edges[0]["node"]["guardian"]["id"], gid(NodeType::Guardian, guardian));
    assert_eq!(edges[0]["node"]["group"]["id"], gid_of(group));

    // The guardian's subject access export lists the groups they joined.
    let export = "mutation($p: ID!) { subjectAccessExport(personId: $p) { document } }";
    let data = h.app.query(token, export, json!({ "p": gid(NodeType::Guardian, guardian) })).await?;
    let document: Value =
        serde_json::from_str(data["subjectAccessExport"]["document"].as_str().unwrap_or("{}"))?;
    let record = document["records"]
        .as_array()
        .and_then(|records| records.iter().find(|r| r["id"] == guardian))
        .cloned()
        .unwrap_or_default();
    let mut exported: Vec<(String, String)> = record["events"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["group"].is_object())
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or("").to_owned(),
                        e["group"]["kind"].as_str().unwrap_or("").to_owned()
                            + &e["group"]["groupId"].to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    exported.sort();
    let named = record["events"]["items"].as_array().map_or(0, |items| {
        items.iter().filter(|e| e["group"]["name"].as_str().is_some_and(|n| !n.is_empty())).count()
    });
    assert_eq!(named, exported.len(), "every group change names its group: {record}");
    let mut theirs: Vec<(String, String)> = pairs
        .iter()
        .filter(|(_, g)| *g == guardian)
        .map(|(group, _)| {
            ("GUARDIAN_JOINED_GROUP".to_owned(), group.kind_name().to_owned() + &group.id().to_string())
        })
        .chain([("GUARDIAN_LEFT_GROUP".to_owned(), group.kind_name().to_owned() + &group.id().to_string())])
        .collect();
    theirs.sort();
    assert_eq!(exported, theirs, "{record}");
    Ok(())
}
