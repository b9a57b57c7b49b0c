//! Frames on the socket: the protocol header, size-checked frame reads decoded by
//! `amq-protocol`, and frame encoding.

use amq_protocol::frame::{AMQPFrame, WriteContext, gen_frame, parse_frame};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::AmqpError;

/// What a 0-9-1 client sends first.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// Bytes of framing around a frame's payload: type, channel, size, and the end octet.
pub const FRAME_OVERHEAD: usize = 8;

/// The frame-end octet.
const FRAME_END: u8 = 0xCE;

/// Why reading a frame stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the socket (or it failed).
    Closed,
    /// The bytes are not a valid frame.
    Protocol(AmqpError),
}

/// Reads one frame, refusing one larger than `frame_max` before reading its payload.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, frame_max: usize) -> Result<AMQPFrame, ReadError> {
    let mut head = [0u8; 7];
    r.read_exact(&mut head).await.map_err(|_| ReadError::Closed)?;
    let kind = head[0];
    if !matches!(kind, 1 | 2 | 3 | 8) {
        return Err(ReadError::Protocol(AmqpError::frame_error(format!("unknown frame type {kind}"))));
    }
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    if size.saturating_add(FRAME_OVERHEAD) > frame_max {
        return Err(ReadError::Protocol(AmqpError::frame_error(format!(
            "frame size {} larger than negotiated maximum {frame_max}",
            size + FRAME_OVERHEAD
        ))));
    }
    let mut frame = vec![0u8; 7 + size + 1];
    frame[..7].copy_from_slice(&head);
    r.read_exact(&mut frame[7..]).await.map_err(|_| ReadError::Closed)?;
    if frame.last() != Some(&FRAME_END) {
        return Err(ReadError::Protocol(AmqpError::frame_error("frame end octet missing")));
    }
    match parse_frame(&frame[..]) {
        Ok((_, frame)) => Ok(frame),
        Err(_) => Err(ReadError::Protocol(AmqpError::frame_error(format!("malformed frame of type {kind}")))),
    }
}

/// Appends a frame's bytes to `buf`.
pub fn encode(frame: &AMQPFrame, buf: &mut Vec<u8>) {
    let bytes = std::mem::take(buf);
    if let Ok(ctx) = gen_frame(frame)(WriteContext::from(bytes)) {
        *buf = ctx.write;
    }
}
