//! How the persisted documents spell domain values in JSON.
//!
//! The domain keeps serde out of its types, so the documents name every value by its text form
//! (`Display` and `FromStr`): currencies, countries and ids as their codes, money as
//! `[currency, minor units]`. The text forms are the ones the API and the events use, so a
//! person reading a document in the database reads the same values.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use fundtrail_domain::{Currency, Money};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn parse<'de, T, D>(text: &str) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Display,
    D: Deserializer<'de>,
{
    text.parse().map_err(D::Error::custom)
}

/// A value by its text form.
pub mod text {
    use super::{Deserialize, Deserializer, Display, FromStr, Serializer, parse};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        parse::<T, D>(&text)
    }
}

/// An optional value by its text form (`null` when absent).
pub mod text_opt {
    use super::{Deserialize, Deserializer, Display, FromStr, Serializer, parse};

    pub fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => s.collect_str(value),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(d)?
            .map(|text| parse::<T, D>(&text))
            .transpose()
    }
}

/// A map whose keys are written by their text form.
pub mod text_keys {
    use super::{BTreeMap, Deserialize, Deserializer, Display, FromStr, Serialize, Serializer};
    use serde::ser::SerializeMap;

    pub fn serialize<K, V, S>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Display,
        V: Serialize,
        S: Serializer,
    {
        let mut out = s.serialize_map(Some(map.len()))?;
        for (key, value) in map {
            out.serialize_entry(&key.to_string(), value)?;
        }
        out.end()
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: FromStr + Ord,
        K::Err: Display,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let raw = BTreeMap::<String, V>::deserialize(d)?;
        raw.into_iter()
            .map(|(key, value)| Ok((super::parse::<K, D>(&key)?, value)))
            .collect()
    }
}

/// Money as `[currency, minor units]`.
pub mod money {
    use super::{Currency, Deserialize, Deserializer, Money, Serialize, Serializer, parse};

    pub fn serialize<S: Serializer>(value: &Money, s: S) -> Result<S::Ok, S::Error> {
        (value.currency().code(), value.minor_units()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let (code, minor) = <(String, i64)>::deserialize(d)?;
        Ok(Money::new(parse::<Currency, D>(&code)?, minor))
    }
}
