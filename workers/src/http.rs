//! The master over HTTP: the [`LeaseSource`] of a `wattswarm worker` process.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use wattswarm_core::protocol::{HeartbeatMsg, HeartbeatReply, JobInfo, LeaseReply, Register, WorkerRef};

use crate::source::{ChunkOutcome, LeaseSource, ReportMsg, SourceError};

/// A master at `base` (e.g. `http://master:7070`), with the job this worker joined.
#[derive(Clone)]
pub struct HttpMaster {
    base: Rc<str>,
    client: awc::Client,
    job_id: Rc<RefCell<String>>,
    /// Set when the master answered that it now runs another job.
    pub job_changed: Rc<RefCell<bool>>,
}

/// What went wrong talking to the master.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot reach the master at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the master at {url} refused the token (401): give workers the master's WATTSWARM_TOKEN")]
    Unauthorized { url: String },
    #[error("the master runs another job now")]
    JobChanged,
    #[error("the master at {url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
}

impl From<CallError> for SourceError {
    fn from(e: CallError) -> Self {
        SourceError(e.to_string())
    }
}

impl HttpMaster {
    pub fn new(base: &str, token: &str) -> HttpMaster {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .bearer_auth(token)
            .finish();
        HttpMaster {
            base: base.trim_end_matches('/').into(),
            client,
            job_id: Rc::new(RefCell::new(String::new())),
            job_changed: Rc::new(RefCell::new(false)),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, CallError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |reason: String| CallError::Unreachable { url: url.clone(), reason };
        let mut resp = self.client.post(&url).send_json(body).await.map_err(|e| unreachable(e.to_string()))?;
        match resp.status().as_u16() {
            200 => resp.json::<R>().limit(64 << 20).await.map_err(|e| unreachable(e.to_string())),
            401 => Err(CallError::Unauthorized { url }),
            409 => {
                *self.job_changed.borrow_mut() = true;
                Err(CallError::JobChanged)
            }
            status => {
                let body = resp.body().limit(4096).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                Err(CallError::Status { url, status, body })
            }
        }
    }

    /// Joins the master's job; the answer is what the worker needs to process chunks.
    pub async fn register(&self, worker: &str, metrics_url: Option<String>) -> Result<JobInfo, CallError> {
        let info: JobInfo = self
            .call(
                "/v1/register",
                &Register {
                    worker: worker.to_owned(),
                    metrics_url,
                },
            )
            .await?;
        *self.job_id.borrow_mut() = info.job_id.clone();
        *self.job_changed.borrow_mut() = false;
        Ok(info)
    }

    fn me(&self, worker: &str) -> WorkerRef {
        WorkerRef {
            worker: worker.to_owned(),
            job_id: self.job_id.borrow().clone(),
        }
    }
}

impl LeaseSource for HttpMaster {
    async fn lease(&self, worker: &str) -> Result<LeaseReply, SourceError> {
        match self.call("/v1/lease", &self.me(worker)).await {
            // The job this worker joined is gone: stop, and let the process register again.
            Err(CallError::JobChanged) => Ok(LeaseReply::Finished),
            r => Ok(r?),
        }
    }

    async fn heartbeat(&self, worker: &str, chunk: u32, bytes_done: u64) -> Result<(), SourceError> {
        let msg = HeartbeatMsg {
            worker: worker.to_owned(),
            job_id: self.job_id.borrow().clone(),
            chunk,
            bytes_done,
        };
        let reply: HeartbeatReply = self.call("/v1/heartbeat", &msg).await?;
        if !reply.held {
            tracing::warn!(worker, chunk, "the master gave this chunk to another worker; its report will be ignored");
        }
        Ok(())
    }

    async fn report(&self, worker: &str, outcome: ChunkOutcome) -> Result<(), SourceError> {
        let msg = ReportMsg {
            worker: worker.to_owned(),
            job_id: self.job_id.borrow().clone(),
            outcome,
        };
        match self.call::<_, serde_json::Value>("/v1/report", &msg).await {
            Err(CallError::JobChanged) => Ok(()),
            // Refused: the master logged why and runs the chunk again; sending the same
            // report again would be refused again.
            Err(CallError::Status { status: 400, body, .. }) => {
                tracing::warn!(worker, "the master refused this worker's report: {body}");
                Ok(())
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    async fn leave(&self, worker: &str) -> Result<(), SourceError> {
        self.call::<_, serde_json::Value>("/v1/leave", &self.me(worker)).await.map(|_| ()).map_err(Into::into)
    }
}
