//! The machine and stack a run measured, printed with its figures (best effort: a probe that
//! fails prints "unknown" rather than stopping the benchmark).

use std::path::Path;
use std::process::Command;

use sqlx::{Connection, PgConnection};

/// Labelled facts about the environment, in print order.
pub(crate) struct Environment(pub Vec<(&'static str, String)>);

impl Environment {
    /// Probes the machine, the Postgres server behind `owner_url` and the Kafka client.
    pub(crate) async fn probe(owner_url: &str) -> Environment {
        let mut facts = Vec::new();
        facts.push((
            "date (UTC)",
            chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string(),
        ));
        let cores = std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let cpu = read("/proc/cpuinfo")
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        facts.push(("cpu", format!("{cores} cores, {cpu}")));
        let mem = read("/proc/meminfo")
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map(|kb| format!("{} GiB", kb / 1024 / 1024))
            .unwrap_or_else(|| "unknown".into());
        facts.push(("memory", mem));
        facts.push((
            "kernel",
            read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
        ));
        facts.push(("load average at start", load_average()));
        facts.push(("postgres", postgres(owner_url).await));
        facts.push(("kafka broker", kafka_broker()));
        facts.push(("librdkafka", rdkafka::util::get_rdkafka_version().1));
        facts.push(("rustc", output("rustc", &["--version"])));
        facts.push(("commit", commit()));
        Environment(facts)
    }
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn load_average() -> String {
    read("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn postgres(owner_url: &str) -> String {
    let Ok(mut conn) = PgConnection::connect(owner_url).await else {
        return "unknown".into();
    };
    let settings: Result<(String, String, String, String), _> = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('fsync'),
                current_setting('synchronous_commit'), current_setting('shared_buffers')",
    )
    .fetch_one(&mut conn)
    .await;
    let _ = conn.close().await;
    match settings {
        Ok((version, fsync, sync_commit, shared)) => format!(
            "{version} (fsync={fsync}, synchronous_commit={sync_commit}, shared_buffers={shared})"
        ),
        Err(_) => "unknown".into(),
    }
}

/// The broker version from the local stack's jars (`compose/stack` puts them in `.stack/`;
/// `compose/stack env` exports their folder as `TRESTLE_KAFKA_LIBS`, which a git worktree
/// without a `.stack/` of its own needs).
fn kafka_broker() -> String {
    let libs = std::env::var_os("TRESTLE_KAFKA_LIBS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.stack/kafka/libs"));
    std::fs::read_dir(libs)
        .ok()
        .and_then(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .find_map(|name| {
                    let v = name.strip_prefix("kafka_2.13-")?.strip_suffix(".jar")?;
                    (!v.contains('-')).then(|| format!("Apache Kafka {v} (KRaft, single node)"))
                })
        })
        .unwrap_or_else(|| "unknown (not the compose/stack broker?)".into())
}

fn commit() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let head = output("git", &["-C", dir, "rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["-C", dir, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{head} + uncommitted changes")
    } else {
        head
    }
}
