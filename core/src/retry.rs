//! One backoff for every server wattswarm waits for (the HDFS NameNode, MongoDB): 100 ms
//! doubling to 5 s between attempts, until a deadline. Callers sleep the way their thread
//! can (a blocking sleep, or `tokio::time::sleep`) and say what they wait for.
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Backoff {
    deadline: Instant,
    delay: Duration,
    /// Attempts made so far (counted by [`Backoff::pause`]).
    pub attempts: u32,
}

impl Backoff {
    pub fn new(seconds: u64) -> Backoff {
        Backoff {
            deadline: Instant::now() + Duration::from_secs(seconds),
            delay: Duration::from_millis(100),
            attempts: 0,
        }
    }

    /// After a failed attempt: the pause before the next one, or `None` when that pause
    /// would pass the deadline.
    pub fn pause(&mut self) -> Option<Duration> {
        self.attempts += 1;
        let d = self.delay;
        if Instant::now() + d >= self.deadline {
            return None;
        }
        self.delay = (d * 2).min(Duration::from_secs(5));
        Some(d)
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Calls `attempt` until it succeeds or the deadline passes, sleeping in between with one
/// warning per failure (`<what> does not answer (<error>); retrying in …`). On giving up,
/// returns the attempts made and the last error.
pub fn with_backoff<T, E: std::fmt::Display>(what: &str, seconds: u64, mut attempt: impl FnMut(&Backoff) -> Result<T, E>) -> Result<T, (u32, E)> {
    let mut b = Backoff::new(seconds);
    loop {
        match attempt(&b) {
            Ok(v) => return Ok(v),
            Err(e) => match b.pause() {
                Some(d) => {
                    tracing::warn!("{what} does not answer ({}); retrying in {d:?}", e.to_string().lines().next().unwrap_or_default());
                    std::thread::sleep(d);
                }
                None => return Err((b.attempts, e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_five_seconds_and_stops_at_the_deadline() {
        let mut b = Backoff::new(60);
        let delays: Vec<u128> = (0..8).map(|_| b.pause().unwrap().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        let mut short = Backoff::new(0);
        assert_eq!(short.pause(), None);
        let r: Result<(), (u32, &str)> = with_backoff("test", 1, |_| Err("down"));
        assert_eq!(r.unwrap_err().1, "down");
    }
}
