//! YAML 1.1 scalars on top of `serde_yaml`'s YAML 1.2 reading, as aMQTT's PyYAML reads them.
//!
//! [`Yaml11`] wraps a deserializer (serde_yaml's, or a `serde_yaml::Value`) and everything
//! nested in it. Only a value the target type asks for as a boolean or a number is read
//! differently: a boolean also accepts `yes`/`no`, `on`/`off` and `y`/`n` (see
//! [`scalar::yaml11_bool`]), a number also accepts `1_000` and `1:30` (see
//! [`scalar::yaml11_number`]). Strings, maps and everything else pass through untouched, so a
//! string field holding `yes` stays the string `yes`, and `serde_path_to_error`'s key paths and
//! serde_yaml's line numbers stay in the errors.

mod scalar;
#[cfg(test)]
pub(super) mod tests;

use std::fmt;

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, Error, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use scalar::{Number, yaml11_bool, yaml11_number};

/// Deserializes `T` reading booleans and numbers as YAML 1.1 (aMQTT) does, everywhere inside it.
///
/// Every configuration the broker, its plugins and the client read goes through this already.
/// Use it for a type you deserialize yourself, on a whole value or one field:
///
/// ```
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Options {
///     #[serde(deserialize_with = "amqtt_core::config::yaml11")]
///     enabled: bool,
///     #[serde(default, deserialize_with = "amqtt_core::config::yaml11")]
///     verbose: Option<bool>,
/// }
///
/// let options: Options = serde_yaml::from_str("enabled: on\nverbose: No\n")?;
/// assert!(options.enabled);
/// assert_eq!(options.verbose, Some(false));
/// # Ok::<(), serde_yaml::Error>(())
/// ```
pub fn yaml11<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: serde::Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(Yaml11(deserializer))
}

/// A deserializer, sequence, map, enum or seed whose booleans and numbers read as YAML 1.1.
pub(crate) struct Yaml11<T>(pub(crate) T);

/// What the target type asked the deserializer for: decides how a string is read.
#[derive(Clone, Copy)]
enum Want {
    /// A boolean: YAML 1.1 spellings become `true`/`false`.
    Bool,
    /// A number: YAML 1.1 numbers (`1_000`, `1:30`) become numbers.
    Number,
    /// Anything else: strings stay strings.
    Other,
}

/// The target's visitor, given YAML 1.1 booleans or numbers where it wants them, and wrapped
/// deserializers for everything nested.
struct Yaml11Visitor<V> {
    inner: V,
    want: Want,
}

impl<'de, V: Visitor<'de>> Yaml11Visitor<V> {
    /// `inner`, for a value that is neither a boolean nor a number.
    fn other(inner: V) -> Self {
        Yaml11Visitor {
            inner,
            want: Want::Other,
        }
    }

    /// Reads `text` as the boolean or number the target wants; `Err(self)` when it is not one.
    fn scalar<E: Error>(self, text: &str) -> Result<Result<V::Value, E>, Self> {
        match self.want {
            Want::Bool => match yaml11_bool(text) {
                Some(b) => Ok(self.inner.visit_bool(b)),
                None => Err(self),
            },
            Want::Number => match yaml11_number(text) {
                Ok(Some(Number::Unsigned(n))) => Ok(self.inner.visit_u64(n)),
                Ok(Some(Number::Signed(n))) => Ok(self.inner.visit_i64(n)),
                Ok(Some(Number::Float(n))) => Ok(self.inner.visit_f64(n)),
                Ok(None) => Err(self),
                Err(message) => Ok(Err(E::custom(message))),
            },
            Want::Other => Err(self),
        }
    }
}

/// Forwards `visit_*` methods that take a plain value unchanged to the inner visitor.
macro_rules! forward_values {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Yaml11Visitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_values!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_str<E: Error>(self, v: &str) -> Result<V::Value, E> {
        self.scalar(v).unwrap_or_else(|me| me.inner.visit_str(v))
    }

    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.scalar(v)
            .unwrap_or_else(|me| me.inner.visit_borrowed_str(v))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<V::Value, E> {
        match self.scalar(&v) {
            Ok(read) => read,
            Err(me) => me.inner.visit_string(v),
        }
    }

    fn visit_none<E: Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Yaml11(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Yaml11(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(Yaml11(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Yaml11(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Yaml11(data))
    }
}

/// `deserialize_*` methods whose value is read as YAML 1.1 `$want` through `deserialize_any`
/// (serde_yaml would refuse `on` or `1_000` outright when asked for a bool or a number).
macro_rules! read_as {
    ($want:expr => $($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_any(Yaml11Visitor { inner: visitor, want: $want })
        }
    )*};
}

/// `deserialize_*` methods forwarded to the same method of the wrapped deserializer.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* Yaml11Visitor::other(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Yaml11<D> {
    type Error = D::Error;

    read_as!(Want::Bool => deserialize_bool);
    read_as!(Want::Number => deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64,
        deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64,
        deserialize_u128, deserialize_f32, deserialize_f64);

    forward!(
        deserialize_any(),
        deserialize_char(),
        deserialize_str(),
        deserialize_string(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_option(),
        deserialize_unit(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_seq(),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
        deserialize_ignored_any(),
    );

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Yaml11<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Yaml11(deserializer))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Yaml11<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Yaml11(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Yaml11<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Yaml11(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Yaml11(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Yaml11<A> {
    type Error = A::Error;
    type Variant = Yaml11<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Yaml11(seed))?;
        Ok((value, Yaml11(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Yaml11<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Yaml11(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Yaml11Visitor::other(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Yaml11Visitor::other(visitor))
    }
}
