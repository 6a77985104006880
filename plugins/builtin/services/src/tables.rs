//! The service tables: data, one row per service, each with its source.

use portcullis_sdk::Protocol::{self, Tcp, Udp};

/// How a table row recognises a listener: by protocol and port, or by the
/// name of a process holding it (on any port).
pub struct Service {
    pub name: &'static str,
    pub protocol: Protocol,
    /// Inclusive port ranges.
    pub ports: &'static [(u16, u16)],
    /// Process names (comm) that identify it on any port.
    pub processes: &'static [&'static str],
    /// Why it matters, for the message.
    pub why: &'static str,
    /// What to change, for the message.
    pub fix: &'static str,
    /// Where the claim comes from.
    pub source: &'static str,
}

/// Services meant to serve only this host: off loopback they are exposed.
pub const LOCAL_ONLY: &[Service] = &[
    Service {
        name: "PostgreSQL",
        protocol: Tcp,
        ports: &[(5432, 5432)],
        processes: &["postgres"],
        why: "a database should be reached by local applications, not the network",
        fix: "set listen_addresses = 'localhost' in postgresql.conf",
        source: "https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-LISTEN-ADDRESSES",
    },
    Service {
        name: "MySQL/MariaDB",
        protocol: Tcp,
        ports: &[(3306, 3306)],
        processes: &["mysqld", "mariadbd"],
        why: "a database should be reached by local applications, not the network",
        fix: "set bind-address = 127.0.0.1 in the [mysqld] section",
        source: "https://dev.mysql.com/doc/refman/8.0/en/server-system-variables.html#sysvar_bind_address",
    },
    Service {
        name: "Redis",
        protocol: Tcp,
        ports: &[(6379, 6379)],
        processes: &["redis-server"],
        why: "Redis trusts its clients; exposed instances are routinely taken over",
        fix: "set bind 127.0.0.1 -::1 and keep protected-mode yes in redis.conf",
        source: "https://redis.io/docs/latest/operate/oss_and_stack/management/security/",
    },
    Service {
        name: "Memcached",
        protocol: Tcp,
        ports: &[(11211, 11211)],
        processes: &["memcached"],
        why: "memcached has no authentication by default",
        fix: "start it with -l 127.0.0.1 (and -U 0 to disable UDP)",
        source: "https://github.com/memcached/memcached/wiki/SASLHowto",
    },
    Service {
        name: "Memcached (UDP)",
        protocol: Udp,
        ports: &[(11211, 11211)],
        processes: &["memcached"],
        why: "exposed memcached UDP is a large DDoS amplifier (CVE-2018-1000115)",
        fix: "start it with -U 0 to disable UDP, and -l 127.0.0.1",
        source: "https://nvd.nist.gov/vuln/detail/CVE-2018-1000115",
    },
    Service {
        name: "MongoDB",
        protocol: Tcp,
        ports: &[(27017, 27017)],
        processes: &["mongod"],
        why: "a database should be reached by local applications, not the network",
        fix: "set net.bindIp: 127.0.0.1 in mongod.conf",
        source: "https://www.mongodb.com/docs/manual/core/security-mongodb-configuration/",
    },
    Service {
        name: "Elasticsearch",
        protocol: Tcp,
        ports: &[(9200, 9200), (9300, 9300)],
        processes: &[],
        why: "search clusters hold data and expose admin APIs",
        fix: "set network.host: 127.0.0.1 in elasticsearch.yml",
        source: "https://www.elastic.co/guide/en/elasticsearch/reference/current/network.settings.html",
    },
    Service {
        name: "SMTP (local mailer)",
        protocol: Tcp,
        ports: &[(25, 25)],
        processes: &["master", "exim4", "exim", "sendmail", "smtpd", "opensmtpd"],
        why: "a host that only sends its own mail should not accept mail from the network",
        fix: "bind the MTA to loopback (Postfix: inet_interfaces = loopback-only; Exim: dc_local_interfaces='127.0.0.1 ; ::1')",
        source: "ComplianceAsCode rule has_nonlocal_mta",
    },
    Service {
        name: "CUPS",
        protocol: Tcp,
        ports: &[(631, 631)],
        processes: &["cupsd"],
        why: "the print server's web interface is for this host",
        fix: "use Listen localhost:631 in cupsd.conf",
        source: "https://www.cups.org/doc/man-cupsd.conf.html",
    },
    Service {
        name: "chrony command port",
        protocol: Udp,
        ports: &[(323, 323)],
        processes: &["chronyd"],
        why: "chronyc's command port is for local administration",
        fix: "set cmdallow only for 127.0.0.1, or bindcmdaddress 127.0.0.1",
        source: "https://chrony-project.org/doc/4.5/chrony.conf.html#bindcmdaddress",
    },
];

/// Whether a risky service fails wherever it listens, or only off loopback.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum When {
    Listening,
    OffLoopback,
}

pub struct Risky {
    pub service: Service,
    pub when: When,
}

const fn risky(when: When, service: Service) -> Risky {
    Risky { service, when }
}

/// Services that should not listen at all (or not beyond loopback).
pub const RISKY: &[Risky] = &[
    risky(
        When::Listening,
        Service {
            name: "telnet",
            protocol: Tcp,
            ports: &[(23, 23)],
            processes: &["telnetd", "in.telnetd"],
            why: "sends logins and sessions in clear text",
            fix: "remove the telnet server; use SSH",
            source: "CIS benchmarks: ensure telnet server is not installed; RFC 854",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "rexec/rlogin/rsh",
            protocol: Tcp,
            ports: &[(512, 514)],
            processes: &[
                "rshd",
                "in.rshd",
                "rlogind",
                "in.rlogind",
                "rexecd",
                "in.rexecd",
            ],
            why: "host-based trust and clear-text credentials",
            fix: "remove the r-services (rsh-server); use SSH",
            source: "CIS benchmarks: ensure rsh server is not installed",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "FTP",
            protocol: Tcp,
            ports: &[(21, 21)],
            processes: &["vsftpd", "proftpd", "pure-ftpd", "ftpd", "in.ftpd"],
            why: "clear-text credentials and data",
            fix: "remove the FTP server; use SFTP over SSH",
            source: "CIS benchmarks: ensure FTP server is not installed",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "TFTP",
            protocol: Udp,
            ports: &[(69, 69)],
            processes: &["in.tftpd", "tftpd", "atftpd"],
            why: "no authentication at all",
            fix: "remove the TFTP server unless this host netboots others",
            source: "CIS benchmarks: ensure TFTP server is not installed",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "rpcbind/portmapper",
            protocol: Tcp,
            ports: &[(111, 111)],
            processes: &["rpcbind", "portmap"],
            why: "maps RPC services for remote callers and amplifies UDP floods",
            fix: "systemctl disable --now rpcbind.service rpcbind.socket unless NFS is served",
            source: "CIS benchmarks: ensure rpcbind is not installed or the rpcbind services are masked",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "rpcbind/portmapper (UDP)",
            protocol: Udp,
            ports: &[(111, 111)],
            processes: &["rpcbind", "portmap"],
            why: "a known DDoS amplifier",
            fix: "systemctl disable --now rpcbind.service rpcbind.socket unless NFS is served",
            source: "https://www.cisa.gov/news-events/alerts/2014/01/17/udp-based-amplification-attacks",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "NFS",
            protocol: Tcp,
            ports: &[(2049, 2049)],
            processes: &["nfsd"],
            why: "exports file systems to the network",
            fix: "systemctl disable --now nfs-server unless this host serves NFS",
            source: "CIS benchmarks: ensure nfs-kernel-server services are not in use",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "SNMP",
            protocol: Udp,
            ports: &[(161, 161)],
            processes: &["snmpd"],
            why: "v1/v2c communities are clear-text passwords and leak host details",
            fix: "remove snmpd, or use SNMPv3 bound to a management address",
            source: "CIS benchmarks: ensure SNMP server is not in use",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "X11",
            protocol: Tcp,
            ports: &[(6000, 6063)],
            processes: &["Xorg", "X", "Xwayland"],
            why: "a display server on TCP lets remote clients read keystrokes and the screen",
            fix: "start X with -nolisten tcp (the default of modern display managers)",
            source: "Xserver(1): -nolisten",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "VNC",
            protocol: Tcp,
            ports: &[(5900, 5999)],
            processes: &["Xvnc", "x11vnc", "vino-server", "Xtigervnc"],
            why: "remote desktop with weak or no authentication, often unencrypted",
            fix: "remove the VNC server, or bind it to loopback and tunnel it over SSH",
            source: "CIS benchmarks: ensure VNC is not exposed",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "Docker API (plain TCP)",
            protocol: Tcp,
            ports: &[(2375, 2375)],
            processes: &[],
            why: "unauthenticated root access to the host",
            fix: "remove -H tcp://… from dockerd; use the unix socket or TLS on 2376",
            source: "https://docs.docker.com/engine/security/protect-access/",
        },
    ),
    risky(
        When::OffLoopback,
        Service {
            name: "Docker API (TLS)",
            protocol: Tcp,
            ports: &[(2376, 2376)],
            processes: &[],
            why: "root access to the host for anyone holding a client certificate",
            fix: "expose it only on a management network, or use SSH (DOCKER_HOST=ssh://)",
            source: "https://docs.docker.com/engine/security/protect-access/",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "cups-browsed",
            protocol: Udp,
            ports: &[(631, 631)],
            processes: &["cups-browsed"],
            why: "CVE-2024-47176: any host can make it add a malicious printer, leading to remote code execution",
            fix: "systemctl disable --now cups-browsed (and remove the package)",
            source: "https://nvd.nist.gov/vuln/detail/CVE-2024-47176",
        },
    ),
    risky(
        When::Listening,
        Service {
            name: "kubelet read-only port",
            protocol: Tcp,
            ports: &[(10255, 10255)],
            processes: &[],
            why: "unauthenticated read access to pods and node data",
            fix: "set readOnlyPort: 0 in the kubelet configuration",
            source: "https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/",
        },
    ),
    risky(
        When::OffLoopback,
        Service {
            name: "etcd",
            protocol: Tcp,
            ports: &[(2379, 2380)],
            processes: &["etcd"],
            why: "the cluster's whole state, secrets included",
            fix: "bind --listen-client-urls to loopback or the control-plane address with client TLS",
            source: "https://etcd.io/docs/latest/op-guide/security/",
        },
    ),
];
