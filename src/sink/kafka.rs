//! The Kafka sink: at least once, every event keyed by its stable id.
//!
//! The writer commits a checkpoint only after `flush` returns, so `flush` waits for the
//! broker's delivery report of every event produced since the last one (idempotent producer,
//! `acks=all`). Any event not acknowledged fails the flush: the checkpoint stays, and the
//! stream fetches its page again and sends it again, events the broker already had included.
//! A broker cannot be asked to forget, so this is at least once, not exactly once; what makes
//! the repeats harmless is that a repeated event carries the same key (its id), and that at
//! most the pages in flight are repeated (one per stream per crash or outage). Kafka
//! transactions could hide the repeats only from read-committed consumers, and would need
//! the checkpoint and the transaction to commit as one, which SQLite and a broker cannot do.
//!
//! The producer is librdkafka's, driven from the writer's own thread (`BaseProducer`: no
//! thread of ours, delivery reports are served by `poll` in `flush`). Each message is one
//! line without its newline; its key is the event's id as the line holds it, and the headers
//! `tenant` and `stream` come from the batch, so a consumer can route without parsing.
//!
//! librdkafka's log lines go to `tracing` under the target `librdkafka`; its configuration is
//! never logged (`debug=conf` is refused at load), and errors name the brokers, never the
//! properties.

use super::SinkError;
use crate::config::{KafkaConfig, KafkaValue};
use crate::render::Format;
use crate::state::StreamKey;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Time beyond `delivery_timeout` that `flush` waits for the reports librdkafka owes: every
/// message has failed or succeeded by then, so waiting longer would only hide a stuck client.
const REPORT_GRACE: Duration = Duration::from_secs(5);

/// The producer settings the sink's guarantee rests on, set before `[sink.kafka]` (which may
/// not weaken the first two: see `config::validate`).
const DEFAULTS: [(&str, &str); 5] = [
    ("enable.idempotence", "true"),
    ("acks", "all"),
    // Events arrive a page at a time: a few ms gather a page into few requests.
    ("linger.ms", "5"),
    // Built into librdkafka (no system library); JSON lines compress about 5x.
    ("compression.type", "lz4"),
    ("client.id", "mimecast-collector"),
];

/// Said with a failure for an event over a size limit. The stream then fetches and sends the
/// same page again, so it stays on that event until a limit is raised: loud and stuck rather
/// than an event dropped.
const TOO_LARGE: &str = "an event is larger than a size limit: the producer's message.max.bytes \
(default 1000000; set it in [sink.kafka]) or the topic's max.message.bytes on the brokers. The \
stream sends this page again until the limits allow the event";

/// How a failed event is told: with the limits to raise when it was too large.
fn failure_text(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => format!("{e}: {TOO_LARGE}"),
        _ => e.to_string(),
    }
}

/// What librdkafka reported, shared with its callbacks.
#[derive(Default)]
struct Reports {
    /// Messages are sent tagged with the epoch; reports of an older epoch (messages purged or
    /// abandoned by a failed flush) no longer count.
    epoch: AtomicUsize,
    acked: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
    /// The client's last error (a broker unreachable, authentication failed), for messages.
    last_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// librdkafka's callbacks: delivery reports, client errors and log lines.
pub struct Context {
    reports: Reports,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // The daemon reports a broker outage itself (the poll fails naming it), so librdkafka's
        // own errors are warnings here; its chatter is debug.
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Notice => {
                tracing::info!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, "{message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", error = %error, "{reason}");
        *lock(&self.reports.last_error) = Some(reason.to_string());
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, epoch: usize) {
        let r = &self.reports;
        if epoch != r.epoch.load(Ordering::Acquire) {
            return;
        }
        match result {
            Ok(_) => {
                r.acked.fetch_add(1, Ordering::AcqRel);
            }
            Err((e, _)) => {
                r.failed.fetch_add(1, Ordering::AcqRel);
                lock(&r.first_failure).get_or_insert_with(|| failure_text(e));
            }
        }
    }
}

/// The client configuration: the sink's defaults, then `[sink.kafka]`, then what the sink's
/// own keys decide.
fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in DEFAULTS {
        c.set(k, v);
    }
    for (k, v) in &cfg.properties {
        c.set(k, KafkaValue::expose(v));
    }
    c.set("bootstrap.servers", cfg.brokers.join(","));
    c.set(
        "message.timeout.ms",
        cfg.delivery_timeout.as_millis().to_string(),
    );
    c.set_log_level(RDKafkaLogLevel::Info);
    c
}

fn create(cfg: &KafkaConfig) -> Result<BaseProducer<Context>, SinkError> {
    client_config(cfg)
        .create_with_context(Context {
            reports: Reports::default(),
        })
        .map_err(|e| SinkError::Kafka {
            brokers: cfg.brokers.join(","),
            message: match e {
                // The value may be a secret; the name is enough (and was checked at load).
                KafkaError::ClientConfig(_, _, key, _) => {
                    format!("cannot create the producer: property {key:?} refused")
                }
                other => format!("cannot create the producer: {other}"),
            },
        })
}

pub struct KafkaSink {
    cfg: KafkaConfig,
    format: Format,
    producer: BaseProducer<Context>,
    /// Messages handed to librdkafka in this epoch.
    sent: u64,
}

impl KafkaSink {
    /// Creates the producer. It connects lazily: a broker that is down now is an error at the
    /// first flush (the stream retries), not at start-up.
    pub fn open(cfg: &KafkaConfig, format: Format) -> Result<KafkaSink, SinkError> {
        Ok(KafkaSink {
            producer: create(cfg)?,
            cfg: cfg.clone(),
            format,
            sent: 0,
        })
    }

    fn reports(&self) -> &Reports {
        &self.producer.context().reports
    }

    fn error(&self, message: String) -> SinkError {
        SinkError::Kafka {
            brokers: self.cfg.brokers.join(","),
            message,
        }
    }

    /// Produces every line of `bytes` as one message.
    pub fn write(&mut self, bytes: &[u8], origin: &StreamKey) -> Result<(), SinkError> {
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: "tenant",
                value: Some(origin.tenant.as_str()),
            })
            .insert(Header {
                key: "stream",
                value: Some(origin.stream.as_str()),
            });
        let epoch = self.reports().epoch.load(Ordering::Acquire);
        let deadline = Instant::now() + self.cfg.delivery_timeout;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let id = event_id(line, self.format);
            if id.is_none() {
                tracing::warn!(tenant = %origin.tenant, stream = %origin.stream, "an event line without an id is sent without a key");
            }
            let mut record = BaseRecord::with_opaque_to(&self.cfg.topic, epoch)
                .payload(line)
                .headers(headers.clone());
            if let Some(id) = id.as_deref() {
                record = record.key(id);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    // librdkafka's queue is full: serve reports until it drains.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < deadline =>
                    {
                        record = back;
                        self.producer.poll(Duration::from_millis(50));
                    }
                    Err((e, _)) => {
                        return Err(self.error(format!(
                            "cannot queue an event of {} bytes: {}",
                            line.len(),
                            failure_text(&e)
                        )));
                    }
                }
            }
            self.sent += 1;
            if self.sent.is_multiple_of(1024) {
                self.producer.poll(Duration::ZERO);
            }
        }
        Ok(())
    }

    /// Waits until the brokers have acknowledged every event produced since the last flush.
    /// Any event failed or not acknowledged in time fails the whole flush.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.cfg.delivery_timeout + REPORT_GRACE;
        let sent = self.sent;
        loop {
            let r = self.reports();
            let done = r.acked.load(Ordering::Acquire) + r.failed.load(Ordering::Acquire);
            if done >= sent {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                let acked = r.acked.load(Ordering::Acquire);
                let message = format!(
                    "{} of {sent} events not acknowledged within {}s{}",
                    sent - acked,
                    (self.cfg.delivery_timeout + REPORT_GRACE).as_secs(),
                    self.last_error_note()
                );
                self.abandon();
                return Err(self.error(message));
            }
            self.producer
                // librdkafka's poll waits its whole timeout: short steps keep a flush's
                // latency close to the brokers' own.
                .poll((deadline - now).min(Duration::from_millis(5)));
        }
        let r = self.reports();
        let failed = r.failed.load(Ordering::Acquire);
        if failed > 0 {
            let first = lock(&r.first_failure).clone().unwrap_or_default();
            let message = format!(
                "{failed} of {sent} events not acknowledged: {first}{}",
                self.last_error_note()
            );
            self.abandon();
            return Err(self.error(message));
        }
        self.next_epoch();
        // The brokers are back: an error from the outage must not be quoted by a later one.
        *lock(&self.reports().last_error) = None;
        Ok(())
    }

    fn last_error_note(&self) -> String {
        match lock(&self.reports().last_error).as_deref() {
            Some(e) => format!(" (last client error: {e})"),
            None => String::new(),
        }
    }

    /// After a failure: what is still queued is dropped (the stream sends its page again),
    /// and a producer librdkafka has declared unusable (a fatal idempotence error) is
    /// replaced, so the next write starts clean.
    fn abandon(&mut self) {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        self.producer.poll(Duration::ZERO);
        self.next_epoch();
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            tracing::warn!(error = %code, %reason, "the Kafka producer failed for good; starting a new one");
            match create(&self.cfg) {
                Ok(p) => self.producer = p,
                Err(e) => tracing::error!(error = %e, "cannot start a new Kafka producer"),
            }
        }
    }

    fn next_epoch(&mut self) {
        let r = self.reports();
        r.epoch.fetch_add(1, Ordering::AcqRel);
        r.acked.store(0, Ordering::Release);
        r.failed.store(0, Ordering::Release);
        *lock(&r.first_failure) = None;
        self.sent = 0;
    }

    /// A failed commit: nothing sent can be taken back; what is not yet sent is dropped.
    pub fn rollback(&mut self) {
        if self.sent > 0 {
            self.abandon();
        }
    }
}

/// Asks the brokers for the topic's metadata (`check`): reachable, authenticated, the topic
/// known. Returns the number of partitions.
pub fn probe(cfg: &KafkaConfig, timeout: Duration) -> Result<usize, String> {
    let producer = create(cfg).map_err(|e| e.to_string())?;
    let metadata = producer
        .client()
        .fetch_metadata(Some(cfg.topic.as_str()), timeout)
        .map_err(|e| {
            let last = lock(&producer.context().reports.last_error).clone();
            match last {
                Some(l) => format!("{e} (last client error: {l})"),
                None => e.to_string(),
            }
        })?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == cfg.topic)
        .ok_or_else(|| format!("the brokers did not describe topic {:?}", cfg.topic))?;
    if let Some(e) = topic.error() {
        return Err(format!(
            "topic {:?}: {}",
            cfg.topic,
            RDKafkaErrorCode::from(e)
        ));
    }
    Ok(topic.partitions().len())
}

/// The event's stable id as the line holds it: native `id`, OCSF `metadata.uid`, ECS
/// `event.id`. Read from the rendered line rather than passed along with it, so the batch
/// and the file and stdout paths stay as they are.
pub fn event_id(line: &[u8], format: Format) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Native<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
    }
    #[derive(serde::Deserialize)]
    struct Ocsf<'a> {
        #[serde(borrow)]
        metadata: Uid<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Uid<'a> {
        #[serde(borrow)]
        uid: Cow<'a, str>,
    }
    #[derive(serde::Deserialize)]
    struct Ecs<'a> {
        #[serde(borrow)]
        event: EcsEvent<'a>,
    }
    #[derive(serde::Deserialize)]
    struct EcsEvent<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
    }
    match format {
        Format::Native => serde_json::from_slice::<Native>(line).ok().map(|n| n.id),
        Format::Ocsf => serde_json::from_slice::<Ocsf>(line)
            .ok()
            .map(|o| o.metadata.uid),
        Format::Ecs => serde_json::from_slice::<Ecs>(line).ok().map(|e| e.event.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::StreamKind;
    use crate::event::Context;
    use serde_json::value::RawValue;

    /// The key is the id each rendering writes, for every format.
    #[test]
    fn the_key_is_the_id_of_every_format() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"id":"rec-\"1\"","url":"https://x.example/","date":"2026-11-20T08:00:00+0000","action":"block"}"#,
        )
        .unwrap();
        let ctx = Context {
            tenant: "acme",
            stream: StreamKind::TtpUrl.name(),
            collected_at: time::macros::datetime!(2026-11-23 10:00 UTC),
            include_raw: true,
        };
        let event = crate::normalize::normalize(StreamKind::TtpUrl, &ctx, &raw);
        for format in Format::ALL {
            let mut line = Vec::new();
            format.write(StreamKind::TtpUrl, &event, &mut line);
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            assert_eq!(
                event_id(line, format).as_deref(),
                Some(&*event.id),
                "{}",
                format.name()
            );
        }
        assert_eq!(event_id(b"{\"other\":1}", Format::Native), None);
    }

    /// An event over message.max.bytes is refused by the client itself: the error says which
    /// limits to raise, and the sink takes the next page once they allow it.
    #[test]
    fn an_event_over_the_size_limit_names_the_limits_to_raise() {
        let mut cfg = KafkaConfig {
            // Never reached: the client checks the size before any broker is asked.
            brokers: vec!["127.0.0.1:9".into()],
            topic: "mimecast".into(),
            delivery_timeout: Duration::from_secs(5),
            properties: Default::default(),
        };
        cfg.properties
            .insert("message.max.bytes".into(), KafkaValue::Plain("2000".into()));
        let mut sink = KafkaSink::open(&cfg, Format::Native).unwrap();
        let origin = StreamKey::new("acme", "ttp_url", "");
        let big = format!("{{\"id\":\"a\",\"pad\":\"{}\"}}\n", "x".repeat(3000));
        let e = sink.write(big.as_bytes(), &origin).unwrap_err().to_string();
        assert!(e.contains("message.max.bytes"), "{e}");
        assert!(e.contains("max.message.bytes"), "{e}");
        assert!(e.contains("3019 bytes"), "{e}");
        sink.rollback();
        // A small event is queued (and would be sent once a broker answers).
        sink.write(b"{\"id\":\"b\"}\n", &origin).unwrap();
    }
}
