//! Sending the scenario's requests to the ingest API, concurrently, counting what was accepted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

use crate::scenario::Scenario;

const KINDS: [&str; 3] = ["chat", "summary", "notebook_query"];
const PROMPTS: [&str; 4] = [
    "Summarise the open RFIs for the east wing",
    "Which inspections are due this week?",
    "Draft a daily log from today's site photos notes",
    "List change orders over $10k pending approval",
];

/// What was accepted, per company index.
#[derive(Debug, Clone)]
pub struct Sent {
    pub accepted: Vec<u64>,
    pub rejected: u64,
    pub elapsed: Duration,
}

/// Sends every request of `scenario` to `ingest_url` with `concurrency` in flight, printing
/// progress; a 503, and a 409 for a company ingest has not seen provisioned yet (it reads
/// the provisioning a moment after onboarding publishes it), is retried; any other refusal is
/// counted as rejected.
pub async fn drive(
    ingest_url: &str,
    scenario: &Scenario,
    concurrency: usize,
    tokens: &crate::Tokens,
) -> anyhow::Result<Sent> {
    let http = reqwest::Client::new();
    let url = format!("{}/v1/ai-requests", ingest_url.trim_end_matches('/'));
    let done = AtomicUsize::new(0);
    let total = scenario.requests.len();
    let started = Instant::now();
    let results: Vec<(usize, bool)> = futures::stream::iter(scenario.requests.iter().enumerate())
        .map(|(i, &company)| {
            let http = &http;
            let url = &url;
            let done = &done;
            async move {
                let c = &scenario.companies[company];
                let body = json!({
                    "company_id": c.id,
                    "user_id": format!("user-{}", i as u32 % c.users),
                    "kind": KINDS[i % KINDS.len()],
                    "prompt": PROMPTS[i % PROMPTS.len()],
                });
                let bearer = tokens.company(c.id);
                let mut ok = false;
                for attempt in 0..5u32 {
                    match http
                        .post(url)
                        .header("authorization", &bearer)
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().as_u16() == 202 => {
                            ok = true;
                            break;
                        }
                        Ok(r) if !matches!(r.status().as_u16(), 503 | 409) => break,
                        _ => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(500) || n == total {
                    eprintln!("  sent {n}/{total} requests");
                }
                (company, ok)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut accepted = vec![0u64; scenario.companies.len()];
    let mut rejected = 0;
    for (company, ok) in results {
        if ok {
            accepted[company] += 1;
        } else {
            rejected += 1;
        }
    }
    Ok(Sent {
        accepted,
        rejected,
        elapsed: started.elapsed(),
    })
}
