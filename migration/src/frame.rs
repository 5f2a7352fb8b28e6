//! The frame every migration shares, written once: the `Migration` type
//! that `MigratorTrait` lists, named after its module's file, whose `up` and
//! `down` are the module's own functions.

/// Declares the module's `Migration` from its functions `up` and `down`
/// (`async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr>`).
/// `DeriveMigrationName` names it after the file the macro is called in
/// (`file!()` gives the call site), as it names every migration.
///
/// `crate::frame::migration!(up, down);`
macro_rules! migration {
    ($up:ident, $down:ident) => {
        #[derive(DeriveMigrationName)]
        pub struct Migration;

        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $up(manager).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $down(manager).await
            }
        }
    };
}
pub(crate) use migration;

/// A migration that adds one column to one table, and drops it on the way
/// down: `add_column_migration!("sync_run", text_null("warnings"));` in the
/// migration's module declares its `Migration` (see [`migration!`]).
macro_rules! add_column_migration {
    ($table:literal, $kind:ident($column:literal $(, $arg:expr)*) $(.$method:ident($($method_arg:expr),*))*) => {
        use sea_orm_migration::{prelude::*, schema::*};

        $crate::frame::migration!(up, down);

        async fn up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
            let column = $kind($column $(, $arg)*)$(.$method($($method_arg),*))*.to_owned();
            manager.alter_table($crate::columns::add_column($table, column)).await
        }

        async fn down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
            manager.alter_table($crate::columns::drop_column($table, $column)).await
        }
    };
}
pub(crate) use add_column_migration;
