//! The plan of a run: which services answer, which tests are therefore left out, and whether
//! testkit may start containers. It is decided once, by the services step of `cargo xtask test`
//! (or by `verify` on its own), and every later step follows it: the tests, the sqlx check and
//! `verify`'s proofs. Skipped work is listed, by name, and never counted as proof.

use testkit::discover::{self, Service};

use crate::cargo::TestArgs;

/// What a run does about the services it found.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Tests left out by name, and why.
    pub skips: Vec<Skip>,
    /// A Docker engine answers and a service does not: testkit starts containers (its
    /// `containers` feature) instead of skipping.
    pub containers: bool,
    /// The services that did not answer (whether skipped or served by containers).
    pub missing: Vec<Service>,
}

/// A group of tests a run leaves out: those whose names contain `marker`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// The service that is missing (or not the real thing).
    pub service: Service,
    pub marker: &'static str,
    pub reason: String,
    /// What would let them run.
    pub remedy: Vec<String>,
}

impl Skip {
    fn service_down(service: Service) -> Self {
        let (state, verb) = if service.is_program() {
            ("not installed", "install")
        } else {
            ("not reachable", "start")
        };
        Skip {
            service,
            marker: service.test_marker(),
            reason: format!("{service} is {state}"),
            remedy: discover::how_to_start(service)
                .into_iter()
                .map(|c| format!("{verb} {service} with: {c}"))
                .collect(),
        }
    }

    fn mongodb_stand_in(what: &str) -> Self {
        Skip {
            service: Service::MongoDb,
            marker: testkit::standin::REAL_SERVER_MARKER,
            reason: format!(
                "they need a real MongoDB server, and the MongoDB stand-in ({what}) answers"
            ),
            remedy: vec![
                "run a real MongoDB: `docker compose up -d mongodb`, or install MongoDB Community \
                 Server, after `cargo xtask services down` stops the stand-in"
                    .to_owned(),
            ],
        }
    }

    /// True when the service is down, false when it answers but not well enough (the stand-in).
    pub fn is_service_down(&self) -> bool {
        self.marker == self.service.test_marker()
    }
}

impl Plan {
    /// The plan for what was found: `missing` services, the MongoDB stand-in's description
    /// when it is what answers for MongoDB, and whether a Docker engine answers. A missing
    /// program (Prometheus) is skipped even with Docker: its tests run the program itself.
    pub fn decide(missing: &[Service], mongodb_stand_in: Option<&str>, docker: bool) -> Self {
        let mut plan = Plan {
            missing: missing.to_vec(),
            ..Plan::default()
        };
        for &service in missing {
            if docker && service.has_test_container() {
                plan.containers = true;
            } else {
                plan.skips.push(Skip::service_down(service));
            }
        }
        if let Some(what) = mongodb_stand_in {
            plan.skips.push(Skip::mongodb_stand_in(what));
        }
        plan
    }

    /// Looks at the machine (printing one line per service) and decides.
    pub fn detect() -> Self {
        let report = crate::services::report();
        let docker = report.missing.iter().any(|s| s.has_test_container())
            && discover::docker_engine_answers();
        if docker {
            println!(
                "  A Docker engine answers: testkit will start containers for the missing ones."
            );
        }
        Plan::decide(&report.missing, report.mongodb_stand_in.as_deref(), docker)
    }

    /// Is `service` unreachable (its tests skipped)?
    pub fn is_down(&self, service: Service) -> bool {
        self.skips
            .iter()
            .any(|s| s.service == service && s.is_service_down())
    }

    /// Does `service` answer by itself, without a container a test would start?
    pub fn answers(&self, service: Service) -> bool {
        !self.missing.contains(&service)
    }

    /// The skip that leaves `test` out, if any (the first, when several apply).
    pub fn skip_for(&self, test: &str) -> Option<&Skip> {
        self.skips.iter().find(|s| test.contains(s.marker))
    }

    /// What `cargo test` needs to follow the plan. `uses_testkit`: whether the package
    /// depends on testkit (only then can its `containers` feature be named).
    pub fn test_args(&self, uses_testkit: bool) -> TestArgs {
        let mut args = TestArgs::default();
        if self.containers && uses_testkit {
            args.features.push("testkit/containers".to_owned());
        }
        for skip in &self.skips {
            args.libtest.push("--skip".to_owned());
            args.libtest.push(skip.marker.to_owned());
        }
        args
    }

    /// One line for the services step.
    pub fn describe(&self) -> String {
        let down: Vec<_> = self
            .skips
            .iter()
            .filter(|s| s.is_service_down())
            .map(|s| s.service.display_name())
            .collect();
        let mut detail = if self.containers {
            "containers for the missing ones".to_owned()
        } else if down.is_empty() {
            "all reachable".to_owned()
        } else {
            format!("missing, tests skipped: {}", down.join(", "))
        };
        if self.containers && !down.is_empty() {
            detail.push_str(&format!("; tests skipped: {}", down.join(", ")));
        }
        if self.skips.iter().any(|s| !s.is_service_down()) {
            detail.push_str("; MongoDB is the stand-in");
        }
        detail
    }
}

/// Work a run did not do, for the summary: which step, what, and why.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub entries: Vec<(String, String)>,
}

impl Ledger {
    pub fn add(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.entries.push((what.into(), why.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_up_skips_nothing_and_starts_no_containers() {
        let plan = Plan::decide(&[], None, false);
        assert!(plan.skips.is_empty());
        assert!(!plan.containers);
        assert!(plan.test_args(true).libtest.is_empty());
        assert_eq!(plan.describe(), "all reachable");
    }

    #[test]
    fn a_missing_service_without_docker_skips_its_marker_in_every_step() {
        let plan = Plan::decide(&[Service::Redis], None, false);
        assert!(plan.is_down(Service::Redis));
        assert!(!plan.is_down(Service::Postgres));
        let args = plan.test_args(true);
        assert_eq!(args.libtest, vec!["--skip", "needs_redis"]);
        assert!(args.features.is_empty());
        assert!(plan.skip_for("cache::needs_redis::expires").is_some());
        assert!(plan.skip_for("cache::needs_postgres::reads").is_none());
        assert!(plan.describe().contains("Redis"), "{}", plan.describe());
    }

    #[test]
    fn a_missing_service_with_docker_uses_containers_and_skips_nothing() {
        let plan = Plan::decide(&[Service::Postgres], None, true);
        assert!(plan.containers);
        assert!(!plan.is_down(Service::Postgres));
        assert_eq!(plan.test_args(true).features, vec!["testkit/containers"]);
        // Only a test's own container serves it: a tool that needs the server itself cannot.
        assert!(!plan.answers(Service::Postgres));
        assert!(plan.answers(Service::Redis));
        // A package without testkit cannot be given its feature.
        assert!(plan.test_args(false).features.is_empty());
    }

    #[test]
    fn a_missing_prometheus_is_skipped_even_with_docker() {
        let plan = Plan::decide(&[Service::Postgres, Service::Prometheus], None, true);
        // PostgreSQL gets containers; no container can give a test the prometheus program.
        assert!(plan.containers);
        assert!(!plan.is_down(Service::Postgres));
        assert!(plan.is_down(Service::Prometheus));
        let args = plan.test_args(true);
        assert_eq!(args.libtest, vec!["--skip", "needs_prometheus"]);
        assert_eq!(args.features, vec!["testkit/containers"]);
        assert!(plan.skips[0].reason.contains("not installed"));
        assert!(
            plan.describe().contains("tests skipped: Prometheus"),
            "{}",
            plan.describe()
        );
    }

    #[test]
    fn the_mongodb_stand_in_skips_only_the_tests_that_need_a_real_server() {
        let plan = Plan::decide(&[], Some("mongomock 4"), false);
        assert!(!plan.is_down(Service::MongoDb));
        assert!(plan.skip_for("reviews::needs_mongodb::lists").is_none());
        assert!(plan.skip_for("reviews::needs_mongodb_real_index").is_some());
        assert!(plan.describe().ends_with("MongoDB is the stand-in"));
    }

    #[test]
    fn a_missing_replica_skips_only_its_own_tests_even_with_docker() {
        // No container can be a standby of the local primary: skipped, not containerised.
        let plan = Plan::decide(&[Service::PgReplica], None, true);
        assert!(!plan.containers);
        assert!(plan.is_down(Service::PgReplica));
        assert!(!plan.is_down(Service::Postgres));
        assert_eq!(
            plan.test_args(true).libtest,
            vec!["--skip", "needs_pg_replica"]
        );
        assert!(plan.skip_for("steps::needs_postgres::reads").is_none());
        assert!(
            plan.skip_for("live::needs_postgres::needs_pg_replica::lag")
                .is_some()
        );
        assert!(
            plan.skips[0]
                .remedy
                .join(" ")
                .contains("cargo xtask services up"),
            "{:?}",
            plan.skips[0].remedy
        );
        assert!(
            plan.describe().contains("PostgreSQL replica"),
            "{}",
            plan.describe()
        );
    }

    #[test]
    fn a_missing_primary_does_not_skip_by_the_replica_marker_alone() {
        let plan = Plan::decide(&[Service::Postgres], None, false);
        assert!(plan.skip_for("lag::needs_pg_replica::only").is_none());
        // A replica test also needs the primary, so it carries both markers.
        assert!(
            plan.skip_for("live::needs_postgres::needs_pg_replica::lag")
                .is_some()
        );
    }

    #[test]
    fn a_down_service_and_the_stand_in_are_both_listed() {
        let plan = Plan::decide(&[Service::RabbitMq], Some("x"), false);
        assert_eq!(plan.skips.len(), 2);
        assert_eq!(
            plan.test_args(false).libtest,
            vec!["--skip", "needs_rabbitmq", "--skip", "needs_mongodb_real"]
        );
    }
}
