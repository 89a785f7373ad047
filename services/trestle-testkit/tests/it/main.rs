//! The test kit's own tests: failing fast without the stack, and the repository's tidy rules.

mod stack;
mod tidy;
