//! The machine's own names: what the kernel and the hostname say.

/// The kernel release and machine, empty where unknown.
pub struct Uname {
    pub release: String,
    pub machine: String,
}

pub fn uname() -> Uname {
    match nix::sys::utsname::uname() {
        Ok(u) => Uname {
            release: u.release().to_string_lossy().into_owned(),
            machine: u.machine().to_string_lossy().into_owned(),
        },
        Err(_) => Uname {
            release: String::new(),
            machine: String::new(),
        },
    }
}

/// The hostname of our UTS namespace, empty if unreadable.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}
