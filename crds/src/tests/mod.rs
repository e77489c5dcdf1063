//! Unit tests of the Rust side of the API: parsing with literal cases, good and bad.

mod address;
mod annotations;
mod interval;
