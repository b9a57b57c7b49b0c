//! What survives a restart, as in RabbitMQ: durable exchanges, durable queues and the bindings
//! between them (`definitions.json`, rewritten whole on change), and each durable queue's
//! persistent messages (delivery mode 2) in an append-only log of its own.
//!
//! # Queue log format
//! `queues/<hex of the queue name>.log`: records of `[u32 BE length][u32 BE crc32][payload]`,
//! the payload a postcard-encoded [`Record`]: a message entering the queue (`Publish`, with the
//! queue's own sequence number) or leaving it (`Settle`: acknowledged, rejected, expired, purged
//! or dead-lettered). Replay keeps the publishes not settled, in order; a torn or corrupt tail
//! (a crash mid-write) ends the replay and is cut off. A log whose settled records outnumber
//! the live ones is rewritten with the live ones only (to a temporary file, then renamed).
//!
//! Records are written with one `write` call each before the publisher's confirm goes out, so
//! a confirmed message survives `kill -9` of the broker (the OS holds it); the files are
//! fsynced every [`SYNC_INTERVAL`] for power loss, as RabbitMQ batches its fsyncs.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::FieldTable;
use serde::{Deserialize, Serialize};

/// How often written logs are fsynced.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);

/// Largest record accepted when reading back (a message is at most 128 MiB).
const MAX_RECORD: usize = 130 << 20;

/// The durable definitions.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definitions {
    pub exchanges: Vec<ExchangeDef>,
    pub queues: Vec<QueueDef>,
    pub bindings: Vec<BindingDef>,
}

/// A durable exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeDef {
    pub name: String,
    pub kind: String,
    pub auto_delete: bool,
    pub internal: bool,
}

/// A durable queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueDef {
    pub name: String,
    pub auto_delete: bool,
    pub arguments: FieldTable,
}

/// A binding of a durable queue to a durable exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindingDef {
    pub exchange: String,
    pub queue: String,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// One record of a queue log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A persistent message entered the queue.
    Publish { id: u64, exchange: String, routing_key: String, properties: Box<AMQPProperties>, body: Vec<u8> },
    /// The message `id` left the queue.
    Settle { id: u64 },
}

/// A message read back from a queue log.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: u64,
    pub exchange: String,
    pub routing_key: String,
    pub properties: AMQPProperties,
    pub body: Vec<u8>,
}

/// One durable queue's open log.
#[derive(Debug)]
struct QueueLog {
    file: File,
    path: PathBuf,
    live: u64,
    settled: u64,
    dirty: bool,
}

/// The broker's files.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    logs: HashMap<String, QueueLog>,
}

/// What a store held when opened.
pub struct Recovered {
    pub definitions: Definitions,
    /// Per durable queue, its live messages in order.
    pub messages: BTreeMap<String, Vec<Stored>>,
}

impl Store {
    /// Opens (creating) the store in `dir` and reads back what it holds.
    pub fn open(dir: &Path) -> io::Result<(Store, Recovered)> {
        std::fs::create_dir_all(dir.join("queues"))?;
        let definitions = match std::fs::read(dir.join("definitions.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("definitions.json: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Definitions::default(),
            Err(e) => return Err(e),
        };
        let mut store = Store { dir: dir.to_owned(), logs: HashMap::new() };
        let mut messages = BTreeMap::new();
        for q in &definitions.queues {
            let path = store.log_path(&q.name);
            let live = read_log(&path)?;
            let mut log = QueueLog::open(&path)?;
            log.live = live.len() as u64;
            store.logs.insert(q.name.clone(), log);
            messages.insert(q.name.clone(), live);
        }
        // Logs of queues no longer defined (deleted while the definitions were being written).
        if let Ok(entries) = std::fs::read_dir(dir.join("queues")) {
            let known: Vec<PathBuf> = definitions.queues.iter().map(|q| store.log_path(&q.name)).collect();
            for e in entries.flatten() {
                if !known.contains(&e.path()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok((store, Recovered { definitions, messages }))
    }

    fn log_path(&self, queue: &str) -> PathBuf {
        self.dir.join("queues").join(format!("{}.log", hex::encode(queue.as_bytes())))
    }

    /// Writes the definitions (to a temporary file, then renamed over the old one).
    pub fn save_definitions(&self, definitions: &Definitions) -> io::Result<()> {
        let tmp = self.dir.join("definitions.json.tmp");
        let bytes = serde_json::to_vec_pretty(definitions).map_err(io::Error::other)?;
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join("definitions.json"))?;
        Ok(())
    }

    /// Starts (or keeps) the log of a durable queue.
    pub fn add_queue(&mut self, queue: &str) -> io::Result<()> {
        if !self.logs.contains_key(queue) {
            let log = QueueLog::open(&self.log_path(queue))?;
            self.logs.insert(queue.to_owned(), log);
        }
        Ok(())
    }

    /// Removes a queue's log.
    pub fn remove_queue(&mut self, queue: &str) {
        if let Some(log) = self.logs.remove(queue) {
            let _ = std::fs::remove_file(&log.path);
        }
    }

    /// Records a persistent message entering `queue`.
    pub fn publish(&mut self, queue: &str, record: &Record) -> io::Result<()> {
        let Some(log) = self.logs.get_mut(queue) else { return Ok(()) };
        log.append(record)?;
        log.live += 1;
        Ok(())
    }

    /// Records message `id` leaving `queue`; returns whether the log should be compacted.
    pub fn settle(&mut self, queue: &str, id: u64) -> io::Result<bool> {
        let Some(log) = self.logs.get_mut(queue) else { return Ok(false) };
        log.append(&Record::Settle { id })?;
        log.live = log.live.saturating_sub(1);
        log.settled += 1;
        Ok(log.settled > 1024 && log.settled > log.live)
    }

    /// Rewrites `queue`'s log with only `live` (its messages still in the queue or unacked).
    pub fn compact(&mut self, queue: &str, live: &[Record]) -> io::Result<()> {
        let Some(log) = self.logs.get_mut(queue) else { return Ok(()) };
        let tmp = log.path.with_extension("log.tmp");
        {
            let mut f = File::create(&tmp)?;
            let mut buf = Vec::new();
            for r in live {
                frame(r, &mut buf)?;
            }
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &log.path)?;
        *log = QueueLog::open(&log.path)?;
        log.live = live.len() as u64;
        Ok(())
    }

    /// Handles to every log written since the last call, for fsync.
    pub fn dirty_files(&mut self) -> Vec<File> {
        self.logs
            .values_mut()
            .filter(|l| l.dirty)
            .filter_map(|l| {
                l.dirty = false;
                l.file.try_clone().ok()
            })
            .collect()
    }
}

impl QueueLog {
    fn open(path: &Path) -> io::Result<QueueLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(QueueLog { file, path: path.to_owned(), live: 0, settled: 0, dirty: false })
    }

    fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut buf = Vec::new();
        frame(record, &mut buf)?;
        self.file.write_all(&buf)?;
        self.dirty = true;
        Ok(())
    }
}

/// Appends one framed record to `buf`.
fn frame(record: &Record, buf: &mut Vec<u8>) -> io::Result<()> {
    let payload = postcard::to_stdvec(record).map_err(io::Error::other)?;
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

/// Replays a queue log: the messages published and not settled, in order. A torn or corrupt
/// tail is cut off the file.
fn read_log(path: &Path) -> io::Result<Vec<Stored>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let mut live: BTreeMap<u64, Stored> = BTreeMap::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let crc = u32::from_be_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let end = at + 8 + len;
        if len > MAX_RECORD || end > bytes.len() || crc32fast::hash(&bytes[at + 8..end]) != crc {
            break;
        }
        match postcard::from_bytes::<Record>(&bytes[at + 8..end]) {
            Ok(Record::Publish { id, exchange, routing_key, properties, body }) => {
                live.insert(id, Stored { id, exchange, routing_key, properties: *properties, body });
            }
            Ok(Record::Settle { id }) => {
                live.remove(&id);
            }
            Err(_) => break,
        }
        at = end;
    }
    if at < bytes.len() {
        tracing::warn!(path = %path.display(), kept = at, dropped = bytes.len() - at, "cutting a torn queue log tail");
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(at as u64)?;
    }
    Ok(live.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(id: u64, body: &str) -> Record {
        Record::Publish {
            id,
            exchange: String::new(),
            routing_key: "q".into(),
            properties: Box::new(AMQPProperties::default().with_delivery_mode(2)),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Defines the durable queue `q` in `store`.
    fn define_queue(store: &mut Store) {
        store.add_queue("q").unwrap();
        let q = QueueDef { name: "q".into(), auto_delete: false, arguments: FieldTable::default() };
        store.save_definitions(&Definitions { queues: vec![q], ..Definitions::default() }).unwrap();
    }

    #[test]
    fn replay_keeps_unsettled_messages_in_order_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, recovered) = Store::open(dir.path()).unwrap();
        assert!(recovered.messages.is_empty());
        define_queue(&mut store);
        for (id, body) in [(1, "a"), (2, "b"), (3, "c")] {
            store.publish("q", &publish(id, body)).unwrap();
        }
        store.settle("q", 2).unwrap();
        drop(store);
        // Half a record at the end, as a crash mid-write leaves it.
        let path = dir.path().join("queues").join(format!("{}.log", hex::encode("q")));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0, 0, 0, 40, 1, 2]).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let (_, recovered) = Store::open(dir.path()).unwrap();
        let bodies: Vec<&[u8]> = recovered.messages["q"].iter().map(|m| m.body.as_slice()).collect();
        assert_eq!(bodies, [b"a".as_slice(), b"c".as_slice()]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len - 6);
    }

    #[test]
    fn compaction_keeps_only_the_live_messages() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path()).unwrap();
        define_queue(&mut store);
        for id in 0..10 {
            store.publish("q", &publish(id, "x")).unwrap();
        }
        store.compact("q", &[publish(9, "x")]).unwrap();
        let (_, recovered) = Store::open(dir.path()).unwrap();
        assert_eq!(recovered.messages["q"].iter().map(|m| m.id).collect::<Vec<_>>(), [9]);
    }
}
