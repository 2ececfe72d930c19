# syntax=docker/dockerfile:1
# Build: the same release build as CI's (`cargo build --release --locked --bin payment-center`).
# SQLite and libpq are compiled from source into the binary, but the bundled libpq does its TLS
# with the system's OpenSSL (pq-src -> openssl-sys, found with pkg-config), so the builder needs
# a C compiler, pkg-config and libssl-dev besides Rust: rust:1-bookworm (buildpack-deps) has all.
FROM rust:1-bookworm AS build
WORKDIR /src

# 1. The dependencies alone, in a layer of their own: it is built again only when Cargo.toml or
#    Cargo.lock change, not at every change to the code. The crate's own targets are stand-ins
#    here (Cargo.toml names src/lib.rs, src/main.rs and tests/api/main.rs), removed afterwards
#    with `cargo clean -p`, so that nothing of them can be taken for the real build.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/api \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs tests/api/main.rs \
 && cargo build --release --locked --bin payment-center \
 && cargo clean --release --package payment-center \
 && rm -rf src

# 2. The crate: migrations/ (embedded by diesel's embed_migrations!), the cashier's assets/ and
#    openapi.json (both include_str!) are read at compile time, so they come before the build.
COPY migrations migrations
COPY assets assets
COPY openapi.json ./
COPY src src
# touch: COPY keeps the files' times, which may be older than the stand-ins' build.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin payment-center \
 && cp target/release/payment-center /payment-center

# Run: a slim Debian with the OpenSSL the binary links (libssl3: libpq's TLS to Postgres), CA
# certificates (for `sslrootcert=system` to a managed Postgres; WeChat's HTTPS uses the roots
# built into the binary) and curl (the health checks).
FROM debian:bookworm-slim
# Debian's security updates replace exact versions: pinning them would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 payment \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/payment-center --create-home payment
COPY --from=build /payment-center /usr/local/bin/payment-center
USER 10001:10001
# On Postgres (DATABASE_URL) the service keeps nothing on its own disk. Without DATABASE_URL it
# writes the SQLite file payment-center.db here: mount a volume on this directory to keep it.
WORKDIR /var/lib/payment-center
ENV BIND_ADDR=0.0.0.0:8080 RUST_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["payment-center"]
CMD ["serve"]
