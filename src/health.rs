//! `wattswarm health`: the image's HEALTHCHECK. One image serves both roles, so it asks
//! this container's master (its `listen` port) and worker (its `metrics_listen` port) for
//! `/healthz` on 127.0.0.1 and is healthy when either answers 200. Plain HTTP/1.0 over a
//! socket: a probe that runs every few seconds should start no runtime.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::HealthArgs;
use crate::settings::{Overrides, Settings};

/// `HOST:PORT` → `127.0.0.1:PORT`.
fn local(listen: &str) -> Result<SocketAddr> {
    let port = listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .with_context(|| format!("{listen:?} is not an address like 0.0.0.0:7070"))?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// The status line of `GET /healthz`, or why there is none.
fn probe(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head)?;
    let head = String::from_utf8_lossy(&head[..n]);
    Ok(head.lines().next().unwrap_or_default().to_owned())
}

pub fn health(args: HealthArgs) -> Result<()> {
    let s = Settings::load(args.config.as_deref(), &Overrides::default(), None)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut why = Vec::new();
    for (role, listen) in [("master", &s.listen), ("worker", &s.metrics_listen)] {
        let addr = local(listen)?;
        match probe(addr, timeout) {
            Ok(line) if line.split_whitespace().nth(1) == Some("200") => {
                println!("{role} on {addr}: healthy");
                return Ok(());
            }
            Ok(line) => why.push(format!("{role} on {addr} answered {line:?}")),
            Err(e) => why.push(format!("{role} on {addr}: {e}")),
        }
    }
    bail!("not healthy: {}", why.join("; "))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_listen_address_becomes_its_loopback_port() {
        assert_eq!(local("0.0.0.0:7070").unwrap(), "127.0.0.1:7070".parse().unwrap());
        assert_eq!(local("[::]:9101").unwrap(), "127.0.0.1:9101".parse().unwrap());
        assert!(local("nowhere").is_err());
    }

    #[test]
    fn probe_reads_the_status_line_and_fails_on_a_closed_port() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 256];
            let n = c.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /healthz "));
            c.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").unwrap();
        });
        assert_eq!(probe(addr, Duration::from_secs(2)).unwrap(), "HTTP/1.1 503 Service Unavailable");
        server.join().unwrap();
        // Nothing listens there any more.
        assert!(probe(addr, Duration::from_secs(2)).is_err());
    }
}
