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

/// A running nginx, stopped on drop.
pub struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx proxying 127.0.0.1:FRONT to 127.0.0.1:UPSTREAM with a
    /// 300 ms upstream read timeout (so a slow server makes it answer 504).
    pub fn start() -> Nginx {
        let dir = std::env::temp_dir().join(format!("grpcscope-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\nerror_log {d}/error.log info;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d};\n  \
             server {{\n    listen 127.0.0.1:{FRONT} http2;\n    location / {{\n      \
             grpc_pass grpc://127.0.0.1:{UPSTREAM};\n      grpc_read_timeout 300ms;\n      grpc_connect_timeout 1s;\n    }}\n  }}\n}}\n",
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
