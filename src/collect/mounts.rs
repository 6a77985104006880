//! Network namespaces pinned by nsfs bind mounts (`ip netns add`, container
//! runtimes, `unshare --net=FILE`), found in mount tables rather than in a
//! fixed directory, so a mount at any path counts.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::model::NetnsId;

use super::procwalk::parse_decimal;

/// One nsfs mount of a network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsMount {
    pub ns: NetnsId,
    /// The mount point as that mount namespace sees it.
    pub mount_point: PathBuf,
}

impl NetnsMount {
    /// The `ip netns` name, for mounts directly under `/run/netns` or
    /// `/var/run/netns`, wherever the host's root is: `/host/run/netns/X`
    /// when a scanner mounts it at `/host`, a mount point of another mount
    /// namespace as that one sees it. So one host's namespaces have one
    /// name however the scanner sees them.
    pub fn ip_netns_name(&self) -> Option<String> {
        let parent = self.mount_point.parent()?;
        if parent.ends_with("run/netns") {
            Some(self.mount_point.file_name()?.to_string_lossy().into_owned())
        } else {
            None
        }
    }
}

/// Extracts the network-namespace mounts from a `mountinfo` table.
/// Lines that are not nsfs mounts of a network namespace are skipped;
/// malformed lines too (the kernel writes this file, so they do not occur).
pub fn parse_netns_mounts(mountinfo: &[u8]) -> Vec<NetnsMount> {
    mountinfo
        .split(|&b| b == b'\n')
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &[u8]) -> Option<NetnsMount> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    // id parent maj:min root mount-point options [optional…] - fstype source super-options
    let sep = fields.iter().position(|f| *f == b"-")?;
    if fields.get(sep + 1)? != b"nsfs" || sep < 6 {
        return None;
    }
    let inode = fields[3]
        .strip_prefix(b"net:[")?
        .strip_suffix(b"]")
        .and_then(parse_decimal)?;
    let (major, minor) = split_pair(fields[2])?;
    let dev = makedev(major, minor);
    let mount_point = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_octal(fields[4])));
    Some(NetnsMount {
        ns: NetnsId { dev, inode },
        mount_point,
    })
}

/// glibc's `makedev`: a device number from its major and minor, as `stat`
/// reports `st_dev`.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32)
        | ((major & 0x0000_0fff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0x0000_00ff)
}

fn split_pair(majmin: &[u8]) -> Option<(u64, u64)> {
    let colon = majmin.iter().position(|&b| b == b':')?;
    Some((
        parse_decimal(&majmin[..colon])?,
        parse_decimal(&majmin[colon + 1..])?,
    ))
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let digits = field.get(i + 1..i + 4);
        match digits {
            Some(d) if field[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, b| acc.wrapping_mul(8) + (b - b'0')),
                );
                i += 4;
            }
            _ => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
43 42 0:4 net:[4026532177] /run/netns/blue rw shared:2 - nsfs nsfs rw
44 22 0:4 net:[4026532300] /tmp/pinned\\040ns rw - nsfs nsfs rw
45 22 0:4 mnt:[4026532301] /tmp/mntns rw - nsfs nsfs rw
46 22 0:4 net:[4026532177] /var/run/netns/blue rw shared:2 master:7 - nsfs nsfs rw
";

    #[test]
    fn finds_net_mounts_anywhere_and_unescapes_paths() {
        let mounts = parse_netns_mounts(TABLE.as_bytes());
        let dev = makedev(0, 4);
        assert_eq!(mounts.len(), 3);
        assert_eq!(
            mounts[0].ns,
            NetnsId {
                dev,
                inode: 4026532177
            }
        );
        assert_eq!(mounts[0].ip_netns_name().as_deref(), Some("blue"));
        assert_eq!(mounts[1].mount_point, PathBuf::from("/tmp/pinned ns"));
        assert_eq!(mounts[1].ip_netns_name(), None);
        assert_eq!(mounts[2].ip_netns_name().as_deref(), Some("blue"));
    }

    /// A scanner that mounts the host's root at `/host` sees `ip netns`
    /// mounts there: the same names.
    #[test]
    fn ip_netns_names_do_not_depend_on_where_the_root_is() {
        let mount = |path: &str| NetnsMount {
            ns: NetnsId { dev: 4, inode: 1 },
            mount_point: path.into(),
        };
        assert_eq!(
            mount("/host/run/netns/blue").ip_netns_name().as_deref(),
            Some("blue")
        );
        assert_eq!(
            mount("/host/var/run/netns/blue").ip_netns_name().as_deref(),
            Some("blue")
        );
        assert_eq!(mount("/run/docker/netns/ab").ip_netns_name(), None);
        assert_eq!(mount("/srv/netns/blue").ip_netns_name(), None);
    }

    #[test]
    fn unescapes_every_octal_the_kernel_writes() {
        assert_eq!(unescape_octal(br"a\040b\011c\012d\134e"), b"a b\tc\nd\\e");
        assert_eq!(unescape_octal(br"trailing\04"), br"trailing\04");
    }
}
