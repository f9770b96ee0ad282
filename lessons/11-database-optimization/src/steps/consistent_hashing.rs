//! Step 6: sharding with a hash ring. 10,000 keys over three shards, then a fourth: how many
//! keys move with the ring and with `hash % n`, and how evenly each spreads them. Pure Rust,
//! no database: the ring is [`crate::ring`].

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use narrate::demo::expect;
use narrate::{Table, heading, say, thousands};

use super::{Demo, StepError};
use crate::ring::{HashRing, modulo_shard};

const KEYS: usize = 10_000;
const SHARDS: [&str; 4] = ["db-1", "db-2", "db-3", "db-4"];

pub async fn consistent_hashing(_demo: &Demo) -> Result<(), StepError> {
    heading(
        6,
        "Sharding with a hash ring: what moves when a shard is added",
    );
    let keys: Vec<String> = (0..KEYS).map(|i| format!("customer:{i}")).collect();
    let vnodes = NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN);
    let ring = |vnodes: NonZeroU32, shards: &[&str]| {
        let mut ring = HashRing::new(vnodes);
        for shard in shards {
            ring.add(shard);
        }
        ring
    };
    let three = ring(vnodes, &SHARDS[..3]);
    let four = ring(vnodes, &SHARDS);
    say(format_args!(
        "{} keys on db-1..db-3, then db-4 is added. A ring with {} virtual nodes per",
        thousands(KEYS as i64),
        vnodes
    ));
    say("shard, against hash(key) % number of shards:");

    let (mut ring_moved, mut ring_between_old) = (0, 0);
    let (mut modulo_moved, mut modulo_between_old) = (0, 0);
    for key in &keys {
        let (before, after) = (three.shard_for(key), four.shard_for(key));
        if before != after {
            ring_moved += 1;
            if after != Some("db-4") {
                ring_between_old += 1;
            }
        }
        let (before, after) = (modulo_shard(key, 3), modulo_shard(key, 4));
        if before != after {
            modulo_moved += 1;
            if after != Some(3) {
                modulo_between_old += 1;
            }
        }
    }
    let share = |n: usize| format!("{:.1}%", n as f64 * 100.0 / KEYS as f64);
    let mut table = Table::new([
        "placement",
        "keys moved>",
        "of all>",
        "moved between old shards>",
    ]);
    table.row([
        "hash ring".to_owned(),
        thousands(ring_moved as i64),
        share(ring_moved),
        thousands(ring_between_old as i64),
    ]);
    table.row([
        "hash % n".to_owned(),
        thousands(modulo_moved as i64),
        share(modulo_moved),
        thousands(modulo_between_old as i64),
    ]);
    print!("{table}");

    say("Keys per shard with four shards (a fair share is 2,500):");
    let one = ring(NonZeroU32::MIN, &SHARDS);
    let mut balance = Table::new(["shard", "ring, 1 point>", "ring, 100 points>", "hash % 4>"]);
    let count = |place: &dyn Fn(&str) -> Option<String>| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for key in &keys {
            if let Some(shard) = place(key) {
                *counts.entry(shard).or_default() += 1;
            }
        }
        counts
    };
    let by_one = count(&|key| one.shard_for(key).map(str::to_owned));
    let by_many = count(&|key| four.shard_for(key).map(str::to_owned));
    let by_modulo = count(&|key| {
        modulo_shard(key, 4)
            .and_then(|i| SHARDS.get(i))
            .map(|s| (*s).to_owned())
    });
    for shard in SHARDS {
        let n = |counts: &BTreeMap<String, usize>| {
            thousands(counts.get(shard).copied().unwrap_or(0) as i64)
        };
        balance.row([shard.to_owned(), n(&by_one), n(&by_many), n(&by_modulo)]);
    }
    print!("{balance}");

    let fraction = ring_moved as f64 / KEYS as f64;
    let spread = |counts: &BTreeMap<String, usize>| {
        let max = counts.values().copied().max().unwrap_or(0);
        let min = counts.values().copied().min().unwrap_or(0);
        max - min
    };
    expect(
        (0.15..0.35).contains(&fraction)
            && ring_between_old == 0
            && modulo_moved > KEYS / 2
            && spread(&by_many) < spread(&by_one),
        "about a quarter of the keys move with the ring, all to db-4, and most with hash % n",
        format!("ring {ring_moved} ({ring_between_old} between old shards), modulo {modulo_moved}"),
    )?;
    say(format_args!(
        "With the ring {} of the keys moved, close to the quarter db-4 should own, and",
        share(ring_moved)
    ));
    say(format_args!(
        "every one of them to db-4: nothing moves between the old shards. With hash % n, {}",
        share(modulo_moved)
    ));
    say("moved, most from one old shard to another: adding capacity would mean copying most of");
    say("the data. One point per shard leaves arcs of very different lengths; a hundred points");
    say("each even the shares out, and spread a leaving shard's keys over all the others.");
    Ok(())
}
