//! Typed ids. Each is a MongoDB ObjectId inside, shown to clients as 24 hex characters, so a
//! `ProductId` can never be passed where an `OrderId` is expected.

use std::fmt;
use std::str::FromStr;

use mongodb::bson::oid::ObjectId;

macro_rules! object_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ObjectId);

        impl $name {
            pub fn new() -> Self {
                Self(ObjectId::new())
            }
            pub fn from_object_id(id: ObjectId) -> Self {
                Self(id)
            }
            pub fn object_id(&self) -> ObjectId {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ObjectId::parse_str(s)
                    .map(Self)
                    .map_err(|_| "expected a 24-character hexadecimal id".to_owned())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.to_hex())
            }
        }

        /// On the wire: 24 hexadecimal characters.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .pattern(Some("^[0-9a-fA-F]{24}$"))
                    .examples(["665f1c2e8b3a4d0012345678"])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

object_id!(
    /// A user account.
    UserId
);
object_id!(
    /// A catalog product.
    ProductId
);
object_id!(
    /// A product review.
    ReviewId
);
object_id!(
    /// An order.
    OrderId
);
