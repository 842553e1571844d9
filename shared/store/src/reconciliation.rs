//! A day's reconciliation: its report, replaced by each run, and its findings, each
//! written once (the first run to find one keeps its facts and what it did).

use domain::error::Result;
use domain::reconciliation::{Finding, Report};

use crate::expr::Expr;
use crate::{from_item, keys, s, to_item, with_key, PageKey, Store};

/// One page of a day's findings.
#[derive(Clone, Debug, Default)]
pub struct FindingPage {
    pub findings: Vec<Finding>,
    pub next: Option<PageKey>,
}

impl Store {
    pub async fn reconciliation_report(&self, date: &str) -> Result<Option<Report>> {
        self.get(
            &keys::reconciliation_pk(date),
            keys::RECONCILIATION_REPORT_SK,
        )
        .await
    }

    /// Replaces the day's report: a later run's counts stand for the day.
    pub async fn save_reconciliation_report(&self, report: &Report) -> Result<()> {
        self.replace(with_key(
            to_item(report)?,
            &keys::reconciliation_pk(&report.date),
            keys::RECONCILIATION_REPORT_SK,
        ))
        .await
    }

    /// Records a finding of `date` unless that finding ([`Finding::key`]) is already
    /// recorded: `false` when it was, and the first record stands.
    pub async fn record_finding(&self, date: &str, finding: &Finding) -> Result<bool> {
        self.insert(
            &keys::reconciliation_pk(date),
            &keys::finding_sk(&finding.key()),
            finding,
        )
        .await
    }

    /// A page of the day's findings, by kind then subject.
    pub async fn findings(
        &self,
        date: &str,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<FindingPage> {
        let mut expr = Expr::default();
        let pk = expr.name(keys::PK);
        let sk = expr.name(keys::SK);
        let partition = expr.value(s(keys::reconciliation_pk(date)));
        let prefix = expr.value(s(keys::FINDING_PREFIX));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!(
                "{pk} = {partition} AND begins_with({sk}, {prefix})"
            ))
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .consistent_read(true)
            .set_exclusive_start_key(crate::start_key_of(start))
            .send()
            .await
            .map_err(|err| crate::sdk_error(&err))?;
        let next = crate::page_key_of(output.last_evaluated_key);
        Ok(FindingPage {
            findings: output
                .items
                .unwrap_or_default()
                .into_iter()
                .map(from_item)
                .collect::<Result<_>>()?,
            next,
        })
    }

    /// Every finding of the day.
    pub async fn all_findings(&self, date: &str) -> Result<Vec<Finding>> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page = self.findings(date, 1000, start).await?;
            all.extend(page.findings);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(all),
            }
        }
    }
}
