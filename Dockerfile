# syntax=docker/dockerfile:1
# Build: the same release build as `cargo run --release` (libpq and SQLite are bundled, so the
# builder needs only the Rust toolchain and a C compiler, both in the rust image).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin payment-center \
 && cp target/release/payment-center /payment-center

# Run: a slim Debian with CA certificates (for api.mch.weixin.qq.com) and curl (health check).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/payment-center --create-home payment
COPY --from=build /payment-center /usr/local/bin/payment-center
USER payment
WORKDIR /var/lib/payment-center
ENV BIND_ADDR=0.0.0.0:8080 RUST_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["payment-center"]
CMD ["serve"]
