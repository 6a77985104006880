//! Rendering an inventory for people (table) and programs (JSON). Pure
//! functions of the inventory, writing to any `io::Write`.

pub mod findings;
pub mod json;
pub mod table;
