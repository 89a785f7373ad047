//! HTTP client for AI providers (OpenAI-compatible chat API: a prompt, optionally with a
//! context), with retries and backoff.

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How the engine reaches providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderOptions {
    /// Base URL; a call goes to `{base_url}/{provider}/v1/chat/completions`.
    pub base_url: String,
    /// Deadline of one HTTP call.
    pub timeout_ms: u64,
    /// Calls per request before giving up (first try included).
    pub max_attempts: usize,
    /// First retry delay; doubles each retry, with jitter.
    pub retry_initial_ms: u64,
    /// Benchmarks only: answer at once without any HTTP call, to measure the engine itself.
    /// Not configurable from files or the environment.
    #[cfg(feature = "bench")]
    #[serde(skip)]
    pub noop: bool,
    /// Tests only: a call whose prompt is exactly this panics (a bug in a request task).
    /// Not configurable from files or the environment.
    #[cfg(feature = "bench")]
    #[serde(skip)]
    pub panic_on_prompt: Option<String>,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions {
            base_url: "http://127.0.0.1:18080".into(),
            timeout_ms: 10_000,
            max_attempts: 3,
            retry_initial_ms: 50,
            #[cfg(feature = "bench")]
            noop: false,
            #[cfg(feature = "bench")]
            panic_on_prompt: None,
        }
    }
}

/// A successful provider answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub latency: Duration,
}

/// Why a provider call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{provider} answered HTTP {status}: {body}")]
    Status {
        provider: String,
        status: u16,
        body: String,
    },
    #[error("{provider} could not be reached: {message}")]
    Transport { provider: String, message: String },
    #[error("{provider} sent an unreadable answer: {message}")]
    BadAnswer { provider: String, message: String },
}

impl CallError {
    /// Worth another try: throttling, server errors and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Status { status, .. } => *status == 429 || *status >= 500,
            CallError::Transport { .. } => true,
            CallError::BadAnswer { .. } => false,
        }
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    usage: Usage,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: String,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: i64,
    completion_tokens: i64,
}

/// Calls providers; cheap to clone.
#[derive(Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    options: ProviderOptions,
}

impl ProviderClient {
    pub fn new(options: ProviderOptions) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(options.timeout_ms))
            .pool_max_idle_per_host(512)
            .build()
            .expect("a reqwest client with a timeout builds");
        ProviderClient { http, options }
    }

    /// Asks `provider`'s `model`, retrying retryable failures with exponential backoff.
    pub async fn ask(
        &self,
        provider: &str,
        model: &str,
        prompt: &str,
    ) -> Result<Answer, CallError> {
        self.chat(provider, model, None, prompt).await
    }

    /// Asks `provider`'s `model` to answer `prompt` from `context` (a system message: the
    /// excerpts RAG found), retrying like [`ProviderClient::ask`].
    pub async fn ask_with_context(
        &self,
        provider: &str,
        model: &str,
        context: &str,
        prompt: &str,
    ) -> Result<Answer, CallError> {
        self.chat(provider, model, Some(context), prompt).await
    }

    async fn chat(
        &self,
        provider: &str,
        model: &str,
        context: Option<&str>,
        prompt: &str,
    ) -> Result<Answer, CallError> {
        #[cfg(feature = "bench")]
        if let Some(answer) = self.bench_hooks(model, prompt) {
            return Ok(answer);
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.options.retry_initial_ms))
            .with_max_times(self.options.max_attempts.saturating_sub(1))
            .with_jitter();
        (|| self.call_once(provider, model, context, prompt))
            .retry(backoff)
            .when(CallError::is_retryable)
            .await
    }

    /// The options it was built with (the notebook and embedding calls of RAG reach the same
    /// base URL with the same timeouts and retries).
    pub fn options(&self) -> &ProviderOptions {
        &self.options
    }

    /// The benchmark and test hooks: the no-op answer, the panicking call.
    #[cfg(feature = "bench")]
    fn bench_hooks(&self, model: &str, prompt: &str) -> Option<Answer> {
        if self.options.panic_on_prompt.as_deref() == Some(prompt) {
            panic!("test hook: the provider call for this prompt panics");
        }
        self.options.noop.then(|| Answer {
            text: format!("{model} (no-op) answer"),
            input_tokens: (prompt.split_whitespace().count() as i64).max(1),
            output_tokens: 3,
            latency: Duration::ZERO,
        })
    }

    async fn call_once(
        &self,
        provider: &str,
        model: &str,
        context: Option<&str>,
        prompt: &str,
    ) -> Result<Answer, CallError> {
        let started = Instant::now();
        let url = format!("{}/{provider}/v1/chat/completions", self.options.base_url);
        let user = json!({"role": "user", "content": prompt});
        let messages = match context {
            Some(context) => json!([{"role": "system", "content": context}, user]),
            None => json!([user]),
        };
        let body = json!({"model": model, "messages": messages});
        let result = self.http.post(&url).json(&body).send().await;
        let outcome = match result {
            Err(e) => Err(CallError::Transport {
                provider: provider.into(),
                message: e.to_string(),
            }),
            Ok(resp) if !resp.status().is_success() => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                Err(CallError::Status {
                    provider: provider.into(),
                    status,
                    body: body.chars().take(200).collect(),
                })
            }
            Ok(resp) => match resp.json::<ChatResponse>().await {
                Ok(chat) => match chat.choices.into_iter().next() {
                    Some(choice) => Ok(Answer {
                        text: choice.message.content,
                        input_tokens: chat.usage.prompt_tokens,
                        output_tokens: chat.usage.completion_tokens,
                        latency: started.elapsed(),
                    }),
                    None => Err(CallError::BadAnswer {
                        provider: provider.into(),
                        message: "no choices".into(),
                    }),
                },
                Err(e) => Err(CallError::BadAnswer {
                    provider: provider.into(),
                    message: e.to_string(),
                }),
            },
        };
        let label = if outcome.is_ok() { "ok" } else { "error" };
        trestle_telemetry::provider_call(provider, label, started.elapsed());
        outcome
    }
}
