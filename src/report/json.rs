//! The JSON inventory: the model serialised as is (see the README for the
//! versioned field contract).

use std::io::{self, Write};

use crate::model::Inventory;

pub fn write(inventory: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, inventory)?;
    out.write_all(b"\n")
}
