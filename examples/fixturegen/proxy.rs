//! The `proxy` scenario: a real nginx (Debian's nginx-light, `grpc_pass`)
//! between the tonic client and server, so both legs of every call are on
//! the wire.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// Where nginx listens for the client.
pub const FRONT: u16 = 50080;
/// Where the upstream gRPC server listens.
pub const UPSTREAM: u16 = 50081;
/// The `ingress` scenario's nginx, and its upstream.
pub const INGRESS_FRONT: u16 = 50082;
/// Where the `ingress` scenario's server listens.
pub const INGRESS_UPSTREAM: u16 = 50083;

/// Where HAProxy (`mode tcp`) listens in the `l4_balancing` scenario.
pub const L4_FRONT: u16 = 50086;
/// The port every replica listens on, as a Kubernetes pod's container port.
pub const L4_REPLICA_PORT: u16 = 50087;
/// The replicas' addresses (loopback answers on all of 127/8).
pub const L4_REPLICAS: [[u8; 4]; 3] = [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]];

/// Where HAProxy (`mode http`, `proto h2`) listens in the `haproxy` scenario.
pub const H7_FRONT: u16 = 50088;
/// The `haproxy` scenario's upstream server.
pub const H7_UPSTREAM: u16 = 50089;

/// The `ccore_late_status` scenario's nginx, and its upstream.
pub const LATE_FRONT: u16 = 50095;
/// Where the `ccore_late_status` scenario's C-core server listens.
pub const LATE_UPSTREAM: u16 = 50096;

/// The `proxy_retries` scenario's nginx, and its upstream.
pub const RETRY_FRONT: u16 = 50098;
/// Where the `proxy_retries` scenario's server listens.
pub const RETRY_UPSTREAM: u16 = 50099;

/// Where HAProxy listens in the `haproxy_ccore` scenario.
pub const H7C_FRONT: u16 = 50100;
/// The `haproxy_ccore` scenario's C-core server.
pub const H7C_UPSTREAM: u16 = 50101;

/// The `proxy_tls_upstream` scenario's nginx, and its TLS upstream.
pub const TLS_FRONT: u16 = 50102;
/// Where the `proxy_tls_upstream` scenario's TLS server listens.
pub const TLS_UPSTREAM: u16 = 50103;

/// A running nginx, stopped on drop.
pub struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx proxying 127.0.0.1:FRONT to 127.0.0.1:UPSTREAM with a
    /// 300 ms upstream read timeout (so a slow server makes it answer 504).
    pub fn start() -> Nginx {
        Self::run(FRONT, &format!("grpc://127.0.0.1:{UPSTREAM}"), "", "")
    }

    /// As an ingress controller does (ingress-nginx's `$req_id`): the
    /// client's x-request-id is passed on, and a request without one gets
    /// nginx's `$request_id` on the upstream leg only.
    pub fn ingress() -> Nginx {
        Self::run(
            INGRESS_FRONT,
            &format!("grpc://127.0.0.1:{INGRESS_UPSTREAM}"),
            "map $http_x_request_id $req_id {\n    default $http_x_request_id;\n    \"\" $request_id;\n  }\n  ",
            "grpc_set_header x-request-id $req_id;\n      ",
        )
    }

    /// The plain proxy on the `ccore_late_status` scenario's ports.
    pub fn late() -> Nginx {
        Self::run(LATE_FRONT, &format!("grpc://127.0.0.1:{LATE_UPSTREAM}"), "", "")
    }

    /// The plain proxy on the `proxy_retries` scenario's ports.
    pub fn retries() -> Nginx {
        Self::run(RETRY_FRONT, &format!("grpc://127.0.0.1:{RETRY_UPSTREAM}"), "", "")
    }

    /// nginx passing to a TLS upstream (`grpcs://`) whose certificate it
    /// must verify against `trusted` (a PEM file) over TLS 1.2: given a CA
    /// that did not sign the server's certificate, its handshake fails.
    pub fn tls_upstream(trusted: &std::path::Path) -> Nginx {
        let verify = format!(
            "grpc_ssl_verify on;\n      grpc_ssl_trusted_certificate {};\n      grpc_ssl_protocols TLSv1.2;\n      \
             grpc_ssl_name {};\n      grpc_ssl_server_name on;\n      ",
            trusted.display(),
            crate::tls::SERVER_NAME
        );
        Self::run(TLS_FRONT, &format!("grpcs://127.0.0.1:{TLS_UPSTREAM}"), "", &verify)
    }

    fn run(front: u16, upstream: &str, http_extra: &str, location_extra: &str) -> Nginx {
        let dir = std::env::temp_dir().join(format!("grpcscope-nginx-{}-{front}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\nerror_log {d}/error.log info;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d};\n  {http_extra}\
             server {{\n    listen 127.0.0.1:{front} http2;\n    location / {{\n      {location_extra}\
             grpc_pass {upstream};\n      grpc_read_timeout 300ms;\n      grpc_connect_timeout 1s;\n    }}\n  }}\n}}\n",
            d = dir.display()
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .args(["-c", path.to_str().unwrap(), "-p", dir.to_str().unwrap()])
            .spawn()
            .expect("start nginx (apt-get install nginx-light)");
        std::thread::sleep(Duration::from_millis(300));
        Nginx { child, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-QUIT").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running HAProxy in `mode tcp`, stopped on drop: an L4 balancer, as a
/// Kubernetes Service (kube-proxy) or a cloud network load balancer is.
pub struct Haproxy {
    child: Child,
    dir: PathBuf,
}

impl Haproxy {
    /// Balances connections to [`L4_FRONT`] round robin over the replicas,
    /// health-checking each every 2 s.
    pub fn start() -> Haproxy {
        let servers: String = L4_REPLICAS
            .iter()
            .enumerate()
            .map(|(i, [a, b, c, d])| format!("  server replica-{i} {a}.{b}.{c}.{d}:{L4_REPLICA_PORT} check inter 2s\n"))
            .collect();
        let conf = format!(
            "global\n  maxconn 256\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n  \
             timeout server 30s\nfrontend grpc\n  bind 127.0.0.1:{L4_FRONT}\n  default_backend replicas\n\
             backend replicas\n  balance roundrobin\n{servers}"
        );
        Self::run("l4", &conf)
    }

    /// A gRPC-aware proxy, as HAProxy's documentation configures one
    /// (`mode http`, HTTP/2 both ways): a 300 ms `timeout server` (a slow
    /// upstream gets a 504) and an x-request-id on the upstream leg only
    /// (`unique-id-header`, as an edge proxy adds one).
    pub fn grpc() -> Haproxy {
        let conf = format!(
            "global\n  maxconn 256\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  \
             timeout server 300ms\n  retries 0\nfrontend grpc\n  bind 127.0.0.1:{H7_FRONT} proto h2\n  \
             unique-id-format %{{+X}}o%ci%cp%Ts%rt\n  unique-id-header x-request-id\n  \
             default_backend upstream\nbackend upstream\n  server app 127.0.0.1:{H7_UPSTREAM} proto h2\n"
        );
        Self::run("grpc", &conf)
    }

    /// HAProxy as it is set up to propagate request ids: the client's
    /// x-request-id is passed on, one is made only for a request without
    /// (so the legs of a retried call share the client's id), in front of
    /// the `haproxy_ccore` scenario's C-core server.
    pub fn propagating() -> Haproxy {
        let conf = format!(
            "global\n  maxconn 256\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  \
             timeout server 300ms\n  retries 0\nfrontend grpc\n  bind 127.0.0.1:{H7C_FRONT} proto h2\n  \
             unique-id-format %{{+X}}o%ci%cp%Ts%rt\n  \
             http-request set-header x-request-id %[unique-id] unless {{ req.hdr(x-request-id) -m found }}\n  \
             default_backend upstream\nbackend upstream\n  server app 127.0.0.1:{H7C_UPSTREAM} proto h2\n"
        );
        Self::run("propagating", &conf)
    }

    fn run(name: &str, conf: &str) -> Haproxy {
        let dir = std::env::temp_dir().join(format!("grpcscope-haproxy-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f", path.to_str().unwrap()])
            .spawn()
            .expect("start haproxy (apt-get install haproxy)");
        std::thread::sleep(Duration::from_millis(300));
        Haproxy { child, dir }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
