//! Enums whose names are written once, in `portcullis_shared::vocabulary`
//! (shared with the plugin SDK): their text, serde form and parsing all
//! come from that list, indexed by discriminant.

/// Implements `as_str`, `ALL`, `named` and serde for `$ty`, whose variants
/// are listed in the order of `$names`.
macro_rules! named_enum {
    ($ty:ident, $names:path, [$($variant:ident),+ $(,)?]) => {
        impl $ty {
            /// Every variant, in order.
            pub const ALL: [$ty; $names.len()] = [$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                $names[self as usize]
            }

            /// The variant this name spells.
            pub fn named(name: &str) -> Option<$ty> {
                $ty::ALL.into_iter().find(|v| v.as_str() == name)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $ty::named(&text)
                    .ok_or_else(|| serde::de::Error::unknown_variant(&text, &$names))
            }
        }
    };
}

pub(crate) use named_enum;
