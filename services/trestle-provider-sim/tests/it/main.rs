//! The simulator over real HTTP: answers, outages, rate limits and bad input; the notebook
//! API and embeddings in `notebooks.rs`.

mod notebooks;

use serde_json::json;
use trestle_provider_sim::{serve, SimConfig};

async fn start() -> String {
    start_with(SimConfig::default()).await
}

async fn start_with(config: SimConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { serve(listener, &config, std::future::pending()).await });
    format!("http://{addr}")
}

fn chat_body() -> serde_json::Value {
    json!({"model": "gemini-flash", "messages": [{"role": "user", "content": "How many rebar ties per square?"}]})
}

#[tokio::test]
async fn answers_like_an_openai_chat_api_with_token_usage() {
    let base = start().await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/gemini-flash/v1/chat/completions"))
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: trestle_provider_sim::ChatResponse = resp.json().await.unwrap();
    assert!(body.choices[0].message.content.contains("rebar ties"));
    assert!(body.usage.prompt_tokens > 0);
    assert_eq!(
        body.usage.total_tokens,
        body.usage.prompt_tokens + body.usage.completion_tokens
    );
}

#[tokio::test]
async fn a_provider_set_down_answers_503_while_others_still_answer() {
    let base = start().await;
    let http = reqwest::Client::new();
    let set = http
        .put(format!("{base}/admin/providers/openai"))
        .json(&json!({"down": true, "latency_ms": 0, "jitter_ms": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let down = http
        .post(format!("{base}/openai/v1/chat/completions"))
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    let up = http
        .post(format!("{base}/gemini-flash/v1/chat/completions"))
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 200);
}

#[tokio::test]
async fn rate_limited_provider_answers_429_with_retry_after() {
    let base = start().await;
    let http = reqwest::Client::new();
    http.put(format!("{base}/admin/providers/gemini-pro"))
        .json(&json!({"rate_limit_per_minute": 2, "latency_ms": 0, "jitter_ms": 0}))
        .send()
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = http
            .post(format!("{base}/gemini-pro/v1/chat/completions"))
            .json(&chat_body())
            .send()
            .await
            .unwrap();
        statuses.push((
            r.status().as_u16(),
            r.headers().get("retry-after").is_some(),
        ));
    }
    assert_eq!(statuses, vec![(200, false), (200, false), (429, true)]);
}

#[tokio::test]
async fn malformed_body_gets_400_with_a_reason() {
    let base = start().await;
    let r = reqwest::Client::new()
        .post(format!("{base}/openai/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().len() > 5,
        "{body}"
    );
}

#[tokio::test]
async fn failure_rate_outside_zero_to_one_is_refused() {
    let base = start().await;
    let r = reqwest::Client::new()
        .put(format!("{base}/admin/providers/openai"))
        .json(&json!({"failure_rate": 3.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
