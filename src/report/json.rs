//! The JSON inventory: the model serialised as is (see the README for the
//! versioned field contract), compact on one line: it is read by programs,
//! and a fleet-sized inventory is tens of megabytes pretty-printed
//! (`jq .` makes it readable).

use std::io::{self, Write};

pub fn write(value: &impl serde::Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
