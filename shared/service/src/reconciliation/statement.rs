//! The gateway's account statement held to its payouts: the money each payout of the day
//! moved, and the lines of the day that name a payout the day did not make.
//!
//! A payout's lines are judged by their sum (debits less credits), not one by one: a
//! bank corrects a wrong debit with a line of its own, and a payout sent back nets to
//! nothing (or to its fees, where the bank keeps them). What a sum may be depends on
//! what the gateway says of the payout, and is read loosely only where the money may
//! still be moving: a payout the gateway settled unpaid after the statement was read.

use std::collections::HashMap;

use domain::reconciliation::StatementTotals;
use domain::time::Timestamp;
use gateway::{GatewayPayout, StatementLine, StatementSource};

use super::judge::{self, Money};

/// How far past the day the statement is read for the day's payouts' money: a payout
/// queued for want of balance is debited when it starts, hours later. Bounded, so a
/// run over an old day reads a bounded statement (and judges loosely what may lie past).
pub const DEBIT_LOOKAHEAD_SECS: u64 = 2 * 86_400;

/// How far before the day the statement is read again for a payout made on another day
/// whose money moves on this one: a debit is told from a second debit only on every line
/// since the payout was made. Bounded, so the read is at most a day more.
pub const LOOKBACK_SECS: u64 = 86_400;

/// What a payout's lines may be read against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The gateway called the payout settled unpaid before the statement was read, so
    /// any money back is on it.
    pub settled_before: bool,
    /// The statement was read up to now: a debit for it can lie nowhere later.
    pub to_now: bool,
}

/// The gateway's charges on a payout, as its lines say (the most any line says).
fn fees_of(lines: &[&StatementLine]) -> u64 {
    lines
        .iter()
        .map(|line| match line.source {
            StatementSource::Payout { fees_paise, .. }
            | StatementSource::Reversal { fees_paise, .. } => fees_paise,
            StatementSource::Other { .. } => 0,
        })
        .max()
        .unwrap_or_default()
}

/// The statement's lines by the gateway payout whose money they moved.
pub fn by_payout(lines: &[StatementLine]) -> HashMap<&str, Vec<&StatementLine>> {
    let mut by_payout: HashMap<&str, Vec<&StatementLine>> = HashMap::new();
    for line in lines {
        if let Some(id) = line.gateway_payout_id() {
            by_payout.entry(id).or_default().push(line);
        }
    }
    by_payout
}

/// The day's lines, added up.
pub fn totals(lines: &[StatementLine], from: Timestamp, to: Timestamp) -> StatementTotals {
    let mut totals = StatementTotals::default();
    for line in lines
        .iter()
        .filter(|line| line.created_at >= from && line.created_at < to)
    {
        totals.lines += 1;
        totals.debited_paise += line.debit_paise;
        totals.credited_paise += line.credit_paise;
    }
    totals
}

/// Why the money `lines` moved for `made` disagrees with what the gateway says of it, or
/// `None` when it agrees. A payout's money is its amount, or its amount and fees (a bank
/// may debit them together). It has left the account once for a processed payout; once
/// or not at all for one on its way; for one settled unpaid it has come back (all of
/// it, or all but the fees) once the gateway said so. What may still be moving, or lie
/// past the lines read, is read loosely: a payout settled unpaid only after the
/// statement was read, and a processed one whose debit may lie past a statement not
/// read up to now.
pub fn disagreement(
    made: &GatewayPayout,
    lines: &[&StatementLine],
    reading: Reading,
) -> Option<String> {
    let amount = i128::from(made.report.amount_paise?);
    let fees = i128::from(fees_of(lines));
    let debited: u64 = lines.iter().map(|line| line.debit_paise).sum();
    let credited: u64 = lines.iter().map(|line| line.credit_paise).sum();
    let net = i128::from(debited) - i128::from(credited);
    let out = [amount, amount + fees];
    let back = [0, fees];
    let status = &made.report.gateway_status;
    let agrees = match judge::theirs(made) {
        Money::Paid if reading.to_now => out.contains(&net),
        Money::NotPaid if reading.settled_before && reading.to_now => back.contains(&net),
        Money::Paid | Money::NotPaid | Money::OnItsWay => back.contains(&net) || out.contains(&net),
    };
    if agrees {
        return None;
    }
    let why = if net == 0 && credited > 0 {
        format!(
            "the gateway says the payout is {status}, and the statement shows its money came back"
        )
    } else if net == 0 {
        format!("the gateway says the payout is {status}, and the statement shows no money left the account for it")
    } else {
        format!(
            "the statement shows {net} paise net left the account for a payout of {amount} \
             (fees {fees}), which the gateway says is {status}"
        )
    };
    Some(format!("{why}: {}", listing(lines)))
}

/// For a payout made on another day, judged only on the day's lines: money back when
/// the gateway says it paid, or more back than the payout's money.
pub fn money_back_beyond(made: &GatewayPayout, day_lines: &[&StatementLine]) -> Option<String> {
    let credited: u64 = day_lines.iter().map(|line| line.credit_paise).sum();
    if credited == 0 {
        return None;
    }
    let fees = fees_of(day_lines);
    let why = if judge::theirs(made) == Money::Paid {
        format!(
            "money came back for a payout the gateway says is {}",
            made.report.gateway_status
        )
    } else if made
        .report
        .amount_paise
        .is_some_and(|amount| u128::from(credited) > u128::from(amount) + u128::from(fees))
    {
        format!(
            "{credited} paise came back for a payout of {} paise",
            made.report.amount_paise.unwrap_or_default()
        )
    } else {
        return None;
    };
    Some(format!("{why}: {}", listing(day_lines)))
}

/// The lines, as a person reads them on the statement.
pub fn listing(lines: &[&StatementLine]) -> String {
    if lines.is_empty() {
        return "no statement lines".to_owned();
    }
    lines
        .iter()
        .map(|line| {
            let (side, paise) = if line.debit_paise > 0 {
                ("debit", line.debit_paise)
            } else {
                ("credit", line.credit_paise)
            };
            format!("{} {side} {paise} at {}", line.id, line.created_at)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::payout::GatewayStatusDetails;
    use gateway::{GatewayReport, TransferOutcome};

    const STRICT: Reading = Reading {
        settled_before: true,
        to_now: true,
    };
    const LOOSE: Reading = Reading {
        settled_before: false,
        to_now: true,
    };

    fn made(status: &'static str, amount: u64) -> GatewayPayout {
        GatewayPayout {
            created_at: Timestamp::from_millis(1_000),
            reference: None,
            report: GatewayReport {
                payout_id: None,
                idempotency_key: None,
                gateway_payout_id: "pout_1".to_owned(),
                gateway_status: status.to_owned(),
                amount_paise: Some(amount),
                fund_account_id: None,
                details: GatewayStatusDetails::default(),
                outcome: match status {
                    "processed" => TransferOutcome::Paid {
                        reference: "UTR".to_owned(),
                        gateway_payout_id: Some("pout_1".to_owned()),
                    },
                    "reversed" => TransferOutcome::Reversed {
                        reason: "back".to_owned(),
                    },
                    "failed" => TransferOutcome::Declined {
                        reason: "no".to_owned(),
                    },
                    _ => TransferOutcome::Accepted {
                        gateway_payout_id: "pout_1".to_owned(),
                        gateway_status: status.to_owned(),
                    },
                },
                not_after: &[],
            },
        }
    }

    fn line(id: &str, debit: u64, credit: u64, fees: u64) -> StatementLine {
        StatementLine {
            id: id.to_owned(),
            created_at: Timestamp::from_millis(2_000),
            debit_paise: debit,
            credit_paise: credit,
            source: if credit > 0 {
                StatementSource::Reversal {
                    gateway_payout_id: "pout_1".to_owned(),
                    fees_paise: fees,
                }
            } else {
                StatementSource::Payout {
                    gateway_payout_id: "pout_1".to_owned(),
                    fees_paise: fees,
                }
            },
        }
    }

    #[test]
    fn a_payouts_money_is_its_amount_or_its_amount_and_fees_and_only_once() {
        let debit = line("txn_1", 500, 0, 0);
        let with_fees = line("txn_1", 518, 0, 18);
        let again = line("txn_2", 500, 0, 0);
        let back = line("txn_3", 0, 500, 0);
        assert_eq!(
            disagreement(&made("processed", 500), &[&debit], STRICT),
            None
        );
        assert_eq!(
            disagreement(&made("processed", 500), &[&with_fees], STRICT),
            None
        );
        assert_eq!(disagreement(&made("processing", 500), &[], STRICT), None);
        assert_eq!(
            disagreement(&made("processing", 500), &[&debit], STRICT),
            None
        );
        assert_eq!(
            disagreement(&made("reversed", 500), &[&debit, &back], STRICT),
            None
        );
        let twice = disagreement(&made("processed", 500), &[&debit, &again], STRICT);
        assert!(twice.is_some_and(|why| why.contains("1000 paise") && why.contains("txn_2")));
        let none = disagreement(&made("processed", 500), &[], STRICT);
        assert!(none.is_some_and(|why| why.contains("no money left")));
        let back_only = disagreement(&made("processed", 500), &[&debit, &back], STRICT);
        assert!(back_only.is_some_and(|why| why.contains("came back")));
        let more_back = disagreement(&made("failed", 500), &[&back], LOOSE);
        assert!(more_back.is_some_and(|why| why.contains("-500 paise")));
    }

    #[test]
    fn money_for_a_payout_settled_unpaid_has_come_back_once_the_gateway_said_so() {
        let with_fees = line("txn_1", 518, 0, 18);
        let back_all = line("txn_2", 0, 518, 0);
        let back_but_fees = line("txn_3", 0, 500, 0);
        // Said before the statement was read: the money is back, all or all but fees.
        assert_eq!(
            disagreement(&made("failed", 500), &[&with_fees, &back_all], STRICT),
            None
        );
        assert_eq!(
            disagreement(
                &made("reversed", 500),
                &[&with_fees, &back_but_fees],
                STRICT
            ),
            None
        );
        let kept = disagreement(&made("reversed", 500), &[&with_fees], STRICT);
        assert!(kept.is_some_and(|why| why.contains("518 paise net")));
        // Said since: its money may still be on its way back.
        assert_eq!(
            disagreement(&made("reversed", 500), &[&with_fees], LOOSE),
            None
        );
        // Read short of now (a day re-run long after): a processed payout's debit may
        // lie past the lines read, a settled one's money back too.
        let short = Reading {
            settled_before: true,
            to_now: false,
        };
        assert_eq!(disagreement(&made("processed", 500), &[], short), None);
        assert_eq!(
            disagreement(&made("reversed", 500), &[&with_fees], short),
            None
        );
        let twice = line("txn_5", 518, 0, 18);
        assert!(disagreement(&made("processed", 500), &[&with_fees, &twice], short).is_some());
    }

    #[test]
    fn money_back_with_its_fees_is_the_payouts_money() {
        let back_with_fees = line("txn_6", 0, 518, 18);
        assert_eq!(
            money_back_beyond(&made("reversed", 500), &[&back_with_fees]),
            None
        );
    }

    #[test]
    fn on_another_days_lines_only_money_back_is_judged() {
        let back = line("txn_3", 0, 500, 0);
        let twice_back = line("txn_4", 0, 500, 0);
        assert_eq!(money_back_beyond(&made("reversed", 500), &[&back]), None);
        let paid = money_back_beyond(&made("processed", 500), &[&back]);
        assert!(paid.is_some_and(|why| why.contains("came back") && why.contains("processed")));
        let more = money_back_beyond(&made("reversed", 500), &[&back, &twice_back]);
        assert!(more.is_some_and(|why| why.contains("1000 paise came back")));
        assert_eq!(
            money_back_beyond(&made("processed", 500), &[&line("txn_1", 500, 0, 0)]),
            None
        );
    }

    #[test]
    fn the_days_totals_take_only_the_days_lines() {
        let mut late = line("txn_2", 0, 500, 0);
        late.created_at = Timestamp::from_millis(9_000);
        let lines = [line("txn_1", 500, 0, 0), late];
        let totals = totals(
            &lines,
            Timestamp::from_millis(0),
            Timestamp::from_millis(5_000),
        );
        assert_eq!(
            totals,
            StatementTotals {
                lines: 1,
                debited_paise: 500,
                credited_paise: 0
            }
        );
    }
}
