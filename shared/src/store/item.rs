use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The primary key of an item (or a secondary-index key).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A stored item: its key, optional secondary-index key, optional expiry, and the other
/// attributes as a JSON object (strings, numbers, booleans, nulls, lists and maps).
/// The names `pk`, `sk`, `gsi1pk`, `gsi1sk` and `expires_at` are reserved for the fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    pub gsi1: Option<Key>,
    pub expires_at: Option<i64>,
    pub attrs: Map<String, Value>,
}

pub const RESERVED_ATTRIBUTES: [&str; 5] = ["pk", "sk", "gsi1pk", "gsi1sk", "expires_at"];

impl Item {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            gsi1: None,
            expires_at: None,
            attrs: Map::new(),
        }
    }

    /// Builds an item whose attributes are the fields of `value` (which must serialize to an object).
    pub fn from_record<T: Serialize>(key: Key, value: &T) -> anyhow::Result<Self> {
        match serde_json::to_value(value)? {
            Value::Object(attrs) => Ok(Self {
                key,
                gsi1: None,
                expires_at: None,
                attrs,
            }),
            other => anyhow::bail!("a record must serialize to an object, not {other}"),
        }
    }

    pub fn with_gsi1(mut self, key: Key) -> Self {
        self.gsi1 = Some(key);
        self
    }

    pub fn expiring_at(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    pub fn with_attr(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.to_owned(), value.into());
        self
    }

    /// Reads the attributes back into a record type.
    pub fn record<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        Ok(serde_json::from_value(Value::Object(self.attrs.clone()))?)
    }

    pub fn is_expired(&self, now_unix: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_unix)
    }
}

/// An opaque pagination token: the key of the last item of a page (and its index key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(String);

#[derive(Serialize, serde::Deserialize)]
struct CursorBody {
    key: Key,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    index_key: Option<Key>,
}

impl Cursor {
    pub fn from_keys(key: &Key, index_key: Option<&Key>) -> Self {
        let body = CursorBody {
            key: key.clone(),
            index_key: index_key.cloned(),
        };
        let json = serde_json::to_vec(&body).expect("cursor serializes");
        Self(URL_SAFE_NO_PAD.encode(json))
    }

    /// The item key and, for index queries, the index key this cursor points after.
    pub fn keys(&self) -> Option<(Key, Option<Key>)> {
        let bytes = URL_SAFE_NO_PAD.decode(&self.0).ok()?;
        let body: CursorBody = serde_json::from_slice(&bytes).ok()?;
        Some((body.key, body.index_key))
    }

    pub fn parse(token: &str) -> Option<Self> {
        let cursor = Self(token.to_owned());
        cursor.keys().map(|_| cursor)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Seconds since the epoch, as the backends compare expiry.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
