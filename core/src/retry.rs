//! One way to wait for a peer that does not answer, used by everything that retries: the
//! HDFS NameNode and MongoDB at start, MongoDB insert batches, and a worker's calls to
//! its master.
//!
//! A [`Policy`] says how long the first pause is, how far pauses double and when to give
//! up; a [`Backoff`] is one run of it. Whether an error is worth another attempt is the
//! error's own answer ([`Retriable`]), never a match on its message: a wrong password or
//! a refused report fails at once, an unreachable server is waited for.
use std::fmt::Display;
use std::time::{Duration, Instant};

/// An error that knows whether trying again can help.
pub trait Retriable {
    fn retriable(&self) -> bool;
}

/// How to retry: pauses from `first`, doubling up to `max`, and no pause that would end
/// past `limit` after the first attempt (`None`: for as long as it takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub first: Duration,
    pub max: Duration,
    pub limit: Option<Duration>,
}

impl Policy {
    /// A server wattswarm needs before it can start (the NameNode, MongoDB): 100 ms
    /// doubling to 5 s, for at most `limit`.
    pub const fn server(limit: Duration) -> Policy {
        Policy {
            first: Duration::from_millis(100),
            max: Duration::from_secs(5),
            limit: Some(limit),
        }
    }

    /// A worker's master: 100 ms doubling to 10 s, for at most `limit` (`None`: until it
    /// answers; a worker waits for a master that is not up yet or restarting).
    pub const fn master(limit: Option<Duration>) -> Policy {
        Policy {
            first: Duration::from_millis(100),
            max: Duration::from_secs(10),
            limit,
        }
    }

    pub fn start(self) -> Backoff {
        Backoff {
            policy: self,
            started: Instant::now(),
            delay: self.first,
            attempts: 0,
        }
    }

    /// Calls `attempt` until it succeeds, fails with an error that is not retriable, or
    /// the policy's limit passes; sleeps between attempts with one warning per failure
    /// (`<what> does not answer (<error>); retrying in …`). A blocking call: for threads
    /// that may block.
    pub fn run<T, E: Display + Retriable>(self, what: &str, mut attempt: impl FnMut(&Backoff) -> Result<T, E>) -> Result<T, GaveUp<E>> {
        let mut b = self.start();
        loop {
            match attempt(&b) {
                Ok(v) => return Ok(v),
                Err(e) => match b.after(&e) {
                    Some(d) => {
                        let first_line = e.to_string().lines().next().unwrap_or_default().to_owned();
                        tracing::warn!("{what} does not answer ({first_line}); retrying in {d:?}");
                        std::thread::sleep(d);
                    }
                    None => return Err(b.gave_up(e)),
                },
            }
        }
    }
}

/// The last error of a retried call, and how many attempts were made.
#[derive(Debug)]
pub struct GaveUp<E> {
    pub attempts: u32,
    pub error: E,
}

/// One run of a [`Policy`].
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    started: Instant,
    delay: Duration,
    /// Failed attempts so far.
    pub attempts: u32,
}

impl Backoff {
    /// After a failed attempt: the pause before the next one, or `None` when that pause
    /// would end past the policy's limit.
    pub fn pause(&mut self) -> Option<Duration> {
        self.pause_within(self.policy.limit)
    }

    /// [`Backoff::pause`] with another limit (a caller whose limit changes while it
    /// waits, such as a worker asked to stop).
    pub fn pause_within(&mut self, limit: Option<Duration>) -> Option<Duration> {
        self.attempts += 1;
        let d = self.delay;
        if limit.is_some_and(|l| self.started.elapsed() + d >= l) {
            return None;
        }
        self.delay = (d * 2).min(self.policy.max);
        Some(d)
    }

    /// After a failed attempt with `e`: the pause, or `None` when `e` is final or the
    /// limit is reached.
    pub fn after(&mut self, e: &impl Retriable) -> Option<Duration> {
        if !e.retriable() {
            self.attempts += 1;
            return None;
        }
        self.pause()
    }

    /// Time left before the limit (`None`: no limit).
    pub fn remaining(&self) -> Option<Duration> {
        self.policy.limit.map(|l| l.saturating_sub(self.started.elapsed()))
    }

    fn gave_up<E>(&self, error: E) -> GaveUp<E> {
        GaveUp {
            attempts: self.attempts,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(bool);
    impl Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "down")
        }
    }
    impl Retriable for E {
        fn retriable(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn pauses_double_to_the_policys_largest_and_stop_at_its_limit() {
        let mut b = Policy::server(Duration::from_secs(60)).start();
        let delays: Vec<u128> = (0..8).map(|_| b.pause().unwrap().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        let mut m = Policy::master(None).start();
        let delays: Vec<u128> = (0..9).map(|_| m.pause().unwrap().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000]);
        assert_eq!(Policy::server(Duration::ZERO).start().pause(), None);
        let mut short = Policy::master(Some(Duration::from_secs(60))).start();
        assert_eq!(short.pause_within(Some(Duration::from_millis(50))), None);
    }

    #[test]
    fn a_final_error_is_not_retried_and_a_retriable_one_until_the_limit() {
        let mut calls = 0;
        let r: Result<(), _> = Policy::server(Duration::from_secs(60)).run("test", |_| {
            calls += 1;
            Err(E(false))
        });
        let g = r.unwrap_err();
        assert_eq!((calls, g.attempts), (1, 1));
        let mut calls = 0;
        let r: Result<(), _> = Policy::server(Duration::from_millis(350)).run("test", |_| {
            calls += 1;
            Err(E(true))
        });
        // 100 ms, then 200 ms; a third pause of 400 ms would pass 350 ms.
        assert_eq!((calls, r.unwrap_err().attempts), (3, 3));
        let mut n = 0;
        let ok = Policy::server(Duration::from_secs(5)).run("test", |_| {
            n += 1;
            if n < 3 { Err(E(true)) } else { Ok(n) }
        });
        assert_eq!(ok.unwrap(), 3);
    }
}
