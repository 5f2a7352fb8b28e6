//! Test overrides applied to a rendered record: dotted paths into objects,
//! and `{"$remove": true}` to delete a field.

use serde_json::{Map, Value};

use crate::world::Patch;

/// Applies test overrides to a rendered record (dotted paths into objects).
pub(crate) fn apply_patches(v: &mut Value, kind: &str, patches: &[Patch]) {
    if patches.is_empty() {
        return;
    }
    let Some(id) = v.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return;
    };
    for p in patches.iter().filter(|p| p.kind == kind && p.id == id) {
        set_path(v, &p.path, p.value.clone());
    }
}

fn set_path(v: &mut Value, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut cur = v;
    for part in parts {
        let Some(next) = cur
            .as_object_mut()
            .map(|m| m.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new())))
        else {
            return;
        };
        cur = next;
    }
    if let Some(m) = cur.as_object_mut() {
        if is_removal(&value) {
            m.remove(last);
        } else {
            m.insert(last.to_owned(), value);
        }
    }
}

/// A patch value of `{"$remove": true}` deletes the field instead.
fn is_removal(v: &Value) -> bool {
    v.get("$remove").and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patch_sets_nested_paths() {
        let mut v = json!({"id": "A1", "education_details": {"data": {"upn": "X"}}});
        apply_patches(
            &mut v,
            "student",
            &[Patch {
                kind: "student".into(),
                id: "A1".into(),
                path: "education_details.data.upn".into(),
                value: json!(42),
            }],
        );
        assert_eq!(v["education_details"]["data"]["upn"], 42);
    }
}
