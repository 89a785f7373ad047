//! A step in flight, with what the session keeps to end its record if the step fails: a
//! panicking step's record still ends (with the workflow's `panicked` events), so its partition
//! keeps committing and its company's slot and ordering key are freed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::task::{JoinError, JoinHandle};
use trestle_kafka::KafkaOptions;

use crate::commit::Output;
use crate::Workflow;

/// A dispatched record's step running on its own task.
pub(crate) struct Running<W: Workflow> {
    partition: i32,
    offset: i64,
    item: Arc<W::Item>,
    task: JoinHandle<Vec<Output>>,
}

/// A step that ended, successfully or not.
pub(crate) struct Ended<W: Workflow> {
    pub partition: i32,
    pub offset: i64,
    item: Arc<W::Item>,
    result: Result<Vec<Output>, JoinError>,
}

impl<W: Workflow> Running<W> {
    /// Runs the step of `item` on a task of its own; its events come back encoded.
    pub(crate) fn spawn(
        (partition, offset): (i32, i64),
        item: Arc<W::Item>,
        workflow: Arc<W>,
        kafka: Arc<KafkaOptions>,
    ) -> Running<W> {
        let step = workflow.step(item.clone());
        let task = tokio::spawn(async move {
            let events = step.await;
            events.iter().map(|e| Output::encode(e, &kafka)).collect()
        });
        Running {
            partition,
            offset,
            item,
            task,
        }
    }

    pub(crate) fn abort(&self) {
        self.task.abort();
    }
}

impl<W: Workflow> Future for Running<W> {
    type Output = Ended<W>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended<W>> {
        let this = &mut *self;
        Pin::new(&mut this.task).poll(cx).map(|result| Ended {
            partition: this.partition,
            offset: this.offset,
            item: this.item.clone(),
            result,
        })
    }
}

impl<W: Workflow> Ended<W> {
    /// The record's outputs: the step's events, or — when the step panicked — the workflow's
    /// `panicked` events.
    pub(crate) fn into_outputs(self, workflow: &W, kafka: &KafkaOptions) -> Vec<Output> {
        match self.result {
            Ok(outputs) => outputs,
            Err(error) => {
                tracing::error!(
                    message = "A workflow step failed; its record ends with the workflow's failure events.",
                    partition = self.partition,
                    offset = self.offset,
                    %error
                );
                let events = workflow.panicked(&self.item);
                events.iter().map(|e| Output::encode(e, kafka)).collect()
            }
        }
    }
}
