//! A replay reads what was there when it started, and stops, however busy the topic is.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use trestle_replay::Stop;
use trestle_testkit::TestTopics;

use crate::{
    around_now, at, company_on, day, options, parse_lines, producer, publish_at, run, usage,
    TxnProducer, PARTITIONS,
};

#[tokio::test(flavor = "multi_thread")]
async fn stops_at_the_end_captured_at_start() {
    let topics = TestTopics::create("replay_stop", PARTITIONS).await.unwrap();
    let (from, to) = day();
    let company = company_on(1);
    let producer = producer(&topics);
    let mut before = Vec::new();
    for i in 0..20 {
        let t = at(from, 60 + i);
        let e = usage(company, t);
        publish_at(&producer, &topics, &e, t).await;
        before.push(e);
    }

    // Keep writing events of the same day while the replay runs.
    let stop = Arc::new(AtomicBool::new(false));
    let written_during = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written_during) = (stop.clone(), written_during.clone());
        let producer = producer.clone();
        let topic = topics.topic("usage");
        tokio::spawn(async move {
            let key = trestle_kafka::company_key(&company);
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let t = at(from, 600 + i);
                let payload = trestle_events::encode(&usage(company, t)).unwrap();
                crate::send_raw(&producer, &topic, &key, Some(&payload), t).await;
                written_during.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    };
    // Let the writer get going, so records arrive before, during and after the capture.
    trestle_testkit::wait_for(
        "the writer to publish",
        std::time::Duration::from_secs(10),
        || {
            let n = written_during.load(Ordering::SeqCst);
            async move { (n >= 5).then_some(()) }
        },
    )
    .await;

    let mut o = options(&topics, &["usage"], from, to);
    o.company = Some(company);
    let (summary, text) = run(o).await;
    let after_replay = written_during.load(Ordering::SeqCst);
    // The writer is still producing after the replay returned.
    trestle_testkit::wait_for(
        "more records after the replay",
        std::time::Duration::from_secs(10),
        || {
            let n = written_during.load(Ordering::SeqCst);
            async move { (n > after_replay).then_some(()) }
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();

    let partition = &summary.partitions[0];
    assert_eq!(partition.stop, Some(Stop::EndOffset));
    let lines = parse_lines(&text);
    assert!(lines.iter().all(|l| l.offset < partition.end_offset));
    assert_eq!(
        lines.len() as i64,
        partition.end_offset - partition.start_offset
    );
    let exported: Vec<_> = lines.iter().map(|l| l.event.clone()).collect();
    assert_eq!(
        &exported[..before.len()],
        &before[..],
        "everything published before the start"
    );
    let ends = trestle_testkit::end_offsets(&topics.options, &topics.topic("usage")).unwrap();
    let now_end = ends
        .iter()
        .find(|(p, _)| *p == partition.partition)
        .unwrap()
        .1;
    assert!(
        now_end > partition.end_offset,
        "records kept arriving after the captured end"
    );
    topics.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stops_behind_an_open_transaction_that_follows_aborted_records() {
    let topics = TestTopics::create("replay_open_txn", PARTITIONS)
        .await
        .unwrap();
    let (from, to) = around_now();
    let now = from + chrono::TimeDelta::hours(1);
    let company = company_on(3);
    let committed = usage(company, at(now, 0));
    let aborted = usage(company, at(now, 0));
    let open = usage(company, at(now, 0));

    // a: committed, then aborted; b opens a transaction between a's record and a's abort. The
    // captured end (the last stable offset) is b's record, right after the aborted one, and
    // no record a read_committed reader sees lies between the committed record and that end.
    let kafka = topics.options.clone();
    let (c, a, o) = (committed.clone(), aborted.clone(), open.clone());
    let b = tokio::task::spawn_blocking(move || {
        let (pa, pb) = (TxnProducer::new(&kafka, "a"), TxnProducer::new(&kafka, "b"));
        pa.send(&kafka, &c);
        pa.commit();
        pa.send(&kafka, &a);
        pb.send(&kafka, &o);
        pa.abort();
        pb
    })
    .await
    .unwrap();

    let started = std::time::Instant::now();
    let (summary, text) = run(options(&topics, &["usage"], from, to)).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let lines = parse_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0].event, committed);
    let partition = summary
        .partitions
        .iter()
        .find(|p| p.partition == crate::partition_of(company))
        .unwrap();
    assert_eq!(partition.stop, Some(Stop::EndOffset));
    tokio::task::spawn_blocking(move || b.abort())
        .await
        .unwrap();
    topics.delete().await;
}
