//! Frames on the socket: the protocol header, size-checked frame reads decoded by
//! `amq-protocol`, and frame encoding.

use std::sync::Arc;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame, WriteContext, gen_frame, parse_frame};
use amq_protocol::protocol::AMQPClass;
use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::ChannelId;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::AmqpError;
use super::state::Message;

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

/// What a connection's writer sends: a frame, or a message with its method (deliver, get-ok,
/// return), whose header and body frames the writer cuts straight from the shared message
/// rather than from copies.
pub enum Out {
    /// One frame.
    Frame(AMQPFrame),
    /// A method carrying content.
    Content {
        channel: ChannelId,
        method: AMQPClass,
        message: Arc<Message>,
        /// Properties to send instead of the message's (a new `traceparent`).
        properties: Option<AMQPProperties>,
        frame_max: usize,
    },
}

impl From<AMQPFrame> for Out {
    fn from(frame: AMQPFrame) -> Out {
        Out::Frame(frame)
    }
}

/// Appends what `out` stands for to `buf`.
pub fn encode_out(out: Out, buf: &mut Vec<u8>) {
    match out {
        Out::Frame(frame) => encode(&frame, buf),
        Out::Content { channel, method, message, properties, frame_max } => {
            encode(&AMQPFrame::Method(channel, method), buf);
            let properties = properties.unwrap_or_else(|| message.properties.clone());
            let header = AMQPContentHeader { class_id: 60, body_size: message.body.len() as u64, properties };
            encode(&AMQPFrame::Header(channel, header), buf);
            // A body frame's payload is the frame size less 8 bytes of framing.
            for part in message.body.chunks(frame_max.saturating_sub(FRAME_OVERHEAD).max(1)) {
                buf.push(3);
                buf.extend_from_slice(&channel.to_be_bytes());
                buf.extend_from_slice(&(part.len() as u32).to_be_bytes());
                buf.extend_from_slice(part);
                buf.push(FRAME_END);
            }
        }
    }
}

/// Appends a frame's bytes to `buf`.
pub fn encode(frame: &AMQPFrame, buf: &mut Vec<u8>) {
    let bytes = std::mem::take(buf);
    if let Ok(ctx) = gen_frame(frame)(WriteContext::from(bytes)) {
        *buf = ctx.write;
    }
}

#[cfg(test)]
mod tests {
    use amq_protocol::protocol::basic;

    use super::*;

    #[test]
    fn content_is_cut_into_the_same_frames_amq_protocol_writes() {
        let message = Arc::new(Message {
            exchange: "x".into(),
            routing_key: "k".into(),
            properties: AMQPProperties::default().with_delivery_mode(2),
            body: (0..10_000u32).map(|i| i as u8).collect(),
            trace: None,
        });
        let deliver = basic::Deliver {
            consumer_tag: "c".into(),
            delivery_tag: 7,
            redelivered: false,
            exchange: "x".into(),
            routing_key: "k".into(),
        };
        let method = AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver));
        let mut ours = Vec::new();
        let content = Out::Content {
            channel: 3,
            method: method.clone(),
            message: Arc::clone(&message),
            properties: None,
            frame_max: 4096,
        };
        encode_out(content, &mut ours);
        let mut theirs = Vec::new();
        encode(&AMQPFrame::Method(3, method), &mut theirs);
        let header = AMQPContentHeader { class_id: 60, body_size: 10_000, properties: message.properties.clone() };
        encode(&AMQPFrame::Header(3, header), &mut theirs);
        for part in message.body.chunks(4096 - FRAME_OVERHEAD) {
            encode(&AMQPFrame::Body(3, part.to_vec()), &mut theirs);
        }
        assert_eq!(ours, theirs);
    }
}
