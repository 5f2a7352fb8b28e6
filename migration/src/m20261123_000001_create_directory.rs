//! The directory's first schema: trusts, schools and their Wonde connections,
//! people (students, staff, guardians), groups and memberships, sync runs, the
//! event log, API tokens and the Wonde school catalog.

use crate::columns::{References, Timestamps, index, unique, with_id};
use sea_orm_migration::{prelude::*, schema::*};

crate::frame::migration!(up, down);

/// Per-entity counts of a sync run: created, updated, deactivated, reactivated.
const SYNC_COUNT_COLUMNS: [&str; 16] = [
    "students_created",
    "students_updated",
    "students_deactivated",
    "students_reactivated",
    "staff_created",
    "staff_updated",
    "staff_deactivated",
    "staff_reactivated",
    "guardians_created",
    "guardians_updated",
    "guardians_deactivated",
    "guardians_reactivated",
    "groups_created",
    "groups_updated",
    "groups_deactivated",
    "groups_reactivated",
];

/// Students, staff and guardians share the account columns that the leaver
/// rules act on (status, deactivated_at, deactivation_reason).
fn person_table(name: &'static str, extra: &[ColumnDef]) -> TableCreateStatement {
    let mut table = with_id(name);
    table
        .references(name, "school_id", "school")
        .col(string("wonde_id"))
        .col(string_null("upi"))
        .col(string_null("mis_id"))
        .col(string("forename"))
        .col(string("surname"))
        .col(string_null("email"));
    for column in extra {
        table.col(column.clone());
    }
    table
        .col(string_len("status", 16))
        .col(timestamp_with_time_zone_null("deactivated_at"))
        .col(string_len_null("deactivation_reason", 32))
        .timestamps();
    table.to_owned()
}

fn group_table(name: &'static str, extra: &[ColumnDef]) -> TableCreateStatement {
    let mut table = with_id(name);
    table
        .references(name, "school_id", "school")
        .col(string("wonde_id"))
        .col(string("name"))
        .col(string_null("code"));
    for column in extra {
        table.col(column.clone());
    }
    table.col(boolean("active")).timestamps();
    table.to_owned()
}

/// A membership row is kept after it ends (active = false, ended_at set) so
/// that history survives; rosters read the active rows only.
fn membership_table(
    name: &'static str,
    group_table: &'static str,
    group_column: &'static str,
    member_table: &'static str,
    member_column: &'static str,
) -> TableCreateStatement {
    let mut table = with_id(name);
    table
        .references(name, "school_id", "school")
        .references(name, group_column, group_table)
        .references(name, member_column, member_table)
        .col(boolean("active"))
        .col(timestamp_with_time_zone_null("ended_at"))
        .timestamps();
    table.to_owned()
}

async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let mut tables: Vec<TableCreateStatement> = Vec::new();
    let mut indexes: Vec<IndexCreateStatement> = Vec::new();

    let mut trust = with_id("trust");
    trust.col(string("name")).timestamps();
    tables.push(trust.to_owned());

    let mut school = with_id("school");
    school
        .references("school", "trust_id", "trust")
        .col(string_null("wonde_id"))
        .col(string("name"))
        .col(string_null("urn"))
        .col(string_null("la_code"))
        .col(string_null("establishment_number"))
        .col(string_null("phase"))
        .col(string_null("mis"))
        .col(string_null("postcode"))
        .timestamps();
    tables.push(school.to_owned());
    indexes.push(index("school", &["trust_id"]));
    indexes.push(unique("school", &["wonde_id"]));

    let mut connection = with_id("wonde_connection");
    connection
        .references("wonde_connection", "school_id", "school")
        .col(string_len("status", 16))
        .col(string("wonde_school_id"))
        .col(string_null("region_domain"))
        .col(text_null("token_ciphertext"))
        .col(boolean("sync_students"))
        .col(boolean("sync_staff"))
        .col(boolean("sync_guardians"))
        .col(boolean("sync_classes"))
        .col(boolean("sync_year_groups"))
        .col(boolean("sync_form_groups"))
        .col(big_integer_null("full_every_secs"))
        .col(big_integer_null("incremental_every_secs"))
        .col(timestamp_with_time_zone_null("watermark"))
        .col(timestamp_with_time_zone_null("last_full_sync_at"))
        .col(timestamp_with_time_zone_null("last_incremental_sync_at"))
        .col(text_null("status_reason"))
        .col(integer_null("requested_by_token_id"))
        .timestamps();
    tables.push(connection.to_owned());
    indexes.push(unique("wonde_connection", &["school_id"]));
    indexes.push(index("wonde_connection", &["wonde_school_id"]));

    tables.push(person_table("student", &[string_null("upn"), string_null("leaving_date")]));
    tables.push(person_table("staff", &[string_null("title")]));
    tables.push(person_table("guardian", &[string_null("title"), string_null("email_key")]));
    for person in ["student", "staff", "guardian"] {
        indexes.push(unique(person, &["school_id", "wonde_id"]));
        indexes.push(index(person, &["school_id", "status"]));
        indexes.push(index(person, &["school_id", "upi"]));
    }
    indexes.push(index("student", &["upn"]));
    indexes.push(index("guardian", &["email_key"]));

    tables.push(group_table("year_group", &[]));
    tables.push(group_table("form_group", &[]));
    tables.push(group_table("class", &[string_null("subject")]));
    for group in ["year_group", "form_group", "class"] {
        indexes.push(unique(group, &["school_id", "wonde_id"]));
    }

    let memberships = [
        ("class_student", "class", "class_id", "student", "student_id"),
        ("class_teacher", "class", "class_id", "staff", "staff_id"),
        ("year_student", "year_group", "year_group_id", "student", "student_id"),
        ("form_student", "form_group", "form_group_id", "student", "student_id"),
        ("form_tutor", "form_group", "form_group_id", "staff", "staff_id"),
    ];
    for (name, group, group_column, member, member_column) in memberships {
        tables.push(membership_table(name, group, group_column, member, member_column));
        indexes.push(unique(name, &[group_column, member_column]));
        indexes.push(index(name, &[member_column, "active"]));
        indexes.push(index(name, &["school_id"]));
    }

    let mut link = with_id("guardian_link");
    link.references("guardian_link", "school_id", "school")
        .references("guardian_link", "student_id", "student")
        .references("guardian_link", "guardian_id", "guardian")
        .col(string_len("relationship", 16))
        .col(string_null("relationship_label"))
        .col(boolean_null("parental_responsibility"))
        .col(boolean_null("lives_with_student"))
        .col(integer_null("priority"))
        .col(boolean("active"))
        .col(timestamp_with_time_zone_null("ended_at"))
        .timestamps();
    tables.push(link.to_owned());
    indexes.push(unique("guardian_link", &["student_id", "guardian_id"]));
    indexes.push(index("guardian_link", &["guardian_id", "active"]));
    indexes.push(index("guardian_link", &["school_id", "active"]));

    let mut run = with_id("sync_run");
    run.references("sync_run", "school_id", "school")
        .col(string_len("kind", 16))
        .col(string_len("status", 16))
        .col(boolean("force"))
        .col(timestamp_with_time_zone("queued_at"))
        .col(timestamp_with_time_zone_null("started_at"))
        .col(timestamp_with_time_zone_null("finished_at"))
        .col(text_null("error"))
        .col(string_null("claimed_by"))
        .col(timestamp_with_time_zone_null("heartbeat_at"));
    for column in SYNC_COUNT_COLUMNS {
        run.col(integer(column).default(0));
    }
    tables.push(run.to_owned());
    indexes.push(index("sync_run", &["school_id", "status"]));
    indexes.push(index("sync_run", &["status"]));

    let mut event = Table::create();
    event
        .table("event")
        .col(big_pk_auto("id"))
        .col(integer("trust_id"))
        .references("event", "school_id", "school")
        .col(string_len("kind", 32))
        .col(string_len_null("person_kind", 16))
        .col(integer_null("person_id"))
        .col(string_len_null("reason", 32))
        .col(integer_null("sync_run_id"))
        .col(text_null("payload"))
        .col(timestamp_with_time_zone("occurred_at"));
    tables.push(event.to_owned());
    indexes.push(index("event", &["school_id", "kind", "id"]));
    indexes.push(index("event", &["trust_id", "kind", "id"]));

    let mut token = with_id("api_token");
    token
        .col(string("token_hash"))
        .col(string_len("role", 16))
        .references("api_token", "trust_id", "trust")
        .col(string_null("label"))
        .col(timestamp_with_time_zone_null("last_used_at"))
        .col(timestamp_with_time_zone_null("revoked_at"))
        .timestamps();
    tables.push(token.to_owned());
    indexes.push(unique("api_token", &["token_hash"]));
    indexes.push(index("api_token", &["trust_id"]));

    let mut token_school = with_id("api_token_school");
    token_school.references("api_token_school", "token_id", "api_token").references(
        "api_token_school",
        "school_id",
        "school",
    );
    tables.push(token_school.to_owned());
    indexes.push(unique("api_token_school", &["token_id", "school_id"]));
    indexes.push(index("api_token_school", &["school_id"]));

    // Wonde's school directory, mirrored for search before access exists.
    let mut catalog = with_id("wonde_catalog_school");
    catalog
        .col(string("wonde_id"))
        .col(string("name"))
        .col(string("name_key"))
        .col(string_null("urn"))
        .col(string_null("la_code"))
        .col(string_null("establishment_number"))
        .col(string_null("postcode"))
        .col(string_null("postcode_key"))
        .col(string_null("phase"))
        .col(string_null("mis"))
        .col(string_null("address"))
        .col(string_len_null("access_status", 16))
        .timestamps();
    tables.push(catalog.to_owned());
    indexes.push(unique("wonde_catalog_school", &["wonde_id"]));
    indexes.push(index("wonde_catalog_school", &["postcode_key"]));
    indexes.push(index("wonde_catalog_school", &["urn"]));

    for table in tables {
        manager.create_table(table).await?;
    }
    for index in indexes {
        manager.create_index(index).await?;
    }
    // At most one queued or running sync per school, whatever process
    // asks: the database refuses the second, on SQLite and PostgreSQL.
    manager
        .get_connection()
        .execute_unprepared(
            "CREATE UNIQUE INDEX ux_sync_run_one_open_per_school ON sync_run (school_id) \
             WHERE status IN ('QUEUED', 'RUNNING')",
        )
        .await?;
    Ok(())
}

async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let tables = [
        "wonde_catalog_school",
        "api_token_school",
        "api_token",
        "event",
        "sync_run",
        "guardian_link",
        "form_tutor",
        "form_student",
        "year_student",
        "class_teacher",
        "class_student",
        "class",
        "form_group",
        "year_group",
        "guardian",
        "staff",
        "student",
        "wonde_connection",
        "school",
        "trust",
    ];
    for table in tables {
        manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
    }
    Ok(())
}
