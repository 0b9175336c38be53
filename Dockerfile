# Multi-stage build: compile in the Rust image, run as a non-root user in a slim Debian.
# Configuration is read from /etc/meshgate (mount conf/ there: meshgate.toml + domains/).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin meshgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin meshgate
COPY --from=build /src/target/release/meshgate /usr/local/bin/meshgate
COPY conf /etc/meshgate
USER 10001
EXPOSE 5433
ENV MESHGATE__SERVER__LISTEN=0.0.0.0:5433
ENTRYPOINT ["/usr/local/bin/meshgate"]
CMD ["serve", "--config", "/etc/meshgate/meshgate.toml"]
