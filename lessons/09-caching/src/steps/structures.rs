//! Step 1: Redis's data structures, one or two commands each, its times to live, and what a
//! pipeline saves.

use std::time::{Duration, Instant};

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Demo, StepError};
use crate::round_trips::Counted;

/// How many commands the pipelining comparison sends each way.
const COMMANDS: usize = 200;

/// Every key of the tour lives this long at most, whatever the run does.
const TOUR_TTL: i64 = 120;

type Connection = Counted<ConnectionManager>;

pub async fn structures(demo: &Demo) -> Result<(), StepError> {
    heading(1, "Redis data structures, times to live and pipelining");
    let redis = demo.redis().await?;
    let mut connection = Counted::new(redis.connection());
    let key = |name: &str| redis.key(name);
    say(format_args!(
        "Each command below ran against Redis, under this run's prefix `{}`.",
        demo.prefix()
    ));

    strings(&mut connection, &key).await?;
    hashes(&mut connection, &key).await?;
    sets(&mut connection, &key).await?;
    sorted_sets(&mut connection, &key).await?;
    streams(&mut connection, &key).await?;
    times_to_live(&mut connection, &key).await?;
    pipelining(&mut connection, &key).await
}

/// A command as typed, and its reply, lined up.
fn exchange(command: &str, reply: impl std::fmt::Display) {
    show(format_args!("{command:<52} → {reply}"));
}

async fn strings(c: &mut Connection, key: &impl Fn(&str) -> String) -> Result<(), StepError> {
    say("Strings: one value per key (text, a number, or JSON bytes, as the caches store).");
    let () = c
        .set_ex(key("product:1:name"), "Walnut desk lamp", 60)
        .await?;
    exchange(r#"SET product:1:name "Walnut desk lamp" EX 60"#, "OK");
    let name: String = c.get(key("product:1:name")).await?;
    exchange("GET product:1:name", format_args!("{name:?}"));
    let mut views = 0;
    for _ in 0..3 {
        views = c.incr(key("views:product:1"), 1).await?;
    }
    let _: bool = c.expire(key("views:product:1"), TOUR_TTL).await?;
    exchange("INCR views:product:1   (three times, atomically)", views);
    Ok(())
}

async fn hashes(c: &mut Connection, key: &impl Fn(&str) -> String) -> Result<(), StepError> {
    say("Hashes: fields under one key, read and changed one at a time (a guest cart is one).");
    let fields = [
        ("name", "Walnut desk lamp"),
        ("price_cents", "4900"),
        ("stock", "12"),
    ];
    let () = c.hset_multiple(key("product:1"), &fields).await?;
    let _: bool = c.expire(key("product:1"), TOUR_TTL).await?;
    exchange(
        r#"HSET product:1 name "Walnut…" price_cents 4900 stock 12"#,
        "3 fields",
    );
    let stock: i64 = c.hincr(key("product:1"), "stock", -1).await?;
    exchange("HINCRBY product:1 stock -1", stock);
    let all: Vec<(String, String)> = c.hgetall(key("product:1")).await?;
    let all: Vec<String> = all.iter().map(|(f, v)| format!("{f}={v}")).collect();
    exchange("HGETALL product:1", narrate::truncate(&all.join(" "), 44));
    Ok(())
}

async fn sets(c: &mut Connection, key: &impl Fn(&str) -> String) -> Result<(), StepError> {
    say("Sets: members without order or repeats, with set algebra on the server.");
    let _: i64 = c.sadd(key("tag:oak"), &[4, 7, 9, 12]).await?;
    let _: i64 = c.sadd(key("tag:lamp"), &[1, 4, 7]).await?;
    for tag in ["tag:oak", "tag:lamp"] {
        let _: bool = c.expire(key(tag), TOUR_TTL).await?;
    }
    exchange("SADD tag:oak 4 7 9 12 ; SADD tag:lamp 1 4 7", "4, 3 added");
    let mut both: Vec<i64> = c.sinter(&[key("tag:oak"), key("tag:lamp")]).await?;
    both.sort_unstable();
    exchange(
        "SINTER tag:oak tag:lamp",
        format_args!("{both:?}: oak lamps"),
    );
    Ok(())
}

async fn sorted_sets(c: &mut Connection, key: &impl Fn(&str) -> String) -> Result<(), StepError> {
    say("Sorted sets: members ranked by a score (the capstone's trending products).");
    for (product, views) in [("7", 12), ("1", 9), ("4", 5), ("9", 2)] {
        let _: f64 = c.zincr(key("views:today"), product, views).await?;
    }
    let _: bool = c.expire(key("views:today"), TOUR_TTL).await?;
    exchange(
        "ZINCRBY views:today <views> <product>   (×4)",
        "7→12, 1→9, 4→5, 9→2",
    );
    let top: Vec<(String, f64)> = c.zrevrange_withscores(key("views:today"), 0, 2).await?;
    let top: Vec<String> = top.iter().map(|(p, s)| format!("{p} ({s})")).collect();
    exchange("ZREVRANGE views:today 0 2 WITHSCORES", top.join(", "));
    Ok(())
}

async fn streams(c: &mut Connection, key: &impl Fn(&str) -> String) -> Result<(), StepError> {
    say("Streams: an append-only log with time-ordered ids, trimmed to a length (lesson 10).");
    let stream = key("orders");
    let mut first = String::new();
    for (n, event) in ["placed", "paid", "shipped"].into_iter().enumerate() {
        let id: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(1_000)
            .arg("*")
            .arg("order")
            .arg(42)
            .arg("event")
            .arg(event)
            .query_async(c)
            .await?;
        if n == 0 {
            first = id;
        }
    }
    let _: bool = c.expire(&stream, TOUR_TTL).await?;
    exchange(
        "XADD orders MAXLEN ~ 1000 * order 42 event placed",
        format_args!("{first}   (then paid, shipped)"),
    );
    let length: usize = c.xlen(&stream).await?;
    exchange("XLEN orders", length);
    let entries: redis::streams::StreamRangeReply = c.xrange_count(&stream, "-", "+", 2).await?;
    let events: Vec<String> = entries
        .ids
        .iter()
        .filter_map(|entry| entry.get::<String>("event"))
        .collect();
    exchange("XRANGE orders - + COUNT 2", events.join(", "));
    Ok(())
}

async fn times_to_live(c: &mut Connection, key: &impl Fn(&str) -> String) -> Result<(), StepError> {
    say("Times to live: Redis deletes a key when its time is up, so nothing has to clean up.");
    let () = c.pset_ex(key("session:abc"), "user 42", 300).await?;
    exchange(r#"SET session:abc "user 42" PX 300"#, "OK");
    let left: i64 = c.pttl(key("session:abc")).await?;
    exchange("PTTL session:abc", format_args!("{left} ms left"));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let exists: bool = c.exists(key("session:abc")).await?;
    exchange(
        "EXISTS session:abc   (350 ms later)",
        format_args!("{}: expired", u8::from(exists)),
    );
    let () = c.set(key("forever"), 1).await?;
    let none: i64 = c.pttl(key("forever")).await?;
    exchange(
        "SET forever 1 ; PTTL forever",
        format_args!("{none}: no expiry"),
    );
    let gone: i64 = c.pttl(key("no-such-key")).await?;
    exchange("PTTL no-such-key", format_args!("{gone}: no key"));
    let _: bool = c.expire(key("forever"), TOUR_TTL).await?;
    expect(
        left > 0 && left <= 300 && !exists && none == -1 && gone == -2,
        "a PX 300 key to expire on its own, and PTTL's -1 and -2",
        format!("PTTL {left}, then exists={exists}; {none}; {gone}"),
    )?;
    Ok(())
}

async fn pipelining(c: &mut Connection, key: &impl Fn(&str) -> String) -> Result<(), StepError> {
    say(format_args!(
        "Pipelining: {COMMANDS} SETs three ways. A request is one write to the socket and a wait for"
    ));
    say("its replies; the counts come from a connection wrapper that sees every request.");
    let keys: Vec<String> = (0..COMMANDS).map(|n| key(&format!("bulk:{n}"))).collect();
    let mut table = Table::new(["how", "commands>", "requests>", "most in flight>", "time>"]);

    // One by one: each SET waits for its reply before the next is sent.
    c.reset();
    let started = Instant::now();
    for k in &keys {
        let () = c.set_ex(k, 1, 60).await?;
    }
    let one_by_one = (c.counts(), started.elapsed());

    // One pipeline: every SET written at once, every reply read at once.
    c.reset();
    let started = Instant::now();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.set_ex(k, 2, 60).ignore();
    }
    let () = pipe.query_async(c).await?;
    let pipelined = (c.counts(), started.elapsed());

    // Concurrent: separate requests in flight together on the one multiplexed connection,
    // which writes them back to back, as a pipeline would.
    c.reset();
    let started = Instant::now();
    let sets = keys.iter().map(|k| {
        let mut c = c.clone();
        async move { c.set_ex::<_, _, ()>(k, 3, 60).await }
    });
    for set in futures::future::join_all(sets).await {
        set?;
    }
    let concurrent = (c.counts(), started.elapsed());

    for (how, (counts, took)) in [
        ("one by one", one_by_one),
        ("one pipeline", pipelined),
        ("concurrent, multiplexed", concurrent),
    ] {
        table.row([
            how.to_owned(),
            COMMANDS.to_string(),
            counts.requests.to_string(),
            counts.most_in_flight.to_string(),
            duration(took),
        ]);
    }
    print!("{table}");
    expect(
        one_by_one.0.requests == COMMANDS as u64 && pipelined.0.requests == 1,
        "200 requests one by one and a single one for the pipeline",
        format!("{one_by_one:?} and {pipelined:?}"),
    )?;
    let speedup = one_by_one.1.as_secs_f64() / pipelined.1.as_secs_f64().max(1e-9);
    say(format_args!(
        "Same commands, same server: the pipeline was {speedup:.0}× faster, because a round trip,"
    ));
    say("not Redis's work, is what a small command costs. Concurrent requests on redis-rs's");
    say("multiplexed connection get most of that for free; MULTI/EXEC makes a pipeline atomic.");
    Ok(())
}
