//! The microservice demo: an AMQP 0-9-1 broker, a load-balancing API gateway, demo services and
//! a traffic generator, all exporting OTLP to Lookout like any outside application
//! (issues 8 and 9). It depends on nothing of Lookout.
//!
//! Built so far: the broker (`broker`), which `lookout broker` starts, and the gateway
//! (`gateway`), which `lookout gateway` starts.

pub mod broker;
pub mod gateway;
mod random;
pub mod shop;
pub mod telemetry;
