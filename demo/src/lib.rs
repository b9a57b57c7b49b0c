//! The microservice demo: an AMQP 0-9-1 broker, a load-balancing API gateway, demo services and
//! a traffic generator, all exporting OTLP to Lookout like any outside application
//! (issues 8 and 9). It depends on nothing of Lookout.
//!
//! Empty for now; `lookout demo` does not exist yet.
