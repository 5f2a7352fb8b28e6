//! Search words as SQL: every word must occur, case-insensitively, in one
//! of the given columns (`LIKE` with the word's wildcards escaped).

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition};

/// Every word must occur, case-insensitively, in at least one column.
pub fn words_condition<C: ColumnTrait>(words: &[String], columns: &[C]) -> Condition {
    let mut all = Condition::all();
    for word in words {
        let pattern = format!("%{}%", escape_like(word));
        let mut any = Condition::any();
        for column in columns {
            any = any.add(
                Expr::expr(Func::lower(Expr::col(column.as_column_ref())))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        all = all.add(any);
    }
    all
}

/// `word` with `LIKE`'s wildcards and the escape character escaped (`\\`).
pub(crate) fn escape_like(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
