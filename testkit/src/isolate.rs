//! What every live helper shares: finding its endpoint (all three steps of discovery) and
//! naming and cleaning up the slice of the service a test gets.

use crate::discover::{self, Endpoint, Service};

/// Steps 1-3 of discovery for a live test; panics with instructions when nothing answers.
pub(crate) async fn endpoint(service: Service) -> Endpoint {
    discover::check_marker(service);
    match discover::locate(service) {
        Ok(endpoint) => endpoint,
        #[cfg(feature = "containers")]
        Err(why) => match crate::containers::start(service).await {
            Some(endpoint) => endpoint,
            None => discover::unavailable_panic(&why),
        },
        #[cfg(not(feature = "containers"))]
        Err(why) => discover::unavailable_panic(&why),
    }
}

/// A name no other test (in this run or a concurrent one) will pick: `testkit_<test>_<random>`,
/// short and plain enough to be a PostgreSQL identifier, a Redis key prefix, a queue name and a
/// MongoDB database name (which allows at most 63 bytes).
pub(crate) fn unique_name() -> String {
    let test: String = discover::current_test_name()
        .unwrap_or_default()
        .rsplit("::")
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("testkit_{test}_{}", &random[..10])
}

/// Runs async clean-up from a `Drop` impl. Drop cannot `.await`, and blocking inside the
/// test's runtime could deadlock it, so the clean-up gets a thread and a runtime of its own
/// and we wait for it: when the test ends, its database is really gone.
pub(crate) fn cleanup_blocking<F, Fut>(what: &str, job: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>>,
{
    let what = what.to_owned();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(job())
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        // Clean-up failing must not fail the test that already ran; say so and move on.
        Ok(Err(e)) => eprintln!("testkit: could not clean up {what}: {e}"),
        Err(_) => eprintln!("testkit: clean-up of {what} panicked"),
    }
}
