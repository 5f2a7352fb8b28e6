//! A guardian's relationship type, from the MIS's label by an explicit
//! table of whole labels (product.md, Entities: "a label maps to a type
//! only when it names that relationship").
//!
//! Wonde links and CSV rows both come through [`relationship_type`]. The
//! label is compared whole, never by the words inside it: "Godmother" holds
//! "mother" and "Step-sister" holds "step", and neither is a mother or a
//! step-parent. A label the table does not name is OTHER; the MIS's own
//! words are kept beside the type (`relationshipLabel`), so nothing is lost.
//!
//! The choices a school might query:
//! - "Parent" (and "Parent/Carer") is OTHER: it names neither a mother nor
//!   a father, and GUARDIAN is a legal appointment in place of a parent
//!   (Children Act 1989 s5), which a parent is not. Who holds parental
//!   responsibility is its own field.
//! - Adoptive, birth and natural mothers and fathers are MOTHER and FATHER.
//! - Partners ("Mum's partner"), godparents, friends, neighbours,
//!   childminders, nannies, au pairs and professionals (social workers,
//!   residential care workers, doctors, a Cafcass "children's guardian")
//!   are OTHER. "Nanny" is OTHER too: it is a grandmother in some families
//!   and a paid carer in others.
//! - Siblings (half- and step- too), aunts, uncles, cousins, in-laws,
//!   great-grandparents and step-grandparents are OTHER_RELATIVE:
//!   relatives who are neither parents nor grandparents.
//! - Every kind of foster carer, private fostering included, is
//!   FOSTER_CARER; legal, special and testamentary guardians are GUARDIAN;
//!   carers who are not foster carers (kinship, respite, main) are CARER.

use entity::enums::RelationshipType;

/// The type a relationship label names; OTHER when the table does not name
/// it (or there is no label).
pub fn relationship_type(label: Option<&str>) -> RelationshipType {
    label.map(normal_form).and_then(|key| named(&key)).unwrap_or(RelationshipType::Other)
}

/// The label as the table spells it: case-folded, with spaces, hyphens and
/// underscores dropped, so "Step-Father", "step father" and "Stepfather"
/// are one label.
fn normal_form(label: &str) -> String {
    label
        .chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '_' | '\u{2010}' | '\u{2013}')))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The table, by normal form. Vocabularies: SIMS and the DfE's contact
/// relationship list (Mother, Father, Step Mother, Foster Father, Other
/// Relative, Other Family Member, Childminder, Social Worker, Doctor...),
/// Arbor, Bromcom and ScholarPack (Parent, Legal Guardian, Grandparent...),
/// and what offices type by hand (Mum, Nan, Grandad, Aunty...).
fn named(key: &str) -> Option<RelationshipType> {
    use RelationshipType::*;
    let kind = match key {
        "mother" | "mum" | "mom" | "mam" | "mummy" | "mommy" | "birthmother" | "biologicalmother"
        | "naturalmother" | "adoptivemother" | "adoptivemum" => Mother,
        "father" | "dad" | "daddy" | "birthfather" | "biologicalfather" | "naturalfather"
        | "adoptivefather" | "adoptivedad" => Father,
        "stepmother" | "stepmum" | "stepmom" | "stepfather" | "stepdad" | "stepparent" => StepParent,
        "grandmother"
        | "grandfather"
        | "grandparent"
        | "grandma"
        | "grandmum"
        | "grandad"
        | "granddad"
        | "grandpa"
        | "granny"
        | "gran"
        | "nan"
        | "nana"
        | "nanna"
        | "maternalgrandmother"
        | "maternalgrandfather"
        | "paternalgrandmother"
        | "paternalgrandfather" => Grandparent,
        "fostercarer"
        | "fostermother"
        | "fosterfather"
        | "fosterparent"
        | "fostermum"
        | "fosterdad"
        | "privatefostercarer"
        | "privatefosterparent" => FosterCarer,
        "guardian" | "legalguardian" | "specialguardian" | "testamentaryguardian" => Guardian,
        "carer" | "maincarer" | "primarycarer" | "kinshipcarer" | "respitecarer" => Carer,
        "otherrelative" | "relative" | "otherfamilymember" | "familymember" | "brother" | "sister"
        | "sibling" | "halfbrother" | "halfsister" | "stepbrother" | "stepsister" | "aunt" | "auntie"
        | "aunty" | "uncle" | "greataunt" | "greatuncle" | "cousin" | "niece" | "nephew" | "brotherinlaw"
        | "sisterinlaw" | "greatgrandmother" | "greatgrandfather" | "greatgrandparent"
        | "stepgrandmother" | "stepgrandfather" | "stepgrandparent" => OtherRelative,
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RelationshipType::*;

    /// Labels as schools write them, with the type each must get.
    const LABELS: &[(&str, RelationshipType)] = &[
        // Parents, as every MIS writes them.
        ("Mother", Mother),
        ("MOTHER", Mother),
        ("  mother ", Mother),
        ("Mum", Mother),
        ("Mam", Mother),
        ("Birth Mother", Mother),
        ("Adoptive Mother", Mother),
        ("Father", Father),
        ("Dad", Father),
        ("Natural Father", Father),
        ("Adoptive Father", Father),
        // Step-parents, however the step is spelt.
        ("Step Mother", StepParent),
        ("Step-mother", StepParent),
        ("Stepmother", StepParent),
        ("Stepfather", StepParent),
        ("Step-Father", StepParent),
        ("step father", StepParent),
        ("Step_Father", StepParent),
        ("Step Dad", StepParent),
        ("Step-Parent", StepParent),
        // Grandparents.
        ("Grandmother", Grandparent),
        ("Grandfather", Grandparent),
        ("Grandparent", Grandparent),
        ("Nan", Grandparent),
        ("Nanna", Grandparent),
        ("Grandma", Grandparent),
        ("Grandad", Grandparent),
        ("Granny", Grandparent),
        ("Maternal Grandmother", Grandparent),
        // Foster carers, guardians, carers.
        ("Foster Carer", FosterCarer),
        ("Foster Mother", FosterCarer),
        ("Foster Father", FosterCarer),
        ("Foster Parent", FosterCarer),
        ("Private Foster Carer", FosterCarer),
        ("Legal Guardian", Guardian),
        ("Guardian", Guardian),
        ("Special Guardian", Guardian),
        ("Carer", Carer),
        ("Kinship Carer", Carer),
        // Relatives who are not parents or grandparents.
        ("Other Relative", OtherRelative),
        ("Other Family Member", OtherRelative),
        ("Aunt", OtherRelative),
        ("Auntie", OtherRelative),
        ("Uncle", OtherRelative),
        ("Brother", OtherRelative),
        ("Sister", OtherRelative),
        ("Step-sister", OtherRelative),
        ("Step Brother", OtherRelative),
        ("Half-brother", OtherRelative),
        ("Cousin", OtherRelative),
        ("Great Grandmother", OtherRelative),
        ("Step-Grandmother", OtherRelative),
        // Words inside a label name nothing: these are not family types.
        ("Godmother", Other),
        ("Godfather", Other),
        ("Mum's partner", Other),
        ("Mother's Partner", Other),
        ("Father's partner", Other),
        ("Dad\u{2019}s girlfriend", Other),
        ("Parent", Other),
        ("Parent/Carer", Other),
        ("Childminder", Other),
        ("Nanny", Other),
        ("Au Pair", Other),
        ("Social Worker", Other),
        ("Residential Care Worker", Other),
        ("Children's Guardian", Other),
        ("Doctor", Other),
        ("GP", Other),
        ("Head Teacher", Other),
        ("Neighbour", Other),
        ("Family Friend", Other),
        ("Friend", Other),
        ("Other Contact", Other),
        ("Other", Other),
        ("Emergency Contact", Other),
        ("", Other),
        ("   ", Other),
    ];

    #[test]
    fn labels_as_schools_write_them() {
        assert!(LABELS.len() >= 40);
        let wrong: Vec<String> = LABELS
            .iter()
            .filter(|(label, expected)| relationship_type(Some(label)) != *expected)
            .map(|(label, expected)| {
                format!("{label:?}: {:?}, not {expected:?}", relationship_type(Some(label)))
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn no_label_is_other() {
        assert_eq!(relationship_type(None), Other);
    }

    #[test]
    fn spellings_of_one_label_share_a_normal_form() {
        for label in ["Step-Father", "step father", "Stepfather", " STEP_FATHER ", "Step \u{2013} father"] {
            assert_eq!(normal_form(label), "stepfather", "{label:?}");
        }
    }
}
