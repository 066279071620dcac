//! The parsed TOML document: its JSON form for the schema check, and the span of any value or key named by
//! a JSON pointer, so schema errors point at the exact place in the file.

use std::ops::Range;

use serde_json::{Map, Number, Value};
use toml_edit::{ImDocument, Item};

/// The document as the JSON value the schema judges. Datetimes become strings; a float JSON cannot hold
/// (`nan`, `inf`) becomes `null`, which no schema type accepts, so it is reported.
pub fn to_json(document: &ImDocument<String>) -> Value {
    table_like_to_json(document.as_table())
}

fn table_like_to_json(table: &dyn toml_edit::TableLike) -> Value {
    let mut object = Map::new();
    for (key, item) in table.iter() {
        object.insert(key.to_owned(), item_to_json(item));
    }
    Value::Object(object)
}

fn item_to_json(item: &Item) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(value) => value_to_json(value),
        Item::Table(table) => table_like_to_json(table),
        Item::ArrayOfTables(tables) => Value::Array(
            tables
                .iter()
                .map(|table| table_like_to_json(table))
                .collect(),
        ),
    }
}

fn value_to_json(value: &toml_edit::Value) -> Value {
    match value {
        toml_edit::Value::String(text) => Value::String(text.value().clone()),
        toml_edit::Value::Integer(number) => Value::Number((*number.value()).into()),
        toml_edit::Value::Float(number) => {
            Number::from_f64(*number.value()).map_or(Value::Null, Value::Number)
        }
        toml_edit::Value::Boolean(flag) => Value::Bool(*flag.value()),
        toml_edit::Value::Datetime(datetime) => Value::String(datetime.value().to_string()),
        toml_edit::Value::Array(array) => Value::Array(array.iter().map(value_to_json).collect()),
        toml_edit::Value::InlineTable(table) => table_like_to_json(table),
    }
}

/// The same JSON value from the parse of `toml::de`, which keeps no layout and borrows its strings: the
/// quick path for a manifest that turns out valid. `None` for a number JSON would hold differently (an
/// integer beyond `i64`, a float that does not parse), so the caller falls back to [`to_json`].
pub fn de_table_to_json(table: &toml::de::DeTable<'_>) -> Option<Value> {
    let mut object = Map::with_capacity(table.len());
    for (key, value) in table {
        object.insert(
            key.get_ref().to_string(),
            de_value_to_json(value.get_ref())?,
        );
    }
    Some(Value::Object(object))
}

fn de_value_to_json(value: &toml::de::DeValue<'_>) -> Option<Value> {
    use toml::de::DeValue;
    Some(match value {
        DeValue::String(text) => Value::String(text.to_string()),
        DeValue::Integer(number) => Value::Number(
            i64::from_str_radix(number.as_str(), number.radix())
                .ok()?
                .into(),
        ),
        DeValue::Float(number) => {
            let number: f64 = number.as_str().parse().ok()?;
            Number::from_f64(number).map_or(Value::Null, Value::Number)
        }
        DeValue::Boolean(flag) => Value::Bool(*flag),
        DeValue::Datetime(datetime) => Value::String(datetime.to_string()),
        DeValue::Array(array) => Value::Array(
            array
                .iter()
                .map(|item| de_value_to_json(item.get_ref()))
                .collect::<Option<_>>()?,
        ),
        DeValue::Table(table) => de_table_to_json(table)?,
    })
}

/// One step of a JSON pointer.
fn pointer_segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
}

/// A value or table found by a pointer, with the best span known for it.
struct Found<'a> {
    item: Option<ItemRef<'a>>,
    span: Option<Range<usize>>,
}

#[derive(Clone, Copy)]
enum ItemRef<'a> {
    Item(&'a Item),
    Value(&'a toml_edit::Value),
    Table(&'a toml_edit::Table),
}

impl<'a> ItemRef<'a> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            ItemRef::Item(item) => item.span(),
            ItemRef::Value(value) => value.span(),
            ItemRef::Table(table) => table.span(),
        }
    }

    fn table_like(self) -> Option<&'a dyn toml_edit::TableLike> {
        match self {
            ItemRef::Item(item) => item.as_table_like(),
            ItemRef::Value(value) => value
                .as_inline_table()
                .map(|t| t as &dyn toml_edit::TableLike),
            ItemRef::Table(table) => Some(table),
        }
    }

    fn index(self, index: usize) -> Option<ItemRef<'a>> {
        match self {
            ItemRef::Item(Item::ArrayOfTables(tables)) => tables.get(index).map(ItemRef::Table),
            ItemRef::Item(Item::Value(value)) | ItemRef::Value(value) => {
                value.as_array()?.get(index).map(ItemRef::Value)
            }
            _ => None,
        }
    }
}

fn find<'a>(document: &'a ImDocument<String>, pointer: &str) -> Found<'a> {
    let mut current = ItemRef::Table(document.as_table());
    let mut span = None;
    for segment in pointer_segments(pointer) {
        let next = if let Some(table) = current.table_like() {
            match table.get_key_value(&segment) {
                Some((key, item)) => {
                    if let Some(key_span) = key.span() {
                        span = Some(key_span);
                    }
                    Some(ItemRef::Item(item))
                }
                None => None,
            }
        } else {
            segment
                .parse::<usize>()
                .ok()
                .and_then(|index| current.index(index))
        };
        match next {
            Some(next) => {
                if let Some(next_span) = next.span() {
                    span = Some(next_span);
                }
                current = next;
            }
            None => return Found { item: None, span },
        }
    }
    Found {
        item: Some(current),
        span,
    }
}

/// The span of the value at `pointer` (for a table, its header or the key that opens it), or of the
/// closest enclosing thing that has one.
pub fn value_span(document: &ImDocument<String>, pointer: &str) -> Option<Range<usize>> {
    find(document, pointer).span
}

/// The span of `key` in the table at `pointer`.
pub fn key_span(document: &ImDocument<String>, pointer: &str, key: &str) -> Option<Range<usize>> {
    let found = find(document, pointer);
    found
        .item
        .and_then(ItemRef::table_like)
        .and_then(|table| table.get_key_value(key))
        .and_then(|(key, _)| key.span())
        .or(found.span)
}
