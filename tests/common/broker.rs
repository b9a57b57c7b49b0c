//! Starts `lookout broker` on a free port and reads AMQP frames by hand for bad-input tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::PATIENCE;

/// A running `lookout broker`.
pub struct BrokerProcess {
    child: Child,
    pub amqp: SocketAddr,
    pub management: SocketAddr,
    /// The AMQPS listener, when started with `--tls.cert-file`.
    pub amqps: Option<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Starts the broker on a free port, keeping its data in `data_dir`, without telemetry,
    /// and waits until it listens.
    pub fn start(data_dir: &Path) -> BrokerProcess {
        BrokerProcess::start_with(data_dir, &["--otlp.endpoint", ""])
    }

    /// Starts the broker with `extra` flags.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> BrokerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["broker", "--log.format", "json", "--amqp.listen-address", "127.0.0.1:0"])
            .args(["--amqp.management-address", "127.0.0.1:0"])
            .arg("--amqp.data-dir")
            .arg(data_dir)
            .args(extra)
            // Export spans and logs quickly for the tests that read them back.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lookout broker");
        let tls = extra.contains(&"--tls.cert-file");
        let (log, addresses) = super::listeners(&mut child, if tls { 3 } else { 2 });
        BrokerProcess {
            child,
            amqp: addresses["amqp"],
            management: addresses["amqp-management"],
            amqps: addresses.get("amqps").copied(),
            log,
        }
    }

    /// Everything the broker logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Kills the broker with SIGKILL.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs a Python script with pika against the broker; returns (success, stdout + stderr).
    pub fn python(&self, script: &Path, args: &[&str]) -> (bool, String) {
        let out = self.python_command(script, args).output().expect("run python");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// The command that runs a Python script against the broker.
    pub fn python_command(&self, script: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(super::python());
        command.arg("-u").arg(script).arg(self.amqp.port().to_string()).args(args);
        command
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads frames from a raw connection until it closes (or `PATIENCE` passes): the frames
/// decoded, in order.
pub fn read_frames(stream: &mut TcpStream) -> Vec<amq_protocol::frame::AMQPFrame> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        match amq_protocol::frame::parse_frame(rest) {
            Ok((tail, frame)) => {
                frames.push(frame);
                rest = tail;
            }
            Err(_) => break,
        }
    }
    frames
}

/// Encodes frames as a client would send them.
pub fn encode(frames: &[amq_protocol::frame::AMQPFrame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let ctx = amq_protocol::frame::gen_frame(f)(amq_protocol::frame::WriteContext::from(Vec::new())).unwrap();
        out.extend(ctx.write);
    }
    out
}

/// Opens a connection by hand (header, start-ok as guest, tune-ok without heartbeats, open) up
/// to open-ok, and returns the stream.
pub fn handshake(addr: SocketAddr) -> TcpStream {
    handshake_with_heartbeat(addr, 0)
}

/// [`handshake`] with a heartbeat interval (seconds) in tune-ok.
pub fn handshake_with_heartbeat(addr: SocketAddr, heartbeat: u16) -> TcpStream {
    use amq_protocol::frame::AMQPFrame;
    use amq_protocol::protocol::{AMQPClass, connection};
    use std::io::Write;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(b"AMQP\x00\x00\x09\x01").unwrap();
    let mut pending = Vec::new();
    let mut next = |stream: &mut TcpStream| -> AMQPFrame {
        loop {
            if let Ok((rest, frame)) = amq_protocol::frame::parse_frame(&pending[..]) {
                let used = pending.len() - rest.len();
                pending.drain(..used);
                return frame;
            }
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the broker closed the connection during the handshake");
            pending.extend_from_slice(&buf[..n]);
        }
    };
    assert!(matches!(next(&mut stream), AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Start(_)))));
    let start_ok = connection::StartOk {
        client_properties: Default::default(),
        mechanism: "PLAIN".into(),
        response: "\0guest\0guest".into(),
        locale: "en_US".into(),
    };
    let conn = |m| AMQPFrame::Method(0, AMQPClass::Connection(m));
    stream.write_all(&encode(&[conn(connection::AMQPMethod::StartOk(start_ok))])).unwrap();
    let tune = match next(&mut stream) {
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Tune(t))) => t,
        other => panic!("expected tune, got {other:?}"),
    };
    let tune_ok = connection::TuneOk { channel_max: tune.channel_max, frame_max: tune.frame_max, heartbeat };
    let open = connection::Open { virtual_host: "/".into() };
    stream
        .write_all(&encode(&[conn(connection::AMQPMethod::TuneOk(tune_ok)), conn(connection::AMQPMethod::Open(open))]))
        .unwrap();
    assert!(matches!(
        next(&mut stream),
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_)))
    ));
    stream
}
