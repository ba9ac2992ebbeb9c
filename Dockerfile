# Build: a release binary of the workspace. Run: a slim image with only that binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin guanxi

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/guanxi /usr/local/bin/guanxi
WORKDIR /var/lib/guanxi
ENV GUANXI_LISTEN=0.0.0.0:8080
EXPOSE 8080
CMD ["guanxi", "serve"]
