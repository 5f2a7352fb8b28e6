//! Counts and lookups of one school's rows that many tests make: macros,
//! like `active_memberships!`, so that one body serves every entity.

/// How many rows of the table `$table` (an entity module, e.g. `student`
/// or `entity::staff`) at school `$school` have `$column` equal to
/// `$value`; `?` returns a database error. The caller brings
/// `EntityTrait`, `QueryFilter`, `ColumnTrait` and `PaginatorTrait` into
/// scope.
#[macro_export]
macro_rules! count_at {
    ($db:expr, $school:expr, $($table:ident)::+, $column:ident, $value:expr) => {
        $($table)::+::Entity::find()
            .filter($($table)::+::Column::SchoolId.eq($school))
            .filter($($table)::+::Column::$column.eq($value))
            .count($db)
            .await?
    };
}

/// The first row of the table `$table` (an entity module) at school
/// `$school` whose `$column` is `$value`, as an `anyhow::Result` that
/// names what was missing. The caller brings `EntityTrait`, `QueryFilter`
/// and `ColumnTrait` into scope.
#[macro_export]
macro_rules! row_at {
    ($db:expr, $school:expr, $($table:ident)::+, $column:ident, $value:expr) => {{
        let value = $value;
        $($table)::+::Entity::find()
            .filter($($table)::+::Column::SchoolId.eq($school))
            .filter($($table)::+::Column::$column.eq(value.clone()))
            .one($db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no {} with {} {value:?}", stringify!($($table)::+), stringify!($column)))
    }};
}

/// The row of the table `$table` (an entity module) at school `$school`
/// whose Wonde id (or CSV id) is `$wonde`: `row_at!` on `WondeId`.
#[macro_export]
macro_rules! row_by_wonde_id {
    ($db:expr, $school:expr, $($table:ident)::+, $wonde:expr) => {
        $crate::row_at!($db, $school, $($table)::+, WondeId, $wonde)
    };
}

/// The Wonde connection of school `school_id`.
pub async fn connection_of(
    db: &sea_orm::DatabaseConnection,
    school_id: i32,
) -> anyhow::Result<entity::wonde_connection::Model> {
    use entity::wonde_connection;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    wonde_connection::Entity::find()
        .filter(wonde_connection::Column::SchoolId.eq(school_id))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no connection of school {school_id}"))
}
