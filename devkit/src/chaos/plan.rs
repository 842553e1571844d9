//! A run's plan, all of it drawn from the seed before anything runs: the world, the
//! fault rates (a different mix per seed, as TigerBeetle's swarm testing does) and
//! the waves of operations, each with its crash point if it has one.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use domain::actor::Actor;
use domain::money::Paise;
use service::account::{save_payout_account, Destination, NewPayoutAccount};
use service::config::PayoutLimits;
use service::order::{Order, OrderStatus};
use service::scout::Scout;
use store::Store;

use super::seams::CrashAt;
use super::GatewayKind;
use crate::razorpayx::Faults;

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub seed: u64,
    pub gateway: GatewayKind,
    pub world: World,
    pub faults: FaultRates,
    pub waves: Vec<Vec<Step>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct World {
    pub users: Vec<u64>,
    pub scouts: Vec<Scout>,
    pub orders: Vec<Order>,
    /// Users who have a payout account from the start.
    pub accounts: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultRates {
    pub crash: f64,
    pub store_refuse: f64,
    pub store_lose_and_retry: f64,
    pub store_lose_and_fail: f64,
    pub gateway_unavailable: f64,
    pub gateway_lost_answer: f64,
    pub gateway_rate_limited: f64,
    pub decline: f64,
    pub webhook_crash: f64,
    pub webhook_duplicate: f64,
    pub webhook_late: f64,
    pub settle_ms: u64,
    pub razorpayx: Faults,
}

/// Which `Idempotency-Key` a request carries: none, or the one of a slot (the same
/// slot again is a replay, or a reuse with another amount).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    None,
    Slot(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Request {
        scout: usize,
        amount: Option<u64>,
        key: KeyChoice,
    },
    Complete {
        order: usize,
    },
    Process {
        pick: usize,
    },
    Retry {
        pick: usize,
    },
    Cancel {
        pick: usize,
    },
    /// A processor run (several in one wave overlap).
    Run,
    /// A reader whose clock jumped: the payout's lease is made to have run out while
    /// its holder may still be working.
    ExpireLease {
        pick: usize,
    },
    /// The user saves one of two UPI addresses: a change of destination (and a hold)
    /// when it is not the one saved last.
    SaveAccount {
        user: usize,
        address: usize,
    },
    /// The bank returns a processed payout (RazorpayX only).
    Reverse {
        pick: usize,
    },
    Pause {
        ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub op: Op,
    pub crash: Option<CrashAt>,
    /// Whether the payout it names is one in the state the operation is meant for
    /// (a pending one for a cancel, a failed one for a retry…), chosen when it runs;
    /// otherwise any payout, so that refusals are exercised too.
    pub aimed: bool,
}

impl Step {
    pub fn describe(&self) -> String {
        let crash = match self.crash {
            Some(CrashAt { at, after }) => {
                format!(
                    " [crash {} call {at}]",
                    if after { "after" } else { "before" }
                )
            }
            None => String::new(),
        };
        format!("{:?}{crash}", self.op)
    }
}

/// A rate that is zero for about half the seeds, so that each fault is also seen alone.
fn rate(rng: &mut StdRng, max: f64) -> f64 {
    if rng.random_bool(0.5) {
        0.0
    } else {
        rng.random_range(0.0..max)
    }
}

impl Plan {
    pub fn generate(seed: u64, gateway: GatewayKind, operations: usize) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let world = World::generate(&mut rng);
        let razorpayx = gateway == GatewayKind::RazorpayX;
        let faults = FaultRates {
            crash: rate(&mut rng, 0.3),
            store_refuse: rate(&mut rng, 0.05),
            store_lose_and_retry: rate(&mut rng, 0.05),
            store_lose_and_fail: rate(&mut rng, 0.03),
            gateway_unavailable: rate(&mut rng, 0.5),
            gateway_lost_answer: rate(&mut rng, 0.5),
            gateway_rate_limited: rate(&mut rng, 0.1),
            decline: rate(&mut rng, 0.3),
            webhook_crash: if razorpayx { rate(&mut rng, 0.2) } else { 0.0 },
            webhook_duplicate: if razorpayx { rate(&mut rng, 0.4) } else { 0.0 },
            webhook_late: if razorpayx { rate(&mut rng, 0.4) } else { 0.0 },
            settle_ms: rng.random_range(50..400),
            razorpayx: if razorpayx {
                Faults {
                    server_error: rate(&mut rng, 0.15),
                    timeout: rate(&mut rng, 0.1),
                    rate_limit: rate(&mut rng, 0.1),
                    reject: rate(&mut rng, 0.15),
                    fail_after_accept: rate(&mut rng, 0.15),
                    // Webhooks are lost only at the end, on purpose (`reconciled`):
                    // the run's own checks expect each to arrive.
                    drop_webhooks: 0.0,
                    rate_limit_tps: None,
                }
            } else {
                Faults::default()
            },
        };

        let mut waves = Vec::new();
        let mut planned = 0;
        while planned < operations {
            let size = rng.random_range(1..=4usize).min(operations - planned);
            let wave: Vec<Step> = (0..size)
                .map(|_| Step {
                    op: Op::draw(&mut rng, &world, razorpayx),
                    crash: rng.random_bool(faults.crash).then(|| CrashAt {
                        at: rng.random_range(0..8),
                        after: rng.random_bool(0.5),
                    }),
                    aimed: rng.random_bool(0.8),
                })
                .collect();
            planned += wave.len();
            waves.push(wave);
        }
        Plan {
            seed,
            gateway,
            world,
            faults,
            waves,
        }
    }
}

impl Op {
    fn draw(rng: &mut StdRng, world: &World, razorpayx: bool) -> Op {
        let pick = rng.random_range(0..1_000usize);
        match rng.random_range(0..100u32) {
            0..=24 => Op::Request {
                scout: rng.random_range(0..world.scouts.len()),
                amount: match rng.random_range(0..4u32) {
                    0 => None,
                    // Sometimes more than any scout has.
                    1 => Some(rng.random_range(100..400_000)),
                    _ => Some(rng.random_range(100..20_000)),
                },
                key: if rng.random_bool(0.4) {
                    KeyChoice::Slot(rng.random_range(0..4))
                } else {
                    KeyChoice::None
                },
            },
            25..=36 => Op::Complete {
                order: rng.random_range(0..world.orders.len()),
            },
            37..=42 => Op::Process { pick },
            43..=48 => Op::Retry { pick },
            49..=58 => Op::Cancel { pick },
            59..=83 => Op::Run,
            84..=87 => Op::ExpireLease { pick },
            88..=91 => Op::SaveAccount {
                user: rng.random_range(0..world.users.len()),
                address: rng.random_range(0..2),
            },
            92..=96 if razorpayx => Op::Reverse { pick },
            _ => Op::Pause {
                ms: rng.random_range(20..300),
            },
        }
    }
}

impl World {
    fn generate(rng: &mut StdRng) -> World {
        let users: Vec<u64> = (101..=106).collect();
        let scouts = (0..3)
            .map(|index| {
                let earnings = [0, 5_000, 50_000, 200_000][rng.random_range(0..4usize)];
                Scout::with_earnings(format!("s-{index}"), users[index], Paise(earnings))
            })
            .collect::<Vec<_>>();
        // No `completed` order to start with: one always has its payout, which only a
        // completion makes.
        let statuses = [
            OrderStatus::Placed,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Cancelled,
        ];
        let orders = (0..6)
            .map(|index| {
                let scout = rng
                    .random_bool(0.5)
                    .then(|| scouts[rng.random_range(0..scouts.len())].scout_id.clone());
                Order {
                    order_id: format!("o-{index}"),
                    buyer_id: users[rng.random_range(0..users.len())],
                    seller_id: users[rng.random_range(0..users.len())],
                    item_price_paise: Paise([0, 10_000, 45_000][rng.random_range(0..3usize)]),
                    status: statuses[rng.random_range(0..statuses.len())],
                    scout_bounty_paise: scout.as_ref().map(|_| Paise(rng.random_range(100..5_000))),
                    scout_id: scout,
                    payout_id: None,
                    completed_at: None,
                    currency: Default::default(),
                    revision: 0,
                    updated_at: None,
                    reported_at: None,
                }
            })
            .collect();
        let accounts = users
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.7))
            .collect();
        World {
            users,
            scouts,
            orders,
            accounts,
        }
    }

    pub async fn load(
        &self,
        store: &Store,
        vault: &platform::vault::Vault,
        _limits: PayoutLimits,
    ) -> anyhow::Result<()> {
        for scout in &self.scouts {
            store.insert_scout(scout).await?;
        }
        for order in &self.orders {
            store.insert_order(order).await?;
        }
        for user in &self.accounts {
            save_payout_account(
                store,
                vault,
                &Actor::user(*user),
                NewPayoutAccount {
                    name: format!("User {user}"),
                    destination: Destination::BankAccount {
                        ifsc: "HDFC0000053".to_owned(),
                        account_number: format!("76543212{user}"),
                    },
                    email: None,
                },
                // A user's first account is no change: nothing is held.
                0,
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        for gateway in [GatewayKind::Simulated, GatewayKind::RazorpayX] {
            let plan = Plan::generate(42, gateway, 60);
            assert_eq!(plan, Plan::generate(42, gateway, 60));
            assert_ne!(plan, Plan::generate(43, gateway, 60));
            assert_eq!(plan.waves.iter().map(Vec::len).sum::<usize>(), 60);
        }
    }
}
