//! No code: this crate exists for its dependencies. `cargo hakari generate` lists, in its
//! `Cargo.toml`, every third-party crate that the workspace's crates would otherwise build
//! with different features depending on which packages a command selects; each crate of the
//! shop depends on it, so every build resolves the same features (see `.config/hakari.toml`).
