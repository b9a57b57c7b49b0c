//! What the socket-level fuzz targets share: one exchange of bytes with a server listening on
//! loopback in the same process.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How long a server may take to answer and close after the client has sent everything and
/// closed its side; longer counts as a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How the client ends an exchange.
#[derive(Clone, Copy)]
pub enum End {
    /// Close the sending side and read until the server closes; a server that does not close
    /// within ten seconds has hung (a finding).
    HalfClose,
    /// Keep the connection open and read until the server closes or is quiet this long (an
    /// HTTP server keeps an idle keep-alive connection, and drops a request whose client
    /// half-closes before it is answered).
    Quiet(Duration),
}

/// Sends `bytes` to `address`, ends as `end` says, and returns what the server answered.
pub fn exchange(address: SocketAddr, bytes: &[u8], end: End) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).expect("connect to the server under test");
    stream.set_write_timeout(Some(ANSWER_WITHIN)).expect("timeout");
    // The server may refuse and close before reading everything: a failed write is an answer.
    if let Err(e) = stream.write_all(bytes) {
        assert!(!is_timeout(&e), "the server stopped reading without closing the connection");
    }
    let mut answer = Vec::new();
    match end {
        End::HalfClose => {
            stream.set_read_timeout(Some(ANSWER_WITHIN)).expect("timeout");
            let _ = stream.shutdown(Shutdown::Write);
            if let Err(e) = stream.read_to_end(&mut answer) {
                assert!(!is_timeout(&e), "no close within {ANSWER_WITHIN:?} of the client's end of input");
            }
        }
        End::Quiet(quiet) => {
            stream.set_read_timeout(Some(quiet)).expect("timeout");
            let mut buf = [0u8; 16 << 10];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                answer.extend_from_slice(&buf[..n]);
            }
        }
    }
    answer
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
