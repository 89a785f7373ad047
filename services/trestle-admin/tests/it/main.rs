//! The admin CLI against the real local Kafka.

mod company;
mod keys;
mod price_book;
mod project;
mod quotas;
mod shards;

use std::process::{Command, Output};

use trestle_testkit::TestTopics;

/// Runs `trestle-admin args` against the test's topics.
pub(crate) fn admin(topics: &TestTopics, args: &[&str]) -> Output {
    admin_with_env(topics, args, &[])
}

/// Runs `trestle-admin args` against the test's topics with more `TRESTLE_*` variables.
pub(crate) fn admin_with_env(topics: &TestTopics, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trestle-admin"))
        .args(args)
        .env(
            "TRESTLE_KAFKA__BOOTSTRAP_SERVERS",
            &topics.options.bootstrap_servers,
        )
        .env("TRESTLE_KAFKA__TOPIC_PREFIX", &topics.options.topic_prefix)
        .envs(env.iter().copied())
        .output()
        .expect("run trestle-admin")
}

/// Output bytes as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
