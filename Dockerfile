# Build: a release binary of the workspace. Run: a slim image with only that binary, as an
# unprivileged user that owns nothing but its data directory.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin guanxi

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so a volume mounted at /var/lib/guanxi can be given to it (chown 10001:10001).
RUN groupadd --system --gid 10001 guanxi \
    && useradd --system --uid 10001 --gid guanxi --home-dir /var/lib/guanxi --no-create-home --shell /usr/sbin/nologin guanxi \
    && mkdir -p /var/lib/guanxi \
    && chown guanxi:guanxi /var/lib/guanxi \
    && chmod 0750 /var/lib/guanxi
COPY --from=build /src/target/release/guanxi /usr/local/bin/guanxi
WORKDIR /var/lib/guanxi
ENV GUANXI_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER guanxi:guanxi
CMD ["guanxi", "serve"]
