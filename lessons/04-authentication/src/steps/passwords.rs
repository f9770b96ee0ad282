//! Step 2: password storage, at the library level (no HTTP: the hashes are the story).

use std::time::{Duration, Instant};

use narrate::{Table, duration, heading, say, show};

use super::{Demo, StepError, check};
use crate::password::{HashParams, Password, PasswordHasher, Verified, phc_params};

pub async fn passwords(demo: &Demo) -> Result<(), StepError> {
    heading(2, "Passwords: argon2id, salt, pepper, rehash on login");
    let hasher = demo.state.accounts.hasher();
    let password = Password::new("correct horse battery staple");
    let first = hasher.hash(&password)?;
    let second = hasher.hash(&password)?;
    say("The same password hashed twice, as PHC strings: $algorithm$version$cost$salt$hash.");
    show(&first);
    show(&second);
    say("A random salt per hash makes equal passwords look different and precomputed tables");
    say("useless. The pepper is not in the string at all: a stolen database cannot be attacked");
    say("offline without the key that lives in the environment.");
    let right = hasher.verify(&password, &first)?;
    let wrong = hasher.verify(&Password::new("correct horse battery stapler"), &first)?;
    show(format_args!("verify(right password) = {right:?}"));
    show(format_args!("verify(wrong password) = {wrong:?}"));
    check(
        right == Verified::Yes { rehash: None },
        "the right password to verify",
        &right,
    )?;
    check(wrong == Verified::No, "a wrong password to fail", &wrong)?;

    say("Parameters change: last year's release hashed with m=8 MiB, t=1. A user registered");
    say("then logs in today, and login replaces the hash while it holds the password:");
    let legacy = demo.state.accounts.with_hasher(PasswordHasher::new(
        demo.config.pepper.clone(),
        HashParams::LEGACY,
    )?);
    let grace = legacy
        .add_user(
            "grace@shop.test",
            Password::new("an old but long password"),
            crate::rbac::Role::Customer,
        )
        .await?;
    let stored = |accounts: &crate::accounts::Accounts| {
        accounts
            .users()
            .get(grace.id)
            .map(|user| user.password_hash)
            .unwrap_or_default()
    };
    show(format_args!(
        "stored before login: {}",
        phc_params(&stored(&legacy))
    ));
    let logged_in = demo
        .state
        .accounts
        .login("grace@shop.test", Password::new("an old but long password"))
        .await?;
    let after = stored(&demo.state.accounts);
    show(format_args!(
        "stored after login:  {}  (rehashed: {})",
        phc_params(&after),
        logged_in.rehashed
    ));
    check(
        logged_in.rehashed && phc_params(&after) == "m=19456,t=2,p=1",
        "login to upgrade the hash",
        phc_params(&after),
    )?;

    say("An email with no account must cost as much as a wrong password, or the response time");
    say("tells an attacker which emails are registered. Login verifies a decoy hash then:");
    let timings = login_timings(demo).await?;
    let mut table = Table::new(["login attempt", "median time>"]);
    for (label, time) in &timings {
        table.row([(*label).to_owned(), duration(*time)]);
    }
    print!("{table}");
    say("Both rows do the same work (one argon2id verification with the same parameters), so");
    say("the medians should agree to within a few milliseconds; a bigger gap is other programs");
    say("competing for the CPU. That noise is why timings are printed here, never asserted.");
    Ok(())
}

/// Median login time of a wrong password and of an unknown email.
///
/// The two kinds of attempt alternate, after one warm-up round that is not counted: timed one
/// kind after the other, whichever went first also paid for the blocking pool's threads and
/// argon2's first 19 MiB allocations, and looked slower for it.
async fn login_timings(demo: &Demo) -> Result<Vec<(&'static str, Duration)>, StepError> {
    const ROUNDS: usize = 7;
    let attempts = [
        ("grace@shop.test, wrong password", "grace@shop.test"),
        ("nobody@shop.test (no account)", "nobody@shop.test"),
    ];
    let accounts = &demo.state.accounts;
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..=ROUNDS {
        for ((_, email), samples) in attempts.iter().zip(&mut times) {
            let started = Instant::now();
            let outcome = accounts
                .login(email, Password::new("not the password at all"))
                .await;
            let elapsed = started.elapsed();
            check(outcome.is_err(), "the login to fail", "it succeeded")?;
            if round > 0 {
                samples.push(elapsed);
            }
        }
    }
    Ok(attempts
        .iter()
        .zip(times)
        .map(|((label, _), mut samples)| {
            samples.sort();
            (*label, samples[samples.len() / 2])
        })
        .collect())
}
