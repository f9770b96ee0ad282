//! Step 5: the availability SLO's fast-burn alert, and the rule tests that pin it.

use std::time::Duration;

use narrate::{heading, say, show};
use testkit::discover;

use super::{StepError, expect};
use crate::alerts::{alert_rule, budget_spent, promtool_test_rules, rule_tests, slo_rules};
use narrate::demo::Unexpected;

/// How long `promtool test rules` may run.
const PROMTOOL_LIMIT: Duration = Duration::from_secs(60);

pub async fn alerts() -> Result<(), StepError> {
    heading(5, "Alerts: SLO burn rates, tested with promtool");
    let path = slo_rules();
    let rules = std::fs::read_to_string(&path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("could not read {}: {e}", path.display()))
    })?;
    let rule = alert_rule(&rules, "AvailabilityFastBurn").ok_or_else(|| Unexpected {
        expected: "an AvailabilityFastBurn alert in the SLO rules",
        got: path.display().to_string(),
    })?;
    say("The availability SLO: 99.5% of requests are not 5xx over 30 days, so the error");
    say("budget is 0.5%. Its fast-burn alert, from observability/prometheus/rules/slo.yml:");
    println!();
    for line in rule.lines() {
        show(line);
    }
    println!();
    let spent = budget_spent(14.4, 1.0, 30.0 * 24.0);
    say("Burn rate = error ratio / error budget: how many times faster than \"exactly on");
    say("budget\" the budget goes. At 1 it lasts the 30 days; at 14.4 for one hour it spends");
    say(format_args!(
        "14.4 × 1 h / 720 h = {:.0}% of the month's budget: an error ratio above 14.4 × 0.5% = 7.2%.",
        spent * 100.0
    ));
    say("Both windows must burn: the hour makes it significant, the last 5 minutes make it");
    say("current, so the page stops minutes after the errors do. `for: 2m` ignores one odd");
    say("evaluation. (The 5% of step 2 is a burn rate of 10: the slow-burn alert's business.)");

    println!();
    let Some(promtool) = discover::find_on_path("promtool") else {
        say(
            "promtool (it comes with Prometheus: `apt-get install prometheus`) is not installed, so the rule tests are not run.",
        );
        return Ok(());
    };
    let files = rule_tests()?;
    say(format_args!(
        "promtool test rules on observability/prometheus/tests/ ({} files of synthetic traffic",
        files.len()
    ));
    say("stories, each saying which alerts fire when):");
    let verdict =
        tokio::task::spawn_blocking(move || promtool_test_rules(&promtool, &files, PROMTOOL_LIMIT))
            .await??;
    for line in verdict.output.lines().filter(|l| !l.trim().is_empty()) {
        show(line.trim_end());
    }
    expect(
        verdict.passed,
        "the rule tests to pass",
        verdict.output.clone(),
    )?;
    say("The rules do what the comments claim: tested like code, before anyone is paged.");
    Ok(())
}
