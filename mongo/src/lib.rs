//! MongoDB, where analysts query wattswarm's answers.
//!
//! * [`readings`]: the workers store every accepted row, with unordered bulk inserts and
//!   `_id`s that depend only on the row's place in its file, so a retried chunk finds its
//!   rows already there instead of duplicating them;
//! * [`results`]: the master loads each aggregate into its own collection, creates the
//!   indexes analysts' queries need, and keeps one `power.jobs` document per job;
//! * [`staging`]: all of it goes into the job's own staging collections, swapped in by
//!   rename at the job's end, so the database holds exactly one job's set;
//! * `insert`: the bounded, unordered bulk loader both use.
//!
//! Every call runs on the I/O runtime of `wattswarm_core::runtime` and is waited for
//! synchronously, like the HDFS client: the pipeline around it is synchronous.
use std::time::Duration;

use mongodb::bson::doc;
use mongodb::options::{ClientOptions, Credential};
use mongodb::{Client, Database};
use serde::{Deserialize, Serialize};
use wattswarm_core::runtime::block_on;
use wattswarm_core::retry::{Policy, Retriable};

mod insert;
pub mod readings;
pub mod results;
pub mod staging;

pub use insert::Inserted;
pub use readings::Readings;
pub use results::{export_results, JobRecord};
pub use staging::Staging;

#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    #[error("cannot reach MongoDB at {uri} after {attempts} attempts in {seconds} s ({reason}): is it running, and are mongo_uri and the credentials right?")]
    Unreachable {
        uri: String,
        attempts: u32,
        seconds: u64,
        reason: String,
    },
    #[error("MongoDB at {uri} refused wattswarm ({reason}): are mongo_username and the password right, and may that user use mongo_database?")]
    Refused { uri: String, reason: String },
    #[error("MongoDB at {uri}: {what}: {reason}")]
    Failed { uri: String, what: String, reason: String },
    #[error("invalid MongoDB settings: {0}")]
    Invalid(String),
    #[error("job {job}'s staging collections in MongoDB were removed by job {by}, which started on the same database while {job} was unfinished: its stored readings are gone, so it cannot finish. Run it afresh (another output, or remove this output's _state), and run one job at a time per mongo_database")]
    Superseded { job: String, by: String },
}

/// How to reach MongoDB. The password never appears in `Debug`, messages or logs.
#[derive(Clone, Serialize, Deserialize)]
pub struct MongoSettings {
    /// `mongodb://host:port/`; credentials may be in it, or given apart.
    pub uri: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The database (`power`).
    pub database: String,
    /// The readings collection (`readings`).
    pub readings: String,
    /// How long to keep retrying a server that does not answer, at start and mid-job.
    pub retry_seconds: u64,
    /// Documents per insert.
    pub batch: usize,
    /// Inserts in flight per chunk.
    pub concurrency: usize,
}

impl std::fmt::Debug for MongoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoSettings")
            .field("uri", &redact(&self.uri))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("readings", &self.readings)
            .finish()
    }
}

/// The URI without its `user:password@` part, for messages.
pub fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://<credentials>@{}", &uri[..s], &uri[at + 1..]),
        _ => uri.to_owned(),
    }
}

/// A connected server.
#[derive(Clone, Debug)]
pub struct Mongo {
    pub client: Client,
    pub settings: MongoSettings,
}

/// A driver error, with whether waiting can cure it: not refused credentials or an
/// invalid request; a server that is down, elected, or busy, yes.
#[derive(Debug)]
pub(crate) struct Driver(pub mongodb::error::Error);

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Retriable for Driver {
    fn retriable(&self) -> bool {
        use mongodb::error::ErrorKind;
        !matches!(*self.0.kind, ErrorKind::Authentication { .. } | ErrorKind::InvalidArgument { .. })
    }
}

impl Mongo {
    /// Connects and pings, retrying with backoff for at most `retry_seconds`.
    pub fn connect(settings: &MongoSettings) -> Result<Mongo, MongoError> {
        let shown = redact(&settings.uri);
        let uri = settings.uri.clone();
        let mut options = block_on(async move { ClientOptions::parse(uri).await })
            .map_err(|e| MongoError::Invalid(format!("mongo_uri {shown}: {e}")))?;
        options.app_name = Some("wattswarm".into());
        options.server_selection_timeout = Some(Duration::from_secs(3));
        options.connect_timeout = Some(Duration::from_secs(3));
        if let Some(user) = &settings.username {
            options.credential = Some(Credential::builder().username(user.clone()).password(settings.password.clone()).build());
        }
        // Created on the I/O runtime: the driver's monitors run there, not on the caller's
        // runtime, which may be blocked waiting for us.
        let client = block_on(async move { Client::with_options(options) }).map_err(|e| MongoError::Invalid(e.to_string()))?;
        let m = Mongo {
            client,
            settings: settings.clone(),
        };
        let what = format!("MongoDB at {shown}");
        Policy::server(Duration::from_secs(settings.retry_seconds))
            .run(&what, |_| {
                let db = m.db();
                block_on(async move { db.run_command(doc! {"ping": 1}).await }).map_err(Driver)
            })
            .map_err(|g| {
                let reason = first_line(&g.error.0.to_string());
                if g.error.retriable() {
                    MongoError::Unreachable {
                        uri: shown.clone(),
                        attempts: g.attempts,
                        seconds: settings.retry_seconds,
                        reason,
                    }
                } else {
                    MongoError::Refused { uri: shown.clone(), reason }
                }
            })?;
        Ok(m)
    }

    pub fn db(&self) -> Database {
        self.client.database(&self.settings.database)
    }

    pub(crate) fn failed(&self, what: impl Into<String>, e: impl std::fmt::Display) -> MongoError {
        MongoError::Failed {
            uri: redact(&self.settings.uri),
            what: what.into(),
            reason: first_line(&e.to_string()),
        }
    }
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("mongodb://root:s3cret@mongo:27017/?authSource=admin"), "mongodb://<credentials>@mongo:27017/?authSource=admin");
        assert_eq!(redact("mongodb://mongo:27017"), "mongodb://mongo:27017");
        let s = MongoSettings {
            uri: "mongodb://u:s3cret@h/".into(),
            username: Some("u".into()),
            password: Some("s3cret".into()),
            database: "power".into(),
            readings: "readings".into(),
            retry_seconds: 1,
            batch: 10,
            concurrency: 1,
        };
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn a_server_that_is_down_is_one_clear_error_after_retries() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let s = MongoSettings {
            uri: format!("mongodb://user:pw@127.0.0.1:{port}/"),
            username: None,
            password: None,
            database: "power".into(),
            readings: "readings".into(),
            retry_seconds: 1,
            batch: 10,
            concurrency: 1,
        };
        let e = Mongo::connect(&s).unwrap_err().to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")) && e.contains("is it running") && !e.contains("pw@"), "{e}");
    }
}
