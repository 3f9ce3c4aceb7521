//! Examples of tapbeat's public API; see `examples/`.
