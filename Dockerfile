# Lookout in a container: build with the Rust toolchain, run on a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin lookout

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/lookout --create-home lookout
COPY --from=build /src/target/release/lookout /usr/local/bin/lookout
COPY config/lookout.example.yaml /etc/lookout/lookout.yaml
USER lookout
WORKDIR /var/lib/lookout
# 3000: query APIs, UI, /metrics, health. 4317: OTLP/gRPC. 4318: OTLP/HTTP.
# With `demo`: 8080 gateway, 8081 demo admin, 5672 AMQP, 15672 broker management.
EXPOSE 3000 4317 4318
VOLUME ["/var/lib/lookout"]
ENTRYPOINT ["/usr/local/bin/lookout"]
CMD ["serve", "--config.file", "/etc/lookout/lookout.yaml", "--data-dir", "/var/lib/lookout/data"]
