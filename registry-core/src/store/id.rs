//! Ids that travel as text (upload ids, lease ids): the conversions each such newtype has, so
//! every id is parsed in one place (its `parse`) and shown as the plain string.

/// Implements `as_str`, `Display`, `TryFrom<String>` (through the type's `parse`) and
/// `From<Id> for String` for a `struct Id(String)`.
macro_rules! text_id {
    ($id:ident) => {
        impl $id {
            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $id {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $id {
            type Error = crate::store::StoreError;
            fn try_from(s: String) -> crate::store::Result<Self> {
                $id::parse(&s)
            }
        }

        impl From<$id> for String {
            fn from(id: $id) -> String {
                id.0
            }
        }
    };
}

pub(crate) use text_id;
