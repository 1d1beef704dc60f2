//! whistlebox: an anonymous tip line. Tips are sealed to the inspectors' key before they
//! are stored; the online server never holds a key that opens them.
//!
//! Dependencies point one way: `web`, `cli`, `desk` -> `service`, `signing` -> `store`,
//! `bundle` -> `domain` -> `crypto`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod cli;
pub mod crypto;
pub mod desk;
pub mod domain;
pub mod lang;
pub mod service;
pub mod session;
pub mod signing;
pub mod store;
pub mod web;
