use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// The tenant a record belongs to (`X-Scope-OrgID`, default `anonymous`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tenant(String);

impl Tenant {
    /// The tenant used when a request names none.
    pub const DEFAULT: &'static str = "anonymous";

    /// Longest accepted tenant id, as in Mimir and Loki.
    pub const MAX_LEN: usize = 150;

    /// Validates a tenant id with the rules Mimir and Loki use: 1–150 characters from
    /// `A-Z a-z 0-9 ! - _ . * ' ( )`, and not `.` or `..`.
    pub fn new(id: &str) -> Result<Tenant> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
        if id.is_empty() || id.len() > Self::MAX_LEN || id == "." || id == ".." || !id.chars().all(allowed) {
            return Err(Error::InvalidTenant(id.chars().take(Self::MAX_LEN).collect()));
        }
        Ok(Tenant(id.to_owned()))
    }

    /// The tenant id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! id_type {
    ($name:ident, $len:literal, $what:literal) => {
        #[doc = concat!("A valid (right length, not all zero) ", $what, ".")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Checks length and that the id is not all zeroes, as OTLP requires.
            pub fn from_slice(bytes: &[u8]) -> Option<$name> {
                let id: [u8; $len] = bytes.try_into().ok()?;
                (id != [0; $len]).then_some($name(id))
            }

            /// Lowercase hex, as OTLP/JSON and the query APIs spell it.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                if s.is_human_readable() { s.serialize_str(&self.to_hex()) } else { self.0.serialize(s) }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                use serde::de::Error as _;
                let bytes: [u8; $len] = if d.is_human_readable() {
                    let text = String::deserialize(d)?;
                    let mut out = [0; $len];
                    hex::decode_to_slice(&text, &mut out).map_err(D::Error::custom)?;
                    out
                } else {
                    <[u8; $len]>::deserialize(d)?
                };
                $name::from_slice(&bytes).ok_or_else(|| D::Error::custom(concat!("all-zero ", $what)))
            }
        }
    };
}

id_type!(TraceId, 16, "trace id");
id_type!(SpanId, 8, "span id");

/// An attribute value, as OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum AnyValue {
    /// No value set.
    #[default]
    Empty,
    /// UTF-8 text.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values.
    Array(Vec<AnyValue>),
    /// A list of key/value pairs (keys may repeat, order kept).
    Map(Vec<KeyValue>),
}

/// One attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Attribute name.
    pub key: String,
    /// Attribute value.
    pub value: AnyValue,
}

/// Attributes in the order they arrived.
pub type Attributes = Vec<KeyValue>;

/// The entity that produced the telemetry (OTLP `Resource`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resource {
    /// Resource attributes such as `service.name`.
    pub attributes: Attributes,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Schema URL of the resource, if any.
    pub schema_url: String,
}

impl Resource {
    /// The `service.name` attribute, if it is a string.
    pub fn service_name(&self) -> Option<&str> {
        self.attributes.iter().find_map(|kv| match (&*kv.key, &kv.value) {
            ("service.name", AnyValue::String(s)) => Some(s.as_str()),
            _ => None,
        })
    }
}

/// The instrumentation scope (library) that produced the items.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scope {
    /// Scope name.
    pub name: String,
    /// Scope version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Attributes,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Schema URL of the scope, if any.
    pub schema_url: String,
}

/// Items of one signal, grouped by resource then scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Batch<T> {
    /// One entry per resource.
    pub resources: Vec<ResourceGroup<T>>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch { resources: Vec::new() }
    }
}

impl<T> Batch<T> {
    /// Every item in the batch, in order.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.resources.iter().flat_map(|r| r.scopes.iter()).flat_map(|s| s.items.iter())
    }

    /// Whether the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.items().next().is_none()
    }
}

/// Items from one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceGroup<T> {
    /// The resource.
    pub resource: Resource,
    /// Items grouped by scope.
    pub scopes: Vec<ScopeGroup<T>>,
}

/// Items from one scope of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeGroup<T> {
    /// The scope.
    pub scope: Scope,
    /// The items.
    pub items: Vec<T>,
}
