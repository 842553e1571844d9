//! The daily reconciliation with the gateway (docs/OPERATIONS.md, "Reconciliation"):
//! every payout the gateway made in a business day is matched with ours by reference and
//! attempt key, and every attempt of ours first sent that day is looked for at the
//! gateway. Disagreements become findings; the gateway's missed final word on an attempt
//! we know is applied through the transition its webhook would have made
//! (`webhook::apply`), and nothing else is changed: a repair never starts an attempt and
//! never cancels.
//!
//! Both sides are read by time, with no Scan: the gateway's list by creation time
//! (widened by an overlap, since the gateway makes its payout after our send), ours
//! through the `by_day` index by the first send of the current attempt. A gateway payout
//! belongs to the day it was made, an attempt of ours to the day it was first sent, so
//! each is judged by one day's run; a later run over the same day changes nothing more
//! and reports the same.

mod judge;
pub mod report;
mod statement;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate, TimeZone};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::webhook::{self, Handled};
use domain::error::{Error, Result};
use domain::payout::{Payout, PayoutStatus};
use domain::reconciliation::{
    Action, Finding, FindingKind, GatewaySide, OurSide, Report, SideTotals, StatementTotals,
};
use domain::time::Timestamp;
use gateway::{GatewayError, GatewayPayout, PaymentGateway, StatementLine, TransferOutcome};
use judge::{attempt_of, judge, Attempt, Money, Verdict};
use store::Store;

/// How far past the day the gateway's list is read: it makes its payout for our send
/// within its own late window, and clocks differ.
const OVERLAP_MARGIN_SECS: u64 = 15 * 60;

/// How often a gateway payout is judged again when our payout moved meanwhile (a
/// repair that lost a race, both sides read again before a finding).
const JUDGE_ROUNDS: usize = 4;

/// How far back the gateway's reversals are read every day: a payout can be sent back
/// weeks after the day that matched it as paid, and no webhook may say so.
pub const REVERSAL_LOOKBACK_DAYS: u64 = 30;

/// What the run keeps of its invocation's time to write its report.
///
/// One item may take several calls to the gateway (each up to its timeout) before the
/// next check: the margin leaves room for one such item and the report.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// A business day in the time zone the schedules use (`PAYOUT_SCHEDULE_TZ`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub tz: chrono_tz::Tz,
}

impl Day {
    /// The day `at` falls in.
    pub fn containing(at: Timestamp, tz: chrono_tz::Tz) -> Day {
        Day {
            date: at.as_utc().with_timezone(&tz).date_naive(),
            tz,
        }
    }

    /// The day before the one `now` falls in: the daily run's.
    pub fn before(now: Timestamp, tz: chrono_tz::Tz) -> Day {
        let today = Day::containing(now, tz).date;
        Day {
            date: today.pred_opt().unwrap_or(today),
            tz,
        }
    }

    /// `YYYY-MM-DD`, as the operator and the report name it. Only years a stored time
    /// can hold (1970–9999, four digits, so times sort as text).
    pub fn parse(text: &str, tz: chrono_tz::Tz) -> Option<Day> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|date| (1970..=9999).contains(&date.year()) && text.len() == 10)
            .map(|date| Day { date, tz })
    }

    pub fn name(&self) -> String {
        self.date.format("%Y-%m-%d").to_string()
    }

    /// From the day's first moment to the next day's, in UTC (a day with a clock change
    /// is as long as the zone makes it).
    pub fn window(&self) -> (Timestamp, Timestamp) {
        // The day's first moment: midnight, or, where a clock change skips midnight, the
        // first hour that exists.
        let start = |date: NaiveDate| {
            (0..3)
                .filter_map(|hour| date.and_hms_opt(hour, 0, 0))
                .find_map(|local| self.tz.from_local_datetime(&local).earliest())
                .map_or_else(
                    || Timestamp::from_utc(date.and_time(chrono::NaiveTime::MIN).and_utc()),
                    |moment| Timestamp::from_utc(moment.with_timezone(&chrono::Utc)),
                )
        };
        let next = self.date.succ_opt().unwrap_or(self.date);
        (start(self.date), start(next))
    }
}

/// The day an invocation asks for: `{"date": "YYYY-MM-DD"}`, or, from the schedule (an
/// EventBridge event), the day before the rule's time. A day that has not begun is
/// refused.
pub fn day_asked(event: &serde_json::Value, now: Timestamp, tz: chrono_tz::Tz) -> Result<Day> {
    let day = match event.get("date") {
        Some(serde_json::Value::String(text)) => Day::parse(text, tz)
            .ok_or_else(|| Error::BadRequest(format!("date must be YYYY-MM-DD, got `{text}`")))?,
        Some(_) => return Err(Error::BadRequest("date must be YYYY-MM-DD".to_owned())),
        None => {
            let at = event
                .get("time")
                .and_then(serde_json::Value::as_str)
                .and_then(Timestamp::parse)
                .unwrap_or(now);
            Day::before(at, tz)
        }
    };
    if day.window().0 > now {
        return Err(Error::BadRequest(format!(
            "{} has not begun in {}: there is nothing to reconcile yet",
            day.name(),
            tz.name()
        )));
    }
    Ok(day)
}

/// What one run did, beside the report it left.
#[derive(Clone, Debug)]
pub struct Run {
    pub report: Report,
    /// The findings this run recorded first (earlier runs' are in the report's counts).
    pub new_findings: Vec<Finding>,
}

/// Reconciles `day` with `gateway` as of `now`: reads both sides, repairs what is safe,
/// records the findings and the day's report. Every finding is recorded as it is made,
/// a repair's right after it: a run cut short (`deadline`, an error) loses no record of
/// what it did, and a run again over the day carries on from where the books stand.
pub async fn reconcile_day<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    day: Day,
    now: Timestamp,
    deadline: Option<std::time::Instant>,
) -> Result<Run> {
    let (from, to) = day.window();
    let overlap = gateway.late_transfer_window_secs() + OVERLAP_MARGIN_SECS;
    let listed = gateway
        .payouts_made(from.minus_secs(overlap), to.plus_secs(overlap), None)
        .await
        .map_err(unavailable)?;
    // Reversals of payouts made on days whose runs have passed.
    let late = gateway
        .payouts_made(
            from.minus_secs(REVERSAL_LOOKBACK_DAYS * 86_400),
            from.minus_secs(overlap),
            Some("reversed"),
        )
        .await
        .map_err(unavailable)?;
    let sent = store.payouts_first_sent(from, to).await?;
    // Our attempts the day's list does not show, told apart once for the whole day: the
    // list's gateway ids and keys in sets, not a search of the list per payout (a day of
    // 100,000 is otherwise ten billion comparisons).
    let listed_ids: HashSet<&str> = listed
        .iter()
        .map(|made| made.report.gateway_payout_id.as_str())
        .collect();
    let listed_keys: HashSet<&str> = listed
        .iter()
        .filter_map(|made| made.report.idempotency_key.as_deref())
        .collect();
    let unlisted: Vec<Uuid> = sent
        .iter()
        .filter(|payout| !is_listed(payout, &listed_ids, &listed_keys))
        .map(|payout| payout.payout_id)
        .collect();
    let sent_ids: Vec<Uuid> = sent.iter().map(|payout| payout.payout_id).collect();

    let mut run = Reconciler {
        store,
        gateway,
        date: day.name(),
        tz: day.tz,
        now,
        deadline: deadline
            .map(|deadline| deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline)),
        ours: sent
            .into_iter()
            .map(|payout| (payout.payout_id, payout))
            .collect(),
        new_findings: Vec::new(),
        matched: BTreeMap::new(),
    };
    let wanted: Vec<Uuid> = listed
        .iter()
        .chain(&late)
        .filter_map(|listed| listed.report.payout_id)
        .filter(|id| !run.ours.contains_key(id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for payout in store.payouts_by_id(&wanted).await? {
        run.ours.insert(payout.payout_id, payout);
    }

    let mut theirs = SideTotals::default();
    for made in listed
        .iter()
        .filter(|made| made.created_at >= from && made.created_at < to)
    {
        run.in_time()?;
        count(&mut theirs, judge::theirs(made), made.report.amount_paise);
        run.judge_listed(made, Scope::TheDay).await?;
    }
    for payout_id in unlisted {
        run.in_time()?;
        run.look_for(payout_id).await?;
    }
    for made in &late {
        run.in_time()?;
        run.judge_listed(made, Scope::LateReversal).await?;
    }
    // Read after the payouts and their judging (repairs first, should the statement not
    // be readable), so every line of money they moved so far is on it.
    let statement = run
        .judge_statement(&listed, &late, (from, to), overlap)
        .await?;
    // Ours as they stand after the repairs: a later run reads them so, and reports the same.
    let mut ours = SideTotals::default();
    for id in sent_ids {
        if let Some(payout) = run.ours.get(&id) {
            count(
                &mut ours,
                judge::ours(payout.status),
                Some(payout.amount_paise.get()),
            );
        }
    }

    let new_findings = std::mem::take(&mut run.new_findings);
    let all = store.all_findings(&run.date).await?;
    let earlier = store.reconciliation_report(&run.date).await?;
    let mut by_kind = BTreeMap::new();
    for finding in &all {
        *by_kind.entry(finding.kind.as_str().to_owned()).or_insert(0) += 1;
    }
    let repaired = all
        .iter()
        .filter(|finding| matches!(finding.action, Action::Repaired { .. }))
        .count() as u64;
    let report = Report {
        date: run.date.clone(),
        time_zone: day.tz.name().to_owned(),
        window_from: from,
        window_to: to,
        gateway: gateway.name().to_owned(),
        runs: earlier.as_ref().map_or(0, |earlier| earlier.runs) + 1,
        first_run_at: earlier.as_ref().map_or(now, |earlier| earlier.first_run_at),
        last_run_at: now,
        ours,
        theirs,
        matched: run.matched,
        findings: by_kind,
        repaired,
        left_for_person: all.len() as u64 - repaired,
        statement,
    };
    store.save_reconciliation_report(&report).await?;
    info!(
        event = "reconciliation_done",
        date = report.date,
        gateway = report.gateway,
        ours = report.ours.payouts,
        theirs = report.theirs.payouts,
        findings = all.len(),
        new_findings = new_findings.len(),
        left_for_person = report.left_for_person,
        "reconciled a day with the gateway"
    );
    Ok(Run {
        report,
        new_findings,
    })
}

/// Why a gateway payout is judged by this run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The gateway made it that day: counted in the day's report.
    TheDay,
    /// Made on another day, for an attempt of ours the day's list did not show.
    ForOurs,
    /// A reversal of a payout made before the day: only a missed word is acted on (the
    /// rest was its own day's run's to report), and what a repair leaves for a person is
    /// recorded under that day, so the daily look-back says it once.
    LateReversal,
}

struct Reconciler<'a, G> {
    store: &'a Store,
    gateway: &'a G,
    date: String,
    tz: chrono_tz::Tz,
    now: Timestamp,
    /// When the run stops taking on work, leaving time to write what it has.
    deadline: Option<std::time::Instant>,
    /// Our payouts the run has read, as they stand after its repairs.
    ours: HashMap<Uuid, Payout>,
    /// The findings this run recorded first.
    new_findings: Vec<Finding>,
    matched: BTreeMap<String, u64>,
}

impl<G: PaymentGateway> Reconciler<'_, G> {
    fn in_time(&self) -> Result<()> {
        match self.deadline {
            Some(deadline) if std::time::Instant::now() >= deadline => {
                Err(Error::Incomplete(format!(
                    "the reconciliation of {} ran out of time; its findings so far are \
                     recorded, and a run again carries on",
                    self.date
                )))
            }
            _ => Ok(()),
        }
    }

    fn count_match(&mut self, status: PayoutStatus, scope: Scope) {
        if scope == Scope::TheDay {
            *self.matched.entry(status.as_str().to_owned()).or_insert(0) += 1;
        }
    }

    /// Judges one gateway payout, repairing where its word was missed. A finding for a
    /// person is made only on both sides as they are now (a webhook may have landed since
    /// the list was read), and a payout that keeps moving is left to a person too.
    async fn judge_listed(&mut self, listed: &GatewayPayout, scope: Scope) -> Result<()> {
        let mut made = listed.clone();
        let mut read_again = false;
        for _ in 0..JUDGE_ROUNDS {
            let ours = made
                .report
                .payout_id
                .and_then(|id| self.ours.get(&id))
                .cloned();
            let verdict = judge(ours.as_ref(), &made);
            if scope == Scope::LateReversal && verdict != Verdict::Repair {
                return Ok(());
            }
            match verdict {
                Verdict::Matched(status) => {
                    self.count_match(status, scope);
                    return Ok(());
                }
                Verdict::Finding(kind, detail) => match ours {
                    Some(payout) if !read_again => {
                        read_again = true;
                        made = self.read_again(&payout, made).await?;
                    }
                    _ => {
                        let subject = made.report.gateway_payout_id.clone();
                        return self
                            .found(
                                kind,
                                subject,
                                ours.as_ref(),
                                vec![&made],
                                detail.to_owned(),
                                Action::LeftForPerson,
                            )
                            .await;
                    }
                },
                Verdict::MaybePaidTwice => {
                    if let Some(payout) = ours {
                        self.paid_twice(&payout, &made).await?;
                    }
                    return Ok(());
                }
                Verdict::Repair => {
                    let Some(payout) = ours else { return Ok(()) };
                    if self.repair(&payout, &made, scope).await? {
                        return Ok(());
                    }
                }
            }
        }
        let subject = made.report.gateway_payout_id.clone();
        let ours = made
            .report
            .payout_id
            .and_then(|id| self.ours.get(&id))
            .cloned();
        self.found(
            FindingKind::StatusMismatch,
            subject,
            ours.as_ref(),
            vec![&made],
            "our payout kept changing while the gateway's word on it was applied: look again"
                .to_owned(),
            Action::LeftForPerson,
        )
        .await
    }

    /// Our payout and the gateway's, as they are now.
    async fn read_again(&mut self, payout: &Payout, made: GatewayPayout) -> Result<GatewayPayout> {
        if let Some(fresh) = self.store.payout(payout.payout_id).await? {
            self.ours.insert(fresh.payout_id, fresh);
        }
        let now = self
            .gateway
            .payouts_of(payout)
            .await
            .map_err(unavailable)?
            .into_iter()
            .find(|now| now.report.gateway_payout_id == made.report.gateway_payout_id);
        Ok(now.unwrap_or(made))
    }

    /// Applies the gateway's word as its webhook would, and records at once that it did;
    /// `false` when the payout moved meanwhile and is to be judged again.
    async fn repair(
        &mut self,
        payout: &Payout,
        made: &GatewayPayout,
        scope: Scope,
    ) -> Result<bool> {
        let subject = made.report.gateway_payout_id.clone();
        // What the finding records as ours: the payout just before the repair, not as the
        // day's list found it (a webhook may have moved it since).
        let before = self
            .store
            .payout(payout.payout_id)
            .await?
            .unwrap_or_else(|| payout.clone());
        // Boxed: a status change's future is deep, and this one sits in loops of others.
        let handled = match Box::pin(webhook::apply(self.store, &made.report)).await {
            Ok(handled) => handled,
            // It kept changing under the webhook's own retries: a person looks.
            Err(Error::Conflict(_)) => return Ok(false),
            Err(other) => return Err(other),
        };
        match handled {
            Handled::Applied {
                payout: after,
                transition,
            } => {
                self.count_match(after.status, scope);
                self.ours.insert(after.payout_id, (*after).clone());
                self.found(
                    FindingKind::StatusMismatch,
                    subject,
                    Some(&before),
                    vec![made],
                    format!(
                        "the gateway's {} was never heard (no webhook, no poll): applied as its \
                         webhook would have been",
                        made.report.gateway_status
                    ),
                    Action::Repaired {
                        transition: transition.verb().to_owned(),
                    },
                )
                .await?;
                Ok(true)
            }
            Handled::Ignored { .. } => {
                // Another write got there first (the processor, a webhook): read again.
                if let Some(fresh) = self.store.payout(payout.payout_id).await? {
                    self.ours.insert(fresh.payout_id, fresh);
                }
                Ok(false)
            }
            Handled::Contradicts { why, .. } | Handled::NeedsAttention { why, .. } => {
                let date = self.date_for(made, scope);
                self.found_on(
                    date,
                    FindingKind::StatusMismatch,
                    subject,
                    Some(&before),
                    vec![made],
                    why,
                    Action::LeftForPerson,
                )
                .await?;
                Ok(true)
            }
            Handled::UnknownPayout { .. } | Handled::Duplicate | Handled::NotAboutPayouts => {
                self.found(
                    FindingKind::UnknownToUs,
                    subject,
                    None,
                    vec![made],
                    "no payout of ours has the gateway payout's reference".to_owned(),
                    Action::LeftForPerson,
                )
                .await?;
                Ok(true)
            }
        }
    }

    /// Reads the account statement (`None`: the gateway keeps none) and holds it to the
    /// gateway's payouts: the money each payout of the day moved, then each payout made
    /// on another day that the day's lines name (money out again, money back for one
    /// the gateway says it paid, more back than it was for, money for a payout the
    /// gateway has no record of; a missed reversal or failure is applied as the
    /// look-back would, even past its 30 days). Answers the day's statement totals.
    async fn judge_statement(
        &mut self,
        listed: &[GatewayPayout],
        late: &[GatewayPayout],
        (from, to): (Timestamp, Timestamp),
        overlap: u64,
    ) -> Result<Option<StatementTotals>> {
        // Past the day for a debit made late (a payout queued for want of balance), up
        // to now and a little more (a line made this second is kept).
        let read_from = from.minus_secs(overlap);
        let read_to = std::cmp::max(
            to.plus_secs(overlap),
            std::cmp::min(
                self.now.plus_secs(60),
                to.plus_secs(statement::DEBIT_LOOKAHEAD_SECS),
            ),
        );
        let to_now = read_to >= self.now;
        let Some(lines) = self
            .gateway
            .statement(read_from, read_to)
            .await
            .map_err(unreadable_statement)?
        else {
            return Ok(None);
        };
        let by_payout = statement::by_payout(&lines);
        let in_day = |at: Timestamp| at >= from && at < to;
        let mut made_today = HashSet::new();
        for made in listed.iter().filter(|made| in_day(made.created_at)) {
            self.in_time()?;
            let id = made.report.gateway_payout_id.as_str();
            made_today.insert(id);
            let its_lines = by_payout.get(id).map(Vec::as_slice).unwrap_or_default();
            self.judge_money(made, its_lines, to_now).await?;
        }

        // The day's lines for payouts made on other days, with each payout as the
        // gateway has it: from its lists when they hold it, else asked for by id.
        let known: HashMap<&str, &GatewayPayout> = listed
            .iter()
            .chain(late)
            .map(|made| (made.report.gateway_payout_id.as_str(), made))
            .collect();
        let mut elsewhere: BTreeMap<&str, Vec<&StatementLine>> = BTreeMap::new();
        for line in lines.iter().filter(|line| in_day(line.created_at)) {
            if let Some(id) = line
                .gateway_payout_id()
                .filter(|id| !made_today.contains(id))
            {
                elsewhere.entry(id).or_default().push(line);
            }
        }
        let mut payouts = Vec::with_capacity(elsewhere.len());
        for (id, day_lines) in elsewhere {
            self.in_time()?;
            let made = match known.get(id) {
                Some(made) => Some(((*made).clone(), true)),
                None => self
                    .gateway
                    .payout_by_id(id)
                    .await
                    .map_err(unavailable)?
                    .map(|made| (made, false)),
            };
            let Some((made, read_before)) = made else {
                let listing = statement::listing(&day_lines);
                self.statement_finding(
                    id.to_owned(),
                    None,
                    format!("money moved for a payout the gateway has no record of: {listing}"),
                )
                .await?;
                continue;
            };
            payouts.push((made, read_before, day_lines));
        }

        // A payout whose money left again, or came back while the gateway says it paid,
        // is judged on all its lines since it was made (within the look-back): a second
        // debit, or a correction of one, is told apart from a first only so.
        let look_back_from = from.minus_secs(statement::LOOKBACK_SECS);
        let needs_all = |made: &GatewayPayout, day_lines: &[&StatementLine]| {
            made.created_at >= look_back_from
                && day_lines.iter().any(|line| {
                    line.debit_paise > 0
                        || (line.credit_paise > 0 && judge::theirs(made) == Money::Paid)
                })
        };
        let earliest = payouts
            .iter()
            .filter(|(made, _, day_lines)| needs_all(made, day_lines))
            .map(|(made, _, _)| made.created_at)
            .min();
        let earlier = match earliest {
            Some(earliest) if earliest < read_from => self
                .gateway
                .statement(earliest, read_from)
                .await
                .map_err(unreadable_statement)?
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let earlier_by_payout = statement::by_payout(&earlier);
        let recent = self.now.minus_secs(OVERLAP_MARGIN_SECS);
        let looked_back: HashSet<&str> = late
            .iter()
            .map(|reversed| reversed.report.gateway_payout_id.as_str())
            .collect();
        for (made, read_before, day_lines) in payouts {
            self.in_time()?;
            let id = made.report.gateway_payout_id.as_str();
            // Money back for a payout the gateway says failed or was reversed: its word
            // may never have reached us (the look-back has judged its own). Not while
            // its webhook may still be on its way. First, so that a finding below
            // records our payout as it then stands (and a run again finds the same).
            let money_back = day_lines
                .iter()
                .any(|line| line.credit_paise > 0 && line.created_at < recent);
            if money_back && !looked_back.contains(id) && judge::theirs(&made) == Money::NotPaid {
                if let Some(payout_id) = made.report.payout_id {
                    if let Some(payout) = self.store.payout(payout_id).await? {
                        self.ours.insert(payout_id, payout);
                    }
                }
                Box::pin(self.judge_listed(&made, Scope::LateReversal)).await?;
            }
            if needs_all(&made, &day_lines) {
                let all: Vec<&StatementLine> = earlier_by_payout
                    .get(id)
                    .into_iter()
                    .flatten()
                    .chain(by_payout.get(id).into_iter().flatten())
                    .copied()
                    .collect();
                if read_before {
                    self.judge_money(&made, &all, to_now).await?;
                } else {
                    let reading = statement::Reading {
                        settled_before: false,
                        to_now,
                    };
                    if let Some(why) = statement::disagreement(&made, &all, reading) {
                        self.statement_finding(id.to_owned(), Some(&made), why)
                            .await?;
                    }
                }
            } else if let Some(why) = statement::money_back_beyond(&made, &day_lines) {
                self.statement_finding(id.to_owned(), Some(&made), why)
                    .await?;
            }
        }
        Ok(Some(statement::totals(&lines, from, to)))
    }

    /// Holds a payout the gateway listed (before the statement was read) to its lines;
    /// a disagreement is judged again on the payout as the gateway has it now, which may
    /// have moved since the list was read.
    async fn judge_money(
        &mut self,
        made: &GatewayPayout,
        lines: &[&StatementLine],
        to_now: bool,
    ) -> Result<()> {
        // Settled without payment when the list was read, before the statement: any
        // money back is on it.
        let settled = judge::theirs(made) == Money::NotPaid;
        let reading = statement::Reading {
            settled_before: settled,
            to_now,
        };
        if statement::disagreement(made, lines, reading).is_none() {
            return Ok(());
        }
        let id = made.report.gateway_payout_id.as_str();
        let now = self
            .gateway
            .payout_by_id(id)
            .await
            .map_err(unavailable)?
            .unwrap_or_else(|| made.clone());
        let reading = statement::Reading {
            settled_before: settled && judge::theirs(&now) == Money::NotPaid,
            to_now,
        };
        match statement::disagreement(&now, lines, reading) {
            Some(why) => self.statement_finding(id.to_owned(), Some(&now), why).await,
            None => Ok(()),
        }
    }

    /// Records a disagreement between the statement and the gateway payout `subject`
    /// (`made`, when the gateway has it), with our payout it is for.
    async fn statement_finding(
        &mut self,
        subject: String,
        made: Option<&GatewayPayout>,
        detail: String,
    ) -> Result<()> {
        let ours = match made.and_then(|made| made.report.payout_id) {
            Some(payout_id) => match self.ours.get(&payout_id) {
                Some(payout) => Some(payout.clone()),
                None => self.store.payout(payout_id).await?,
            },
            None => None,
        };
        self.found(
            FindingKind::StatementMismatch,
            subject,
            ours.as_ref(),
            made.into_iter().collect(),
            detail,
            Action::LeftForPerson,
        )
        .await
    }

    /// Counts every processed payout the gateway holds for `payout`, `made` among them.
    async fn paid_twice(&mut self, payout: &Payout, made: &GatewayPayout) -> Result<()> {
        let mut all = self.gateway.payouts_of(payout).await.map_err(unavailable)?;
        if !all
            .iter()
            .any(|known| known.report.gateway_payout_id == made.report.gateway_payout_id)
        {
            all.push(made.clone());
        }
        let processed: Vec<&GatewayPayout> = all
            .iter()
            .filter(|known| judge::theirs(known) == Money::Paid)
            .collect();
        if processed.len() > 1 {
            self.found(
                FindingKind::PaidTwice,
                payout.payout_id.to_string(),
                Some(payout),
                processed,
                "more than one processed gateway payout for one payout of ours".to_owned(),
                Action::LeftForPerson,
            )
            .await
        } else {
            // Only `made` paid, and our books hold the payout as paid by another attempt.
            self.found(
                FindingKind::StatusMismatch,
                made.report.gateway_payout_id.clone(),
                Some(payout),
                vec![made],
                "the gateway paid an attempt other than the one our books hold as paid".to_owned(),
                Action::LeftForPerson,
            )
            .await
        }
    }

    /// An attempt of ours the day's list does not show: asked about by reference. Past
    /// the gateway's window, a payout our books hold as paid (or sent) with nothing
    /// there is missing at the gateway.
    async fn look_for(&mut self, payout_id: Uuid) -> Result<()> {
        self.in_time()?;
        let Some(payout) = self.ours.get(&payout_id).cloned() else {
            return Ok(());
        };
        let past_window = payout.sent_at().is_some_and(|sent| {
            sent.plus_secs(self.gateway.late_transfer_window_secs()) < self.now
        });
        let expected = match payout.status {
            PayoutStatus::Completed | PayoutStatus::Reversed => true,
            PayoutStatus::Processing => past_window,
            PayoutStatus::Pending | PayoutStatus::Failed | PayoutStatus::Cancelled => false,
        };
        if !expected {
            return Ok(());
        }
        let held = self
            .gateway
            .payouts_of(&payout)
            .await
            .map_err(unavailable)?;
        match held.iter().find(|made| is_for_current(&payout, made)) {
            // Made on another day than the list covers: judged as that day's would be.
            Some(made) => Box::pin(self.judge_listed(made, Scope::ForOurs)).await,
            None => {
                self.found(
                    FindingKind::MissingAtGateway,
                    payout.payout_id.to_string(),
                    Some(&payout),
                    held.iter().collect(),
                    format!(
                        "our books hold the payout {} and the gateway has no payout for its \
                         attempt {}",
                        payout.status, payout.attempt
                    ),
                    Action::LeftForPerson,
                )
                .await
            }
        }
    }

    /// The day a finding about `made` belongs to: the run's, or for a late reversal its
    /// own (the daily look-back then finds it again under the same key).
    fn date_for(&self, made: &GatewayPayout, scope: Scope) -> String {
        match scope {
            Scope::LateReversal => Day::containing(made.created_at, self.tz).name(),
            Scope::TheDay | Scope::ForOurs => self.date.clone(),
        }
    }

    /// Records a finding of the run's day now (a later run finding the same keeps this
    /// record) and says so.
    async fn found(
        &mut self,
        kind: FindingKind,
        subject: String,
        ours: Option<&Payout>,
        theirs: Vec<&GatewayPayout>,
        detail: String,
        action: Action,
    ) -> Result<()> {
        let date = self.date.clone();
        self.found_on(date, kind, subject, ours, theirs, detail, action)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn found_on(
        &mut self,
        date: String,
        kind: FindingKind,
        subject: String,
        ours: Option<&Payout>,
        theirs: Vec<&GatewayPayout>,
        detail: String,
        action: Action,
    ) -> Result<()> {
        let finding = Finding {
            kind,
            subject,
            ours: ours.map(OurSide::from),
            theirs: theirs.into_iter().map(gateway_side).collect(),
            detail,
            action,
            found_at: self.now,
        };
        if self.store.record_finding(&date, &finding).await? {
            log_finding(&date, &finding);
            emit_metric(&finding);
            self.new_findings.push(finding);
        }
        Ok(())
    }
}

/// Whether the day's list (its gateway ids and keys) shows `payout`'s current attempt:
/// what [`is_for_current`] says of some payout in it.
fn is_listed(payout: &Payout, ids: &HashSet<&str>, keys: &HashSet<&str>) -> bool {
    payout
        .gateway_payout_id
        .as_deref()
        .is_some_and(|known| ids.contains(known))
        || keys.contains(payout.idempotency_key().as_str())
}

/// Whether the gateway payout is for the payout's current attempt: the one our books
/// know, or another under its key (which the judging then calls out).
fn is_for_current(payout: &Payout, made: &GatewayPayout) -> bool {
    attempt_of(payout, made) == Attempt::Current
        || made.report.idempotency_key.as_deref() == Some(payout.idempotency_key().as_str())
}

fn gateway_side(made: &GatewayPayout) -> GatewaySide {
    let report = &made.report;
    GatewaySide {
        gateway_payout_id: report.gateway_payout_id.clone(),
        reference: made.reference.clone(),
        idempotency_key: report.idempotency_key.clone(),
        status: report.gateway_status.clone(),
        amount_paise: report.amount_paise,
        fund_account_id: report.fund_account_id.clone(),
        utr: match &report.outcome {
            TransferOutcome::Paid { reference, .. } => Some(reference.clone()),
            _ => None,
        },
        created_at: made.created_at,
    }
}

fn count(totals: &mut SideTotals, money: Money, amount: Option<u64>) {
    totals.payouts += 1;
    match money {
        Money::Paid => {
            totals.paid += 1;
            totals.paid_paise += amount.unwrap_or_default();
        }
        Money::NotPaid => totals.not_paid += 1,
        Money::OnItsWay => totals.in_flight += 1,
    }
}

/// The statement could not be read: the day is not reported (what was found so far is
/// recorded), and the schedule's retry or the next day's run tries again.
fn unreadable_statement(error: GatewayError) -> Error {
    Error::DependencyUnavailable(format!(
        "the gateway's account statement could not be read: {error}"
    ))
}

/// The gateway could not be read: the day is not reconciled (the run fails, and the
/// schedule's retry or the next day's run tries again).
fn unavailable(error: GatewayError) -> Error {
    Error::DependencyUnavailable(format!("the gateway's payouts could not be read: {error}"))
}

fn log_finding(date: &str, finding: &Finding) {
    let payout_id = finding
        .payout_id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    match &finding.action {
        Action::Repaired { transition } => warn!(
            event = "reconciliation_repaired",
            date,
            kind = finding.kind.as_str(),
            subject = finding.subject,
            payout_id,
            transition,
            detail = finding.detail,
            "reconciliation applied the gateway's missed word"
        ),
        Action::LeftForPerson => error!(
            event = "reconciliation_finding",
            date,
            kind = finding.kind.as_str(),
            subject = finding.subject,
            payout_id,
            detail = finding.detail,
            "reconciliation found a disagreement with the gateway: a person must look"
        ),
    }
}

/// The finding's metrics, as it is recorded: its kind's, and the alarm's when it is left
/// for a person. Emitted one by one, so a run cut short has counted what it found.
fn emit_metric(finding: &Finding) {
    let kind = format!("Reconciliation_{}", finding.kind);
    let left = u64::from(finding.action == Action::LeftForPerson);
    platform::metrics::emit(
        &[
            (kind.as_str(), platform::metrics::Unit::Count, 1),
            (
                "ReconciliationLeftForPerson",
                platform::metrics::Unit::Count,
                left,
            ),
        ],
        &[("subject", serde_json::json!(finding.subject))],
    );
}
