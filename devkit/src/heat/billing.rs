//! What one write costs in DynamoDB's write units, in the table and in each global
//! secondary index, and which partition key it lands on in each: the rules as DynamoDB
//! bills them, applied to the item before and after the write. Pure: no I/O, so every
//! rule below has a unit test that can fail.
//!
//! Where each rule comes from (AWS's pages, and where they are silent, what was
//! measured and by whom):
//!
//! - **Item size**: the sum of attribute name lengths and value sizes; strings their
//!   UTF-8 bytes, binary its raw bytes, booleans and nulls 1 byte, a list or map 3 bytes
//!   plus its elements plus 1 byte per element, a number "approximately 1 byte per two
//!   significant digits, plus 1 byte" ("DynamoDB item sizes and formats",
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>).
//!   The number rule here is the exact form of that approximation that DynamoDB Local
//!   uses: digits in pairs aligned on the decimal point (base 100), leading and trailing
//!   zero pairs dropped, plus 1 byte, plus 1 more for a negative number (120 is 3 bytes,
//!   1200 is 2). The page is silent on sets; DynamoDB Local counts a set as the sum of
//!   its elements with no overhead, and so does this. The benchmark checks every item
//!   size against DynamoDB Local's own (a stream record's `SizeBytes` is the size of its
//!   keys and both images) and reports how many agree.
//! - **Table write units**: `ceil(size / 1 KB)`, at least 1, of the larger of the item
//!   before and after the write (`PutItem`, `UpdateItem`), of the deleted item
//!   (`DeleteItem`) ("DynamoDB read and write operations",
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html>).
//! - **Transactions**: "DynamoDB performs two underlying reads or writes of every item
//!   in the transaction: one to prepare the transaction and one to commit the
//!   transaction", so each item of a `TransactWriteItems`, `ConditionCheck`s included,
//!   costs twice its write units in the table ("Amazon DynamoDB Transactions: How it
//!   works", <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html>).
//!   AWS's pages do not say whether the index writes a transaction causes are doubled
//!   too, nor what a `ConditionCheck` is sized on. Measured against DynamoDB itself by
//!   the dynamodb-conformance suite and the dynoxide emulator (paritysuite/dynamodb-conformance
//!   pull 67; nubo-db/dynoxide pull 188): the doubling applies to the table alone (an
//!   index write inside a transaction costs what it costs outside one), and a
//!   `ConditionCheck` is 2 write units per KB of the item it reads. This follows them.
//!   DynamoDB Local does not: it reports four units per small transactional item.
//! - **Global secondary indexes** ("Global secondary indexes", section "Write capacity
//!   units", <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html>):
//!   an index is written only if the item is, or was, in it (its key attributes present)
//!   and the write touched what the index holds. A new entry is one write, a removed
//!   entry one, an updated entry one, and a changed index key two (a delete from the old
//!   key and a put at the new one), each sized on the index entry ("larger index entries
//!   will require additional write capacity units"): the table's keys, the index's keys
//!   and the projected attributes (`ALL`: the whole item; `KEYS_ONLY`: the keys alone).
//!   The page's 100 bytes of overhead per index entry are storage, not write units; the
//!   measurements above confirm it, and that an updated entry is billed on the larger
//!   of its old and new sizes, and a moved one on each half's own size.
//!
//! The partition key a write lands on is the table's partition key value for the
//! table, and the index's partition key value for an index: for a moved entry, the
//! delete lands on the old value and the put on the new one.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use anyhow::{bail, Context, Result};
use serde_dynamo::AttributeValue;

use crate::table::TableDefinition;

/// An item's attributes, as a stream record's image holds them.
pub type Attributes = HashMap<String, AttributeValue>;

/// DynamoDB bills writes in units of 1 KB.
pub const WRITE_UNIT_BYTES: usize = 1024;

/// A key attribute's value: only strings, numbers and binary can be keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    S(String),
    /// As DynamoDB returns it (normalised): compare numbers read from the same side.
    N(String),
    B(Vec<u8>),
}

impl KeyValue {
    /// `None` for a value of a type no key can have.
    pub fn of(value: &AttributeValue) -> Option<Self> {
        match value {
            AttributeValue::S(text) => Some(KeyValue::S(text.clone())),
            AttributeValue::N(number) => Some(KeyValue::N(number.clone())),
            AttributeValue::B(bytes) => Some(KeyValue::B(bytes.clone())),
            _ => None,
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::S(text) | KeyValue::N(text) => f.write_str(text),
            KeyValue::B(bytes) => {
                f.write_str("0x")?;
                bytes.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    }
}

/// An item's primary key, attribute by attribute.
pub type KeyMap = BTreeMap<String, KeyValue>;

/// The key attributes `names` of `item`; `None` if one is missing or not a key type.
fn key_values<'a>(
    item: &Attributes,
    names: impl IntoIterator<Item = &'a String>,
) -> Option<KeyMap> {
    names
        .into_iter()
        .map(|name| Some((name.clone(), KeyValue::of(item.get(name)?)?)))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexShape {
    pub name: String,
    pub hash: String,
    pub range: Option<String>,
    pub projection: Projection,
}

/// What billing needs of a table: its keys and its global secondary indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableShape {
    pub hash: String,
    pub range: Option<String>,
    pub indexes: Vec<IndexShape>,
}

/// `HASH` and optional `RANGE` attribute names of a CloudFormation key schema.
fn hash_and_range(
    schema: &[crate::table::KeyElement],
    what: &str,
) -> Result<(String, Option<String>)> {
    let named = |kind: &str| {
        schema
            .iter()
            .find(|element| element.key_type == kind)
            .map(|element| element.attribute_name.clone())
    };
    let hash = named("HASH").with_context(|| format!("{what} has no HASH key"))?;
    Ok((hash, named("RANGE")))
}

impl TableShape {
    /// The shape of the table `template.yaml` defines. An `INCLUDE` projection is
    /// refused: the template has none, and the definition does not read its attributes.
    pub fn from_definition(definition: &TableDefinition) -> Result<Self> {
        let (hash, range) = hash_and_range(&definition.key_schema, "the table")?;
        let indexes = definition
            .global_secondary_indexes
            .iter()
            .map(|index| {
                let (hash, range) =
                    hash_and_range(&index.key_schema, &format!("index {}", index.index_name))?;
                let projection = match index.projection.projection_type.as_str() {
                    "ALL" => Projection::All,
                    "KEYS_ONLY" => Projection::KeysOnly,
                    other => bail!(
                        "index {}: projection {other} is not billed here (only ALL and KEYS_ONLY)",
                        index.index_name
                    ),
                };
                Ok(IndexShape {
                    name: index.index_name.clone(),
                    hash,
                    range,
                    projection,
                })
            })
            .collect::<Result<_>>()?;
        Ok(TableShape {
            hash,
            range,
            indexes,
        })
    }

    fn table_key_names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.hash).chain(self.range.as_ref())
    }
}

/// Where a write is billed: the table, or one of its global secondary indexes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Table,
    Index(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Table => f.write_str("table"),
            Target::Index(name) => f.write_str(name),
        }
    }
}

/// Write units billed on one partition key of the table or of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub target: Target,
    pub partition: KeyValue,
    pub units: u64,
}

/// `ceil(bytes / 1 KB)`, and never less than 1: the smallest write is a whole unit.
pub fn write_units(bytes: usize) -> u64 {
    u64::try_from(bytes.div_ceil(WRITE_UNIT_BYTES).max(1)).unwrap_or(u64::MAX)
}

/// An item's size as DynamoDB computes it.
pub fn item_size(item: &Attributes) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// A value's size, without its attribute's name.
pub fn value_size(value: &AttributeValue) -> usize {
    // A list's or map's own overhead, and each element's.
    const CONTAINER: usize = 3;
    const ELEMENT: usize = 1;
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_size(number),
        AttributeValue::B(bytes) => bytes.len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(map) => {
            CONTAINER
                + map
                    .iter()
                    .map(|(name, value)| name.len() + value_size(value) + ELEMENT)
                    .sum::<usize>()
        }
        AttributeValue::L(list) => {
            CONTAINER
                + list
                    .iter()
                    .map(|value| value_size(value) + ELEMENT)
                    .sum::<usize>()
        }
        AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|number| number_size(number)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(Vec::len).sum(),
    }
}

/// A number's size: its significant digits in base-100 pairs aligned on the decimal
/// point, plus an exponent byte, plus a byte for a negative number. Zero is 1 byte.
/// Text that is not a decimal number (DynamoDB would have refused it) is sized as
/// its digits, which never happens for an image read from the stream.
pub fn number_size(text: &str) -> usize {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            unsigned[at + 1..].parse::<i64>().unwrap_or(0),
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = whole.chars().chain(fraction.chars()).collect();
    // Where the decimal point sits, counted in digits from the start of `digits`.
    let point = i64::try_from(whole.len()).unwrap_or(i64::MAX) + exponent;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_matches('0');
    if significant.is_empty() {
        return 1;
    }
    // Digits before the point, counted from the first significant one: the pairs are
    // aligned on the point, so an odd count starts with a half pair.
    let integer_digits = point - i64::try_from(leading).unwrap_or(0);
    let padding = usize::from(integer_digits.rem_euclid(2) == 1);
    let pairs = (padding + significant.len()).div_ceil(2);
    pairs + 1 + usize::from(negative)
}

/// What an index holds of an item: its partition key value, its whole key (to tell a
/// moved entry from an updated one), and the projected attributes.
struct IndexEntry {
    partition: KeyValue,
    key: KeyMap,
    projected: Attributes,
}

fn index_entry(shape: &TableShape, index: &IndexShape, item: &Attributes) -> Option<IndexEntry> {
    let index_keys: Vec<&String> = std::iter::once(&index.hash).chain(&index.range).collect();
    // Sparse: an item without every key attribute of the index is not in it.
    let key = key_values(item, index_keys.iter().copied())?;
    let partition = key.get(&index.hash)?.clone();
    let projected = match index.projection {
        Projection::All => item.clone(),
        Projection::KeysOnly => shape
            .table_key_names()
            .chain(index_keys)
            .filter_map(|name| Some((name.clone(), item.get(name)?.clone())))
            .collect(),
    };
    Some(IndexEntry {
        partition,
        key,
        projected,
    })
}

/// The charges of one item's write that DynamoDB applied, from the item `before` and
/// `after` it (`None`: it did not exist, or was deleted). `transactional`: the write
/// was one item of a `TransactWriteItems`.
pub fn write_charges(
    shape: &TableShape,
    before: Option<&Attributes>,
    after: Option<&Attributes>,
    transactional: bool,
) -> Vec<Charge> {
    let mut charges = Vec::new();
    let partition = after
        .or(before)
        .and_then(|item| KeyValue::of(item.get(&shape.hash)?));
    let Some(partition) = partition else {
        return charges;
    };
    let larger = before
        .map(item_size)
        .unwrap_or(0)
        .max(after.map(item_size).unwrap_or(0));
    let table_units = write_units(larger) * if transactional { 2 } else { 1 };
    charges.push(Charge {
        target: Target::Table,
        partition,
        units: table_units,
    });
    for index in &shape.indexes {
        let old = before.and_then(|item| index_entry(shape, index, item));
        let new = after.and_then(|item| index_entry(shape, index, item));
        let target = Target::Index(index.name.clone());
        let charge = |entry: &IndexEntry, units: u64| Charge {
            target: target.clone(),
            partition: entry.partition.clone(),
            units,
        };
        let units_of = |entry: &IndexEntry| write_units(item_size(&entry.projected));
        match (old, new) {
            (None, None) => {}
            (None, Some(new)) => charges.push(charge(&new, units_of(&new))),
            (Some(old), None) => charges.push(charge(&old, units_of(&old))),
            (Some(old), Some(new)) if old.key != new.key => {
                charges.push(charge(&old, units_of(&old)));
                charges.push(charge(&new, units_of(&new)));
            }
            // Nothing the index holds changed: the index is not written.
            (Some(old), Some(new)) if old.projected == new.projected => {}
            (Some(old), Some(new)) => {
                charges.push(charge(&new, units_of(&old).max(units_of(&new))));
            }
        }
    }
    charges
}

/// The charge of a `ConditionCheck` in a transaction: two writes' worth of the item it
/// reads (`stored`; `None`: there is no such item, still a whole unit), in the table
/// only, on the partition of `key`.
pub fn condition_check_charge(
    shape: &TableShape,
    key: &KeyMap,
    stored: Option<&Attributes>,
) -> Option<Charge> {
    Some(Charge {
        target: Target::Table,
        partition: key.get(&shape.hash)?.clone(),
        units: 2 * write_units(stored.map(item_size).unwrap_or(0)),
    })
}

/// The primary key of `item` under `shape`; `None` if a key attribute is missing.
pub fn primary_key(shape: &TableShape, item: &Attributes) -> Option<KeyMap> {
    key_values(item, shape.table_key_names())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    fn n(text: &str) -> AttributeValue {
        AttributeValue::N(text.to_owned())
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Attributes {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    /// The payouts table's shape, as template.yaml has it.
    fn shape() -> TableShape {
        let index = |name: &str, hash: &str, range: &str, projection| IndexShape {
            name: name.to_owned(),
            hash: hash.to_owned(),
            range: Some(range.to_owned()),
            projection,
        };
        TableShape {
            hash: "pk".to_owned(),
            range: Some("sk".to_owned()),
            indexes: vec![
                index("by_status", "status_pk", "created_sk", Projection::All),
                index("by_due", "due_pk", "due_sk", Projection::KeysOnly),
            ],
        }
    }

    fn units_on(charges: &[Charge], target: &Target) -> Vec<(String, u64)> {
        charges
            .iter()
            .filter(|charge| &charge.target == target)
            .map(|charge| (charge.partition.to_string(), charge.units))
            .collect()
    }

    fn by_status() -> Target {
        Target::Index("by_status".to_owned())
    }

    fn by_due() -> Target {
        Target::Index("by_due".to_owned())
    }

    fn payout(status: &str, padding: usize) -> Attributes {
        item(&[
            ("pk", s("PAYOUT#1")),
            ("sk", s("PAYOUT")),
            ("status", s(status)),
            ("status_pk", s(&format!("STATUS#{status}"))),
            ("created_sk", s("2026-12-07T00:00:00.000Z#1")),
            ("note", s(&"x".repeat(padding))),
        ])
    }

    fn schedule(due_sk: &str, minimum: &str) -> Attributes {
        item(&[
            ("pk", s("SCOUT#s-1")),
            ("sk", s("PAYOUT_SCHEDULE")),
            ("due_pk", s("DUE")),
            ("due_sk", s(due_sk)),
            ("minimum_paise", n(minimum)),
        ])
    }

    #[test]
    fn the_template_gives_the_shape_the_tests_assume() {
        let definition = TableDefinition::from_template(&crate::paths::template()).unwrap();
        let shape = TableShape::from_definition(&definition).unwrap();
        assert_eq!(
            (shape.hash.as_str(), shape.range.as_deref()),
            ("pk", Some("sk"))
        );
        let by_due = shape
            .indexes
            .iter()
            .find(|index| index.name == "by_due")
            .unwrap();
        assert_eq!(by_due.projection, Projection::KeysOnly);
        let by_created = shape
            .indexes
            .iter()
            .find(|index| index.name == "by_created")
            .unwrap();
        assert_eq!(
            (by_created.hash.as_str(), by_created.projection),
            ("feed_pk", Projection::All)
        );
    }

    #[test]
    fn numbers_are_sized_in_digit_pairs_aligned_on_the_point_as_dynamodb_local_sizes_them() {
        // Each pair measured on DynamoDB Local (a stream record's SizeBytes).
        for (number, size) in [
            ("0", 1),
            ("1", 2),
            ("12", 2),
            ("100", 2),
            ("120", 3),
            ("1200", 2),
            ("123", 3),
            ("12345", 4),
            ("1000000", 2),
            ("0.5", 2),
            ("0.05", 2),
            ("1.5", 3),
            ("12.5", 3),
            ("-1", 3),
            ("-12", 3),
            ("1E+10", 2),
            ("0.0000123", 3),
            ("99999999999999", 8),
            ("4611686018427387903", 11),
            ("101", 3),
        ] {
            assert_eq!(number_size(number), size, "{number}");
        }
    }

    #[test]
    fn a_known_item_has_the_size_dynamodb_local_gives_it() {
        // Measured on DynamoDB Local: each attribute's name and value, a map's and a
        // list's 3 bytes and 1 per element, a set's elements alone.
        let known = item(&[
            ("pk", s("m")),
            (
                "m",
                AttributeValue::M(item(&[("a", s("xy")), ("bb", n("1"))])),
            ),
            (
                "l",
                AttributeValue::L(vec![s("xy"), n("1"), AttributeValue::Bool(true)]),
            ),
            (
                "ss",
                AttributeValue::Ss(vec!["ab".to_owned(), "cde".to_owned()]),
            ),
            ("u", s("₹é")),
            ("g", AttributeValue::Null(true)),
            ("b", AttributeValue::B(vec![0, 1, 2])),
        ]);
        // pk 2+1, m 1+12, l 1+11, ss 2+5, u 1+5, g 1+1, b 1+3
        assert_eq!(item_size(&known), 3 + 13 + 12 + 7 + 6 + 2 + 4);
    }

    #[test]
    fn write_units_round_up_to_whole_kilobytes_and_are_never_zero() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(write_units(3000), 3);
    }

    #[test]
    fn a_new_item_costs_its_size_in_the_table_and_a_new_entry_in_each_index_it_is_in() {
        let charges = write_charges(&shape(), None, Some(&payout("pending", 0)), false);
        assert_eq!(
            units_on(&charges, &Target::Table),
            [("PAYOUT#1".to_owned(), 1)]
        );
        assert_eq!(
            units_on(&charges, &by_status()),
            [("STATUS#pending".to_owned(), 1)]
        );
        // No due_pk: not in the sparse index, not billed there.
        assert!(units_on(&charges, &by_due()).is_empty());
    }

    #[test]
    fn a_changed_index_partition_key_costs_a_delete_on_the_old_key_and_a_put_on_the_new() {
        let charges = write_charges(
            &shape(),
            Some(&payout("pending", 0)),
            Some(&payout("processing", 0)),
            false,
        );
        assert_eq!(
            units_on(&charges, &by_status()),
            [
                ("STATUS#pending".to_owned(), 1),
                ("STATUS#processing".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn a_changed_index_sort_key_costs_two_writes_on_the_same_partition() {
        let charges = write_charges(
            &shape(),
            Some(&schedule("2026-12-07T18:30:00.000Z#s-1", "100")),
            Some(&schedule("2026-12-08T18:30:00.000Z#s-1", "100")),
            true,
        );
        assert_eq!(
            units_on(&charges, &by_due()),
            [("DUE".to_owned(), 1), ("DUE".to_owned(), 1)]
        );
    }

    #[test]
    fn a_change_outside_a_keys_only_projection_costs_that_index_nothing() {
        let charges = write_charges(
            &shape(),
            Some(&schedule("2026-12-07T18:30:00.000Z#s-1", "100")),
            Some(&schedule("2026-12-07T18:30:00.000Z#s-1", "500")),
            false,
        );
        assert!(units_on(&charges, &by_due()).is_empty());
        assert_eq!(units_on(&charges, &Target::Table).len(), 1);
    }

    #[test]
    fn any_change_rewrites_an_all_projection_entry_on_the_larger_of_its_two_sizes() {
        let mut shrunk = payout("pending", 10);
        shrunk.insert("version".to_owned(), n("2"));
        let charges = write_charges(
            &shape(),
            Some(&payout("pending", 1500)),
            Some(&shrunk),
            false,
        );
        assert_eq!(
            units_on(&charges, &by_status()),
            [("STATUS#pending".to_owned(), 2)]
        );
        // The table too is billed on the larger item, before or after.
        assert_eq!(
            units_on(&charges, &Target::Table),
            [("PAYOUT#1".to_owned(), 2)]
        );
    }

    #[test]
    fn an_unchanged_item_costs_the_table_a_write_and_no_index_anything() {
        let same = payout("pending", 0);
        let charges = write_charges(&shape(), Some(&same), Some(&same), false);
        assert_eq!(units_on(&charges, &Target::Table).len(), 1);
        assert!(units_on(&charges, &by_status()).is_empty());
    }

    #[test]
    fn a_transaction_doubles_the_table_write_and_not_the_index_writes() {
        let single = write_charges(&shape(), None, Some(&payout("pending", 1100)), false);
        let transactional = write_charges(&shape(), None, Some(&payout("pending", 1100)), true);
        assert_eq!(units_on(&single, &Target::Table)[0].1, 2);
        assert_eq!(units_on(&transactional, &Target::Table)[0].1, 4);
        assert_eq!(
            units_on(&single, &by_status()),
            units_on(&transactional, &by_status())
        );
    }

    #[test]
    fn a_delete_costs_the_deleted_item_and_removes_its_index_entries() {
        let charges = write_charges(&shape(), Some(&payout("failed", 2100)), None, false);
        assert_eq!(
            units_on(&charges, &Target::Table),
            [("PAYOUT#1".to_owned(), 3)]
        );
        assert_eq!(
            units_on(&charges, &by_status()),
            [("STATUS#failed".to_owned(), 3)]
        );
    }

    #[test]
    fn removing_an_index_key_attribute_deletes_the_entry_from_its_old_partition() {
        let mut manual = schedule("2026-12-07T18:30:00.000Z#s-1", "100");
        manual.remove("due_pk");
        manual.remove("due_sk");
        let charges = write_charges(
            &shape(),
            Some(&schedule("2026-12-07T18:30:00.000Z#s-1", "100")),
            Some(&manual),
            false,
        );
        assert_eq!(units_on(&charges, &by_due()), [("DUE".to_owned(), 1)]);
    }

    #[test]
    fn a_keys_only_entry_is_sized_on_the_keys_alone() {
        // A schedule padded past 1 KB: 2 units in the table, 1 in the keys-only index.
        let mut big = schedule("2026-12-07T18:30:00.000Z#s-1", "100");
        big.insert("note".to_owned(), s(&"x".repeat(1200)));
        let charges = write_charges(&shape(), None, Some(&big), false);
        assert_eq!(units_on(&charges, &Target::Table)[0].1, 2);
        assert_eq!(units_on(&charges, &by_due()), [("DUE".to_owned(), 1)]);
    }

    #[test]
    fn a_condition_check_costs_two_writes_of_the_item_it_reads_in_the_table_only() {
        let key: KeyMap = [
            ("pk".to_owned(), KeyValue::S("ACCOUNT#7".to_owned())),
            ("sk".to_owned(), KeyValue::S("ACCOUNT".to_owned())),
        ]
        .into_iter()
        .collect();
        let account = item(&[
            ("pk", s("ACCOUNT#7")),
            ("sk", s("ACCOUNT")),
            ("name", s(&"x".repeat(1500))),
        ]);
        let charge = condition_check_charge(&shape(), &key, Some(&account)).unwrap();
        assert_eq!(
            (charge.target, charge.partition.to_string(), charge.units),
            (Target::Table, "ACCOUNT#7".to_owned(), 4)
        );
        // No item at all is still a whole unit, twice.
        assert_eq!(
            condition_check_charge(&shape(), &key, None).unwrap().units,
            2
        );
    }
}
