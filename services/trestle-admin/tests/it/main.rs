//! The admin CLI against the real local Kafka.

mod price_book;
