//! Relations as Wonde renders them: a to-one relation as `{"data": ...}`, a
//! bare id, `null` or absent; a to-many relation as `{"data": [...]}` or a
//! list of records and ids, remembering whether it was included at all.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// `impl Deserialize for $ty<T>` through a visitor that says what it
/// expects and reads with the methods given (`deserialize_any`: the shape
/// decides).
macro_rules! deserialize_by_visitor {
    ($de:lifetime, $ty:ident, $expecting:expr; $($visit:tt)*) => {
        impl<$de, T: Deserialize<$de>> Deserialize<$de> for $ty<T> {
            fn deserialize<D: Deserializer<$de>>(d: D) -> Result<Self, D::Error> {
                struct V<T>(PhantomData<T>);
                impl<$de, T: Deserialize<$de>> Visitor<$de> for V<T> {
                    type Value = $ty<T>;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }

                    $($visit)*
                }
                d.deserialize_any(V(PhantomData))
            }
        }
    };
}

/// A to-one relation as Wonde renders it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Relation<T> {
    /// The key was not in the record (not included, or not available).
    #[default]
    Absent,
    /// `null` or `{"data": null}`: included, and there is none.
    Null,
    /// Not included: the related record's id only.
    Id(String),
    /// Included.
    Data(T),
}

impl<T> Relation<T> {
    /// The included record, if it was included and exists.
    pub fn data(&self) -> Option<&T> {
        match self {
            Relation::Data(t) => Some(t),
            _ => None,
        }
    }

    /// The related id, whether included (via `id_of`) or bare.
    pub fn id<'a>(&'a self, id_of: impl FnOnce(&'a T) -> &'a str) -> Option<&'a str> {
        match self {
            Relation::Data(t) => Some(id_of(t)),
            Relation::Id(id) => Some(id),
            Relation::Absent | Relation::Null => None,
        }
    }
}

/// An element of a relation: the record, or just its id.
enum IdOr<T> {
    Id(String),
    Data(T),
}

deserialize_by_visitor! {'de, IdOr, "a record or an id";
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(IdOr::Id(s.to_owned()))
    }

    integer_is_text!(IdOr::Id);

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(IdOr::Data)
    }
}

deserialize_by_visitor! {'de, Relation, "{\"data\": ...}, an id or null";
    null_is!('de, Relation::Null);

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(if s.is_empty() { Relation::Null } else { Relation::Id(s.to_owned()) })
    }

    integer_is_text!(Relation::Id);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a list where one related record was expected"));
        }
        Ok(Relation::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Relation::Null);
        };
        if first == "data" {
            let inner = map.next_value::<Option<IdOr<T>>>()?;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(match inner {
                None => Relation::Null,
                Some(IdOr::Id(id)) => Relation::Id(id),
                Some(IdOr::Data(t)) => Relation::Data(t),
            });
        }
        // Not wrapped (or `data` not first): buffer, then decide.
        let mut obj = serde_json::Map::new();
        obj.insert(first, map.next_value()?);
        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
            obj.insert(k, v);
        }
        let value = match obj.remove("data") {
            Some(serde_json::Value::Null) => return Ok(Relation::Null),
            Some(inner) => inner,
            None => serde_json::Value::Object(obj),
        };
        if let Some(id) = value.as_str() {
            return Ok(Relation::Id(id.to_owned()));
        }
        T::deserialize(value)
            .map(Relation::Data)
            .map_err(|e| de::Error::custom(crate::wonde::error::scrub(&e.to_string())))
    }
}

/// A to-many relation as Wonde renders it (`{"data": [...]}`).
#[derive(Clone, Debug, PartialEq)]
pub struct RelationList<T> {
    /// False when the key was absent or null: the list says nothing, and an
    /// empty `items` must not be read as "none".
    pub included: bool,
    pub items: Vec<T>,
    /// Elements that came as bare ids.
    pub ids: Vec<String>,
}

impl<T> Default for RelationList<T> {
    fn default() -> Self {
        RelationList { included: false, items: Vec::new(), ids: Vec::new() }
    }
}

impl<T> RelationList<T> {
    fn from_elements(elements: Vec<IdOr<T>>) -> Self {
        let mut list = RelationList { included: true, items: Vec::new(), ids: Vec::new() };
        for e in elements {
            match e {
                IdOr::Id(id) => list.ids.push(id),
                IdOr::Data(t) => list.items.push(t),
            }
        }
        list
    }
}

deserialize_by_visitor! {'de, RelationList, "{\"data\": [...]}, a list or null";
    null_is!('de, RelationList::default());

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(RelationList { included: true, items: Vec::new(), ids: vec![s.to_owned()] })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::new();
        while let Some(e) = seq.next_element::<IdOr<T>>()? {
            elements.push(e);
        }
        Ok(RelationList::from_elements(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut list = RelationList { included: true, items: Vec::new(), ids: Vec::new() };
        while let Some(key) = map.next_key::<String>()? {
            if key == "data" {
                let elements = map.next_value::<Option<Vec<IdOr<T>>>>()?.unwrap_or_default();
                list = RelationList::from_elements(elements);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(list)
    }
}
