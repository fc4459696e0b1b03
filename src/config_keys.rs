//! Every setting `sua` reads, listed from the configuration types themselves (`sua config-keys`), so deployment
//! manifests can be checked against the code: a setting added, renamed or removed in [`Config`] changes the list.
//!
//! The keys come from serde: a probing [`Deserializer`] asks `Config` to deserialize a map holding one path at a
//! time and records the field names each struct declares on the way down. Nothing is hand-listed except the
//! OpenTelemetry variable, which `Config::load` reads outside the `SUA_` namespace.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use sua_core::Config;

/// The standard OpenTelemetry variable `Config::load` reads (traces are exported when it is set).
pub const OTEL_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// One setting: its dotted key (`amqp.prefetch`) and environment variable (`SUA_AMQP__PREFETCH`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub env: String,
    pub key: String,
}

/// Every leaf setting of [`Config`], in key order.
pub fn settings() -> Vec<Key> {
    let mut keys = Vec::new();
    collect(&mut Vec::new(), &mut keys);
    keys.sort();
    keys.into_iter().map(|key| Key { env: env_name(&key), key }).collect()
}

/// `amqp.prefetch` → `SUA_AMQP__PREFETCH` (figment's `Env::prefixed("SUA_").split("__")`).
pub fn env_name(key: &str) -> String {
    format!("SUA_{}", key.replace('.', "__").to_ascii_uppercase())
}

/// Environment variables the command line reads through clap (`SUA_CONFIG`), from every subcommand.
pub fn command_line_env(command: &clap::Command) -> BTreeSet<String> {
    let mut names: BTreeSet<String> =
        command.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect();
    for sub in command.get_subcommands() {
        names.extend(command_line_env(sub));
    }
    names
}

fn collect(path: &mut Vec<&'static str>, out: &mut Vec<String>) {
    match probe(path) {
        Shape::Struct(fields) => {
            for field in fields {
                path.push(field);
                collect(path, out);
                path.pop();
            }
        }
        Shape::Leaf => out.push(path.join(".")),
    }
}

/// What a value at some path of `Config` is.
#[derive(Debug, Clone)]
enum Shape {
    Struct(&'static [&'static str]),
    Leaf,
}

fn probe(path: &[&'static str]) -> Shape {
    let found = RefCell::new(None);
    // The probe always ends in an error once it has seen what sits at the end of the path.
    let _ = Config::deserialize(Probe { rest: path, found: &found });
    found.into_inner().unwrap_or(Shape::Leaf)
}

#[derive(Debug)]
struct Stop(String);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop(msg.to_string())
    }
}

/// Deserializes as a map holding only `rest` (nested), then records what is asked for at its end.
struct Probe<'a> {
    rest: &'a [&'static str],
    found: &'a RefCell<Option<Shape>>,
}

impl Probe<'_> {
    fn leaf<T>(self) -> Result<T, Stop> {
        if self.rest.is_empty() {
            *self.found.borrow_mut() = Some(Shape::Leaf);
        }
        Err(Stop("leaf".into()))
    }
}

macro_rules! leaves {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> { self.leaf() })*
    };
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    leaves! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_seq deserialize_map deserialize_identifier
        deserialize_ignored_any
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, _visitor: V) -> Result<V::Value, Stop> {
        self.leaf()
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, Stop> {
        self.leaf()
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.leaf()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.leaf()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        match self.rest.split_first() {
            None => {
                *self.found.borrow_mut() = Some(Shape::Struct(fields));
                Err(Stop("struct".into()))
            }
            Some((key, rest)) => visitor.visit_map(OneKey { key: Some(key), value: Probe { rest, found: self.found } }),
        }
    }
}

/// A map with a single entry whose value is the next probe.
struct OneKey<'a> {
    key: Option<&'static str>,
    value: Probe<'a>,
}

impl<'de, 'a> MapAccess<'de> for OneKey<'a> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed.deserialize(de::value::BorrowedStrDeserializer::new(key)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        seed.deserialize(Probe { rest: self.value.rest, found: self.value.found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::Serialized;

    fn keys() -> Vec<String> {
        settings().into_iter().map(|k| k.key).collect()
    }

    #[test]
    fn top_level_and_nested_settings_are_listed_as_leaves() {
        let keys = keys();
        for expected in ["database_url", "amqp_url", "public_url", "amqp.prefetch", "portal.cors_origins", "sync.jobs"]
        {
            assert!(keys.iter().any(|k| k == expected), "{expected} missing from {keys:?}");
        }
        // Sections are not settings themselves, and fields serde skips are not read from the environment.
        for absent in ["amqp", "portal", "otel_endpoint"] {
            assert!(!keys.iter().any(|k| k == absent), "{absent} listed");
        }
    }

    #[test]
    fn environment_names_nest_with_double_underscores() {
        assert_eq!(env_name("amqp.prefetch"), "SUA_AMQP__PREFETCH");
        assert_eq!(env_name("database_url"), "SUA_DATABASE_URL");
        let listed = settings();
        assert!(listed.iter().any(|k| k.env == "SUA_PORTAL__JWKS_MIN_REFRESH_SECS"));
    }

    fn unknown_field(key: &str) -> bool {
        // A value of the wrong type is fine here: only "no such field" matters.
        let figment = Figment::new().merge(Serialized::default(key, "probe"));
        match figment.extract::<Config>() {
            Ok(_) => false,
            Err(errors) => errors.into_iter().any(|e| matches!(e.kind, figment::error::Kind::UnknownField(..))),
        }
    }

    #[test]
    fn every_listed_key_is_one_the_configuration_accepts() {
        let keys = keys();
        assert!(keys.len() > 40, "{keys:?}");
        for key in keys {
            assert!(!unknown_field(&key), "{key} is listed but the configuration does not accept it");
        }
    }

    #[test]
    fn a_key_the_configuration_does_not_have_is_refused() {
        assert!(unknown_field("amqp.no_such_setting"));
        assert!(unknown_field("no_such_setting"));
    }
}
