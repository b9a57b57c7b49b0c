//! The broker's AMQP 0-9-1 connection handling over a real socket: a client that opens the
//! connection properly (protocol header, start-ok, tune-ok, open, as pika sends them) and then
//! sends the input as frames. Whatever the frames say, the broker must answer with a protocol
//! error and close, never panic or hang, and keep serving other connections.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lookout_demo::broker::{Broker, BrokerConfig};
use tokio_util::sync::CancellationToken;

/// Protocol header, `connection.start-ok` (PLAIN guest/guest), `tune-ok` (no heartbeat) and
/// `connection.open` for vhost `/`, as pika 1.4 encodes them (`fuzz/seeds.py`).
const HANDSHAKE: &[u8] = include_bytes!("../amqp-handshake.bin");

struct Fixture {
    address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let config = BrokerConfig { data_dir: Some(dir.path().to_owned()), ..BrokerConfig::default() };
        let broker = Broker::open(config).expect("broker");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("listen");
        let address = listener.local_addr().expect("address");
        runtime.spawn(broker.serve(listener, CancellationToken::new()));
        // The handshake must be accepted, or every input stops at it: channel.open gets open-ok.
        let mut opened = HANDSHAKE.to_vec();
        opened.extend_from_slice(&[1, 0, 1, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE]);
        let answer = lookout_fuzz::exchange(address, &opened, lookout_fuzz::End::HalfClose);
        assert!(answer.windows(4).any(|w| w == [0, 20, 0, 11]), "the broker did not open a channel: {answer:?}");
        Fixture { address, _runtime: runtime, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut bytes = HANDSHAKE.to_vec();
    bytes.extend_from_slice(data);
    lookout_fuzz::exchange(f.address, &bytes, lookout_fuzz::End::HalfClose);
});
