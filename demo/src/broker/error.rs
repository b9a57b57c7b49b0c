//! Protocol errors as AMQP 0-9-1 reports them: a reply code, RabbitMQ-style text
//! (`NOT_FOUND - no queue 'x' in vhost '/'`), and whether it closes the channel (soft errors)
//! or the whole connection (hard errors).

/// What an error closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `channel.close`: the connection and its other channels go on.
    Channel,
    /// `connection.close`.
    Connection,
}

/// An AMQP error to report to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct AmqpError {
    /// The reply code (404, 406, 501, …).
    pub code: u16,
    /// `NAME - detail`.
    pub text: String,
    /// Channel or connection.
    pub scope: Scope,
}

impl AmqpError {
    fn new(code: u16, name: &str, detail: impl AsRef<str>, scope: Scope) -> AmqpError {
        AmqpError { code, text: format!("{name} - {}", detail.as_ref()), scope }
    }

    /// 403, closes the channel.
    pub fn access_refused(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(403, "ACCESS_REFUSED", detail, Scope::Channel)
    }

    /// 404, closes the channel.
    pub fn not_found(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(404, "NOT_FOUND", detail, Scope::Channel)
    }

    /// 405, closes the channel.
    pub fn resource_locked(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(405, "RESOURCE_LOCKED", detail, Scope::Channel)
    }

    /// 406, closes the channel.
    pub fn precondition(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(406, "PRECONDITION_FAILED", detail, Scope::Channel)
    }

    /// 501, closes the connection.
    pub fn frame_error(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(501, "FRAME_ERROR", detail, Scope::Connection)
    }

    /// 503, closes the connection.
    pub fn command_invalid(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(503, "COMMAND_INVALID", detail, Scope::Connection)
    }

    /// 504, closes the connection.
    pub fn channel(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(504, "CHANNEL_ERROR", detail, Scope::Connection)
    }

    /// 505, closes the connection.
    pub fn unexpected_frame(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(505, "UNEXPECTED_FRAME", detail, Scope::Connection)
    }

    /// 530, closes the connection.
    pub fn not_allowed(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(530, "NOT_ALLOWED", detail, Scope::Connection)
    }

    /// 540, closes the connection.
    pub fn not_implemented(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(540, "NOT_IMPLEMENTED", detail, Scope::Connection)
    }

    /// 541, closes the connection.
    pub fn internal(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(541, "INTERNAL_ERROR", detail, Scope::Connection)
    }

    /// 403 on the connection (failed login), as RabbitMQ closes it.
    pub fn login_refused(detail: impl AsRef<str>) -> AmqpError {
        AmqpError::new(403, "ACCESS_REFUSED", detail, Scope::Connection)
    }
}
