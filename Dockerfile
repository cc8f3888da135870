# syntax=docker/dockerfile:1
#
# The operator's container image: a release build of the one binary on a distroless base
# (no shell, no package manager), running as the distroless `nonroot` user.
#
#   docker build -t snowflake-token-operator:0.1.0 \
#     --build-arg IMAGE_SOURCE=https://github.com/<org>/<repo> .
#
# BuildKit (the default builder of current Docker, and of `docker buildx`) is required for
# the cache mounts: the crates.io registry and the target directory persist between
# builds, so a change in src/ rebuilds only this crate, not its dependencies.
# tests/dockerfile.rs checks this file offline.

# The toolchain the project is developed and tested with (Cargo.toml's `rust-version` is
# the oldest that builds it). Bookworm is Debian 12, the same glibc as the runtime image.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build
# Only what the build reads is mounted: the manifest and the lock file, src/, benches/
# (Cargo.toml declares bench targets) and examples/ (the `demo` command embeds the example
# manifests with include_str!). `--locked` refuses a stale Cargo.lock. The binary is
# copied out of the cached target directory, which is not part of the layer.
RUN --mount=type=bind,source=Cargo.toml,target=Cargo.toml \
    --mount=type=bind,source=Cargo.lock,target=Cargo.lock \
    --mount=type=bind,source=src,target=src \
    --mount=type=bind,source=benches,target=benches \
    --mount=type=bind,source=examples,target=examples \
    --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --release --locked --bin snowflake-token-operator \
    && install -D -m 0755 target/release/snowflake-token-operator /out/snowflake-token-operator

# glibc, libgcc and CA certificates (TLS is rustls with the system's root certificates),
# nothing else. The `nonroot` tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot

# The repository URL is not in Cargo.toml; pass it with --build-arg IMAGE_SOURCE=...
ARG IMAGE_SOURCE=""
LABEL org.opencontainers.image.title="snowflake-token-operator" \
      org.opencontainers.image.description="Kubernetes operator that keeps Snowflake service users, programmatic access tokens and OAuth tokens converged and written into Secrets" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${IMAGE_SOURCE}"

COPY --from=builder /out/snowflake-token-operator /usr/local/bin/snowflake-token-operator

USER 65532:65532
# --metrics-addr (/metrics) and --health-addr (/healthz, /readyz).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/snowflake-token-operator"]
CMD ["run"]
