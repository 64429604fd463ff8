//! Broadcasts split across `fanout` workers, with fakes of the table, the
//! management API and the FIFO queue (which deduplicates as SQS does).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::{
    FakeLedger, FakePoster, FakeQueue, FakeStore, NO_HISTORY, everyone, fanout, ids, message_from,
    segment_of,
};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chat_core::fanout::{Fanout, FanoutConfig, backoff};
use chat_core::routes::{self, NOT_QUEUED};
use chat_core::segments::{
    Broadcast, Delivery, JobQueue, ScanPosition, SegmentJob, SplitConfig, broadcast_or_split,
    run_job,
};
use tokio::time::Instant;

fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn split(direct_limit: usize, segments: u32, page_size: u32) -> Fanout<FakeQueue> {
    Fanout {
        split: SplitConfig {
            direct_limit,
            segments,
            page_size,
        },
        ..fanout(FanoutConfig::default())
    }
}

/// Runs queued jobs one at a time, as the workers would, until none is left;
/// how many ran.
async fn drain(
    store: &FakeStore,
    poster: &FakePoster,
    fanout: &Fanout<FakeQueue>,
    ledger: &FakeLedger,
) -> usize {
    let mut jobs = 0;
    while let Some(job) = fanout.queue.take() {
        run_job(store, poster, fanout, ledger, job, later())
            .await
            .unwrap();
        jobs += 1;
    }
    jobs
}

/// How many times each id heard `text`.
fn counts(poster: &FakePoster) -> BTreeMap<String, usize> {
    poster
        .received()
        .into_iter()
        .map(|(id, texts)| (id, texts.len()))
        .collect()
}

#[tokio::test]
async fn a_broadcast_over_the_direct_limit_is_queued_one_job_per_segment_and_nothing_is_posted() {
    let store = FakeStore::with_ids(ids(50));
    let poster = FakePoster::default();
    let fanout = split(49, 4, 10);
    let delivery = broadcast_or_split(&store, &poster, &fanout, &everyone("hi"), later())
        .await
        .unwrap();
    let Delivery::Split {
        broadcast_id,
        segments,
    } = delivery
    else {
        panic!("expected a split: {delivery:?}");
    };
    assert_eq!(segments, 4);
    assert!(
        poster.received().is_empty(),
        "the workers post, not the splitter"
    );
    let jobs = fanout.queue.sent.lock().unwrap().clone();
    assert_eq!(jobs.len(), 4);
    for (n, job) in jobs.iter().enumerate() {
        assert_eq!(job.broadcast_id, broadcast_id);
        assert_eq!((job.segment, job.total_segments, job.hop), (n as u32, 4, 0));
        assert_eq!(job.scan, ScanPosition::Beginning);
        assert_eq!(job.text, "hi");
    }
    let groups: BTreeSet<String> = jobs.iter().map(SegmentJob::group_id).collect();
    assert_eq!(groups.len(), 4, "one message group per segment");

    // At the limit exactly, the function posts itself and queues nothing.
    let fanout = split(50, 4, 10);
    let delivery = broadcast_or_split(&store, &poster, &fanout, &everyone("hi"), later()).await;
    assert!(
        matches!(delivery, Ok(Delivery::Direct(ref s)) if s.sent == 50),
        "{delivery:?}"
    );
    assert!(fanout.queue.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn workers_reach_every_connection_exactly_once_page_by_page() {
    let all = ids(1_000);
    let store = FakeStore::with_ids(all.clone());
    let ledger = FakeLedger::default();
    let poster = FakePoster {
        gone: BTreeSet::from(["c010".to_owned()]),
        ..FakePoster::default()
    };
    let fanout = split(100, 4, 30);
    broadcast_or_split(&store, &poster, &fanout, &everyone("to all"), later())
        .await
        .unwrap();
    let jobs = drain(&store, &poster, &fanout, &ledger).await;
    let counts = counts(&poster);
    assert_eq!(counts.len(), 999, "everyone but the gone one");
    assert!(counts.values().all(|n| *n == 1), "nobody twice");
    assert!(!store.ids().contains("c010"), "the gone id is removed");
    // Each segment takes ceil(size / 30) jobs, plus one that finds the end.
    let expected: usize = (0..4)
        .map(|segment| {
            let size = all.iter().filter(|id| segment_of(id, 4) == segment).count();
            size / 30 + 1
        })
        .sum();
    assert_eq!(jobs, expected);
}

#[tokio::test(start_paused = true)]
async fn a_job_cut_off_mid_page_is_retried_and_repeats_only_what_it_had_posted_of_its_page() {
    let store = FakeStore::with_ids(ids(400));
    let ledger = FakeLedger::default();
    let poster = FakePoster {
        latency: Duration::from_millis(10),
        ..FakePoster::default()
    };
    let fanout = Fanout {
        config: FanoutConfig {
            concurrency: 4,
            ..FanoutConfig::default()
        },
        ..split(100, 2, 50)
    };
    broadcast_or_split(&store, &poster, &fanout, &everyone("hi"), later())
        .await
        .unwrap();
    // Run one job of segment 0 to completion, then cut the next one off
    // after 20 of its posts, as a worker killed mid-page.
    let first = fanout.queue.take().unwrap();
    run_job(&store, &poster, &fanout, &ledger, first, later())
        .await
        .unwrap();
    let cut = fanout.queue.take().unwrap();
    let before = poster.delivered.lock().unwrap().len();
    let run = run_job(&store, &poster, &fanout, &ledger, cut.clone(), later());
    let killed = async {
        while poster.delivered.lock().unwrap().len() < before + 20 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        result = run => panic!("the job finished before it was cut off: {result:?}"),
        () = killed => {}
    }
    // SQS hands the same job out again after the visibility timeout.
    let reached_before_the_kill: BTreeSet<String> = poster.delivered.lock().unwrap()[before..]
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    run_job(&store, &poster, &fanout, &ledger, cut, later())
        .await
        .unwrap();
    drain(&store, &poster, &fanout, &ledger).await;

    let counts = counts(&poster);
    assert_eq!(counts.len(), 400, "nobody is skipped");
    let twice: BTreeSet<String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(counts.values().all(|n| *n <= 2));
    assert!(twice.len() <= 50, "at most one page: {}", twice.len());
    assert!(
        twice.is_subset(&reached_before_the_kill),
        "only those the killed job had reached hear it twice"
    );
    assert!(!twice.is_empty(), "the retry did repeat the cut-off page");
}

/// Takes the first queued job and runs it to the end, as a worker that
/// then died before it could record the job as done: its record goes to a
/// ledger of its own, which is dropped. Returns the job, for its retry.
async fn first_job_run_without_its_record(
    store: &FakeStore,
    poster: &FakePoster,
    fanout: &Fanout<FakeQueue>,
) -> SegmentJob {
    let job = fanout.queue.take().unwrap();
    run_job(
        store,
        poster,
        fanout,
        &FakeLedger::default(),
        job.clone(),
        later(),
    )
    .await
    .unwrap();
    job
}

#[tokio::test]
async fn a_job_retried_after_it_queued_its_successor_does_not_repeat_the_rest_of_the_segment() {
    let store = FakeStore::with_ids(ids(300));
    let ledger = FakeLedger::default();
    let poster = FakePoster::default();
    let fanout = split(100, 1, 40);
    broadcast_or_split(&store, &poster, &fanout, &everyone("hi"), later())
        .await
        .unwrap();
    // The worker queued the next job and died before it recorded this one
    // as done; SQS hands the job out again.
    let job = first_job_run_without_its_record(&store, &poster, &fanout).await;
    run_job(&store, &poster, &fanout, &ledger, job.clone(), later())
        .await
        .unwrap();
    assert_eq!(
        fanout
            .queue
            .deduplicated
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the second copy of the next job is dropped"
    );
    drain(&store, &poster, &fanout, &ledger).await;
    let counts = counts(&poster);
    assert_eq!(counts.len(), 300);
    let twice = counts.values().filter(|n| **n == 2).count();
    assert_eq!(twice, 40, "exactly the retried page");
    assert!(counts.values().all(|n| *n <= 2));
}

#[tokio::test(start_paused = true)]
async fn throttled_posts_are_retried_with_backoff_and_never_counted_as_gone() {
    let store = FakeStore::with_ids(ids(5));
    let poster = FakePoster {
        throttle_first: 3,
        ..FakePoster::default()
    };
    let started = Instant::now();
    let delivery = broadcast_or_split(
        &store,
        &poster,
        &fanout(FanoutConfig::default()),
        &everyone("hi"),
        later(),
    )
    .await
    .unwrap();
    let Delivery::Direct(summary) = delivery else {
        panic!("{delivery:?}")
    };
    assert_eq!((summary.sent, summary.gone, summary.failed), (5, 0, 0));
    assert_eq!(store.ids().len(), 5, "nobody deleted");
    assert!(
        started.elapsed() >= Duration::from_millis(1),
        "it waited before retrying"
    );
    assert!(poster.throttled.lock().unwrap().values().all(|n| *n == 3));

    for attempt in 0..20 {
        let pause = backoff(attempt);
        assert!(
            pause > Duration::ZERO && pause <= Duration::from_secs(2),
            "{pause:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn ids_throttled_until_the_deadline_are_passed_to_the_next_job() {
    let store = FakeStore::with_ids(ids(30));
    let ledger = FakeLedger::default();
    let poster = FakePoster {
        throttle_first: usize::MAX,
        ..FakePoster::default()
    };
    let fanout = split(10, 1, 20);
    let job = SegmentJob::first("b1", 0, 1, &everyone("hi"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = run_job(&store, &poster, &fanout, &ledger, job, deadline)
        .await
        .unwrap();
    assert!(Instant::now() <= deadline);
    let next = outcome.next.expect("the segment goes on");
    assert_eq!(next.hop, 1);
    assert_eq!(next.pending.len(), 20, "the whole page, none lost");
    assert_eq!(next.scan, ScanPosition::After("c019".into()));
    assert_eq!(outcome.summary.unreached, 20);
    assert_eq!(
        fanout.queue.sent.lock().unwrap().as_slice(),
        std::slice::from_ref(&next)
    );

    // A job with pending ids posts only those, so no job posts more than a
    // page; the next one reads on.
    let poster = FakePoster::default();
    let outcome = run_job(&store, &poster, &fanout, &ledger, next, later())
        .await
        .unwrap();
    assert_eq!(outcome.summary.sent, 20);
    let next = outcome.next.unwrap();
    assert_eq!(
        (next.scan.clone(), next.pending.len()),
        (ScanPosition::After("c019".into()), 0)
    );
    let outcome = run_job(&store, &poster, &fanout, &ledger, next, later())
        .await
        .unwrap();
    assert_eq!(outcome.summary.sent, 10);
    assert_eq!(outcome.next, None, "the segment is done");
    assert_eq!(poster.received().len(), 30);
}

fn sqs_event(bodies: &[&str]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (n, body) in bodies.iter().enumerate() {
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("m{n}"));
        message.body = Some((*body).to_owned());
        event.records.push(message);
    }
    event
}

#[tokio::test]
async fn the_worker_reports_a_failed_job_and_every_one_after_it() {
    let store = FakeStore::with_ids(ids(3));
    let ledger = FakeLedger::default();
    let poster = FakePoster::default();
    let fanout = split(1, 1, 10);
    let job = SegmentJob::first("b2", 0, 1, &everyone("hi"));
    let good = serde_json::to_string(&job).unwrap();

    let response = routes::fanout_jobs(
        &store,
        &poster,
        &fanout,
        &ledger,
        sqs_event(&[&good]),
        later(),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(poster.received().len(), 3);

    let response = routes::fanout_jobs(
        &store,
        &poster,
        &fanout,
        &ledger,
        sqs_event(&["not a job", &good]),
        later(),
    )
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["m0", "m1"],
        "the second must not overtake the first"
    );
}

#[tokio::test]
async fn a_split_that_cannot_be_queued_tells_the_sender() {
    let store = FakeStore::with_ids(ids(20));
    let poster = FakePoster::default();
    let fanout = Fanout {
        queue: FakeQueue {
            fail: true,
            ..FakeQueue::default()
        },
        ..split(5, 2, 10)
    };
    let body = r#"{"action":"sendmessage","data":"hi"}"#;
    let response = routes::send_message(
        &store,
        &poster,
        &message_from("c003", Some(body)),
        &fanout,
        NO_HISTORY,
        None,
        later(),
    )
    .await;
    assert_eq!(response.status_code, 500);
    assert_eq!(
        poster.received(),
        BTreeMap::from([("c003".to_owned(), vec![NOT_QUEUED.to_owned()])])
    );
}

#[tokio::test]
async fn a_retry_after_the_deduplication_window_does_not_repeat_the_rest_of_the_segment() {
    let store = FakeStore::with_ids(ids(300));
    let ledger = FakeLedger::default();
    let poster = FakePoster::default();
    let fanout = split(100, 1, 40);
    broadcast_or_split(&store, &poster, &fanout, &everyone("hi"), later())
        .await
        .unwrap();
    // Queued its successor, then died before recording itself as done.
    let job = first_job_run_without_its_record(&store, &poster, &fanout).await;
    // The successor runs and the chain goes on meanwhile.
    let successor = fanout.queue.take().unwrap();
    run_job(&store, &poster, &fanout, &ledger, successor, later())
        .await
        .unwrap();
    // The retry comes after SQS's five minutes: SQS keeps the new copy.
    fanout.queue.seen_ids.lock().unwrap().clear();
    run_job(&store, &poster, &fanout, &ledger, job, later())
        .await
        .unwrap();
    drain(&store, &poster, &fanout, &ledger).await;
    let counts = counts(&poster);
    assert_eq!(counts.len(), 300);
    assert_eq!(
        counts.values().filter(|n| **n == 2).count(),
        40,
        "only the retried job's own page twice, not the rest of the segment"
    );
    assert!(counts.values().all(|n| *n <= 2));
    // A copy of a job that ran to the end does nothing at all.
    let copy = SegmentJob {
        hop: 1,
        ..SegmentJob::first(&fanout_id(&ledger), 0, 1, &everyone("hi"))
    };
    let outcome = run_job(&store, &poster, &fanout, &ledger, copy, later())
        .await
        .unwrap();
    assert_eq!((outcome.summary.sent, outcome.next), (0, None));
}

/// The broadcast id of the one broadcast `ledger` recorded jobs of.
fn fanout_id(ledger: &FakeLedger) -> String {
    let done = ledger.done.lock().unwrap();
    let id = done.iter().next().expect("a recorded job");
    id.rsplitn(3, '-').nth(2).unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_segment_throttled_job_after_job_gives_up_on_those_ids_and_ends() {
    use chat_contract::FANOUT_MAX_RETRY_HOPS;
    let store = FakeStore::with_ids(ids(30));
    let ledger = FakeLedger::default();
    let poster = FakePoster {
        throttle_first: usize::MAX,
        ..FakePoster::default()
    };
    let fanout = split(10, 1, 20);
    fanout
        .queue
        .send(&[SegmentJob::first("b9", 0, 1, &everyone("hi"))])
        .await
        .unwrap();
    let mut jobs = 0;
    let mut last = None;
    while let Some(job) = fanout.queue.take() {
        let deadline = Instant::now() + Duration::from_secs(10);
        last = Some(job.clone());
        run_job(&store, &poster, &fanout, &ledger, job, deadline)
            .await
            .unwrap();
        jobs += 1;
        assert!(jobs < 100, "the chain must end");
    }
    let last = last.unwrap();
    assert_eq!(last.totals.sent, 0);
    // Each page: read once, retried until the cap, then given up on.
    assert_eq!(jobs as u32, 2 * (1 + FANOUT_MAX_RETRY_HOPS));
    assert_eq!(last.totals.missed + last.pending.len(), 30);
}

#[test]
fn jobs_are_batched_by_bytes_as_sent_escapes_included() {
    use chat_contract::FANOUT_BATCH_BYTES;
    use chat_core::segments::batches;
    let text = "x".repeat(120 * 1024);
    let jobs: Vec<SegmentJob> = (0..10)
        .map(|n| SegmentJob::first("b1", n, 10, &everyone(&text)))
        .collect();
    let batched = batches(&jobs).unwrap();
    assert!(
        batched.len() >= 5,
        "two 120 KB jobs at most per batch: {}",
        batched.len()
    );
    for batch in &batched {
        let bytes: usize = batch.iter().map(|(_, body)| body.len()).sum();
        assert!(bytes <= FANOUT_BATCH_BYTES && batch.len() <= 10, "{bytes}");
    }
    let order: Vec<u32> = batched
        .iter()
        .flatten()
        .map(|(job, _)| job.segment)
        .collect();
    assert_eq!(
        order,
        (0..10).collect::<Vec<_>>(),
        "every job once, in order"
    );
    // Small jobs: ten to a batch.
    let small: Vec<SegmentJob> = (0..25)
        .map(|n| SegmentJob::first("b1", n, 25, &everyone("hi")))
        .collect();
    let sizes: Vec<usize> = batches(&small).unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    // Escaping counts: 50,000 control characters are 300,000 bytes of JSON.
    let escaped = SegmentJob::first("b1", 0, 1, &everyone(&"\u{1}".repeat(50_000)));
    let error = batches(&[escaped]).unwrap_err().to_string();
    assert!(error.contains("over SQS's 262144-byte limit"), "{error}");
}

#[test]
fn a_job_carries_the_whole_message_through_the_queue() {
    let message = Broadcast {
        room: Some("ops"),
        text: "hi",
        from: Some("ana"),
        sender: Some("c1="),
        at_ms: 1_795_469_508_123,
        seq: Some(41),
    };
    let job = SegmentJob::first("b1", 3, 10, &message);
    let queued: SegmentJob = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
    assert_eq!(queued.broadcast(), message);
    let framed: serde_json::Value =
        serde_json::from_str(&queued.broadcast().rendered().framed).unwrap();
    assert_eq!(
        framed,
        serde_json::json!({"type": "message", "room": "ops", "text": "hi", "from": "ana",
            "connectionId": "c1=", "at": 1_795_469_508_123_u64, "seq": 41})
    );
}
