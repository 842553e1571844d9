//! Expressions built with placeholders, so no attribute name is ever spliced into
//! one, and the summary's `ADD` updates built from them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use crate::keys;
use crate::{built, key, n, Item};
use domain::error::Result;

/// Accumulates an expression and its placeholders, so no attribute name is ever
/// spliced into an expression (several are DynamoDB reserved words, like `status`).
#[derive(Default)]
pub(crate) struct Expr {
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub(crate) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub(crate) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub(crate) fn update(
        self,
        table: &str,
        pk: String,
        sk: &str,
        update: String,
        condition: Option<String>,
    ) -> Result<Update> {
        built(
            Update::builder()
                .table_name(table)
                .set_key(Some(key(pk, sk)))
                .update_expression(update)
                .set_condition_expression(condition)
                .set_expression_attribute_names(Some(self.names).filter(|m| !m.is_empty()))
                .set_expression_attribute_values(Some(self.values).filter(|m| !m.is_empty()))
                .build(),
        )
    }
}

impl Expr {
    /// A transaction's put of a whole item, on a condition written with this
    /// expression's placeholders.
    pub(crate) fn put(
        self,
        item: Item,
        table: &str,
        condition: String,
    ) -> Result<TransactWriteItem> {
        let put = built(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(self.names).filter(|m| !m.is_empty()))
                .set_expression_attribute_values(Some(self.values).filter(|m| !m.is_empty()))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// `ADD` clauses for the non-zero deltas, or `None` when there is nothing to change.
pub(crate) fn add_clause(expr: &mut Expr, deltas: &[(&str, i128)]) -> Option<String> {
    let parts: Vec<String> = deltas
        .iter()
        .filter(|(_, delta)| *delta != 0)
        .map(|(attribute, delta)| format!("{} {}", expr.name(attribute), expr.value(n(delta))))
        .collect();
    (!parts.is_empty()).then(|| format!("ADD {}", parts.join(", ")))
}

pub(crate) fn summary_update(
    table: &str,
    user_id: u64,
    deltas: &[(&str, i128)],
) -> Result<Option<Update>> {
    let mut expr = Expr::default();
    match add_clause(&mut expr, deltas) {
        Some(clause) => Ok(Some(expr.update(
            table,
            keys::user_pk(user_id),
            keys::SUMMARY_SK,
            clause,
            None,
        )?)),
        None => Ok(None),
    }
}

pub(crate) fn put(item: Item, table: &str, condition: &str) -> Result<TransactWriteItem> {
    let put = built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}
