//! Step 2: the attack script against every vulnerable endpoint and its fix.

use narrate::{Table, heading, say, truncate};

use super::{Demo, StepError, expect};
use crate::attack::{AttackRow, AttackScript, Verdict};

pub async fn attacks(demo: &Demo) -> Result<Vec<AttackRow>, StepError> {
    heading(2, "The attack script: what got through");
    say("Each payload goes to /vulnerable/... and to /fixed/...; the verdict comes from what");
    say("came back (hidden rows, a password hash, markup in the page, the metadata secret, a");
    say("changed email address), not from the status code.");
    let script = AttackScript::new(demo.lab.base_url())?;
    let mut rows = script.sql_injection().await?;
    rows.extend(script.xss().await?);
    rows.extend(script.ssrf(&demo.services).await?);
    rows.extend(script.csrf().await?);

    let mut table = Table::new(["class", "attack", "vulnerable", "fixed"]);
    for row in &rows {
        table.row([
            row.class.to_owned(),
            row.attack.to_owned(),
            truncate(&row.vulnerable.to_string(), 44),
            truncate(&row.fixed.to_string(), 52),
        ]);
    }
    print!("{table}");
    say("Payloads, in order:");
    for row in &rows {
        narrate::show(format_args!(
            "{:<34} {}",
            row.attack,
            truncate(&row.payload, 80)
        ));
    }
    for row in &rows {
        let leaked = row.fixed.verdict == Verdict::GotThrough;
        expect(
            !leaked,
            "no attack gets through a fixed endpoint",
            row.attack,
        )?;
        let control = row.attack.starts_with("(control)");
        let vulnerable_ok = match row.vulnerable.verdict {
            Verdict::GotThrough => !control,
            Verdict::Served => control,
            Verdict::Skipped => true,
            Verdict::Blocked => false,
        };
        expect(
            vulnerable_ok,
            "every attack works on the vulnerable side",
            row.attack,
        )?;
    }
    say("The controls show the fixes still do their job: a real search, the allowed image and");
    say("the shop's own form work on both sides. Chapter 06 walks through each pair's code.");
    Ok(rows)
}
