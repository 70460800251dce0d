//! Protobuf: schemas (protox, descriptor sets, reflection traffic) and the
//! two ways of showing a message, with its schema (canonical proto3 JSON) or
//! honestly without one.

pub mod budget;
pub mod schema;
pub mod schemaless;
pub mod transcode;
pub mod tree;
pub mod wire;

pub use schema::{Json, MethodInfo, Schema, SchemaSources};
