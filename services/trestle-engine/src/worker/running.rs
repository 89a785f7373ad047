//! A request task in flight, with what the session keeps to end its record if the task fails:
//! a panicking task's record still ends, as a failed outcome (internal error), so its
//! partition keeps committing and its company's slot and ordering key are freed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::task::{JoinError, JoinHandle};
use trestle_events::AiRequestSubmitted;
use trestle_kafka::KafkaOptions;

use crate::commit::Output;
use crate::directory::Tenant;
use crate::outcome;
use crate::serve::{serve, Services};

/// A dispatched request being served on its own task.
pub(super) struct Running {
    partition: i32,
    offset: i64,
    submitted: Arc<AiRequestSubmitted>,
    task: JoinHandle<Vec<Output>>,
}

/// A request task that ended, successfully or not.
pub(super) struct Ended {
    pub partition: i32,
    pub offset: i64,
    submitted: Arc<AiRequestSubmitted>,
    result: Result<Vec<Output>, JoinError>,
}

impl Running {
    /// Serves `submitted` on a task of its own; its events come back encoded.
    pub(super) fn spawn(
        (partition, offset): (i32, i64),
        submitted: Arc<AiRequestSubmitted>,
        tenant: Tenant,
        services: Arc<Services>,
        kafka: Arc<KafkaOptions>,
    ) -> Running {
        let request = submitted.clone();
        let task = tokio::spawn(async move {
            let events = serve(&services, &request, &tenant).await;
            events.iter().map(|e| Output::encode(e, &kafka)).collect()
        });
        Running {
            partition,
            offset,
            submitted,
            task,
        }
    }

    pub(super) fn abort(&self) {
        self.task.abort();
    }
}

impl Future for Running {
    type Output = Ended;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let this = &mut *self;
        Pin::new(&mut this.task).poll(cx).map(|result| Ended {
            partition: this.partition,
            offset: this.offset,
            submitted: this.submitted.clone(),
            result,
        })
    }
}

impl Ended {
    /// The record's outputs: the task's events, or — when the task panicked — a failed
    /// outcome with the internal-error reason.
    pub(super) fn into_outputs(self, kafka: &KafkaOptions) -> Vec<Output> {
        match self.result {
            Ok(outputs) => outputs,
            Err(error) => {
                tracing::error!(
                    message = "A request task failed; its request ends as failed (internal error).",
                    partition = self.partition,
                    offset = self.offset,
                    request_id = %self.submitted.request_id,
                    %error
                );
                vec![Output::encode(
                    &outcome::internal_error(&self.submitted),
                    kafka,
                )]
            }
        }
    }
}
