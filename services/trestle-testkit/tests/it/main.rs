//! The test kit's own tests: the repository's tidy rules (see `tidy.rs`).

mod tidy;
