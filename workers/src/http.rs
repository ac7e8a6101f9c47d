//! The master over HTTP: the [`LeaseSource`] of a `wattswarm worker` process. Each
//! request of [`wattswarm_core::protocol`] is posted as it is to its [`Endpoint::PATH`].
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use wattswarm_core::protocol::{Endpoint, Heartbeat, HeartbeatReply, JobInfo, LeaseReply, LeaseRequest, Leave, Register, Report};

use crate::source::{LeaseSource, LinkError};

/// A master at `base` (e.g. `http://master:7070`).
#[derive(Clone)]
pub struct HttpMaster {
    base: std::rc::Rc<str>,
    client: awc::Client,
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
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Posts `req` to its endpoint and reads the answer.
    async fn call<Q: Endpoint + Serialize, R: DeserializeOwned>(&self, req: &Q) -> Result<R, LinkError> {
        let url = format!("{}{}", self.base, Q::PATH);
        let unreachable = |reason: String| LinkError::Unreachable { url: url.clone(), reason };
        let mut resp = self.client.post(&url).send_json(req).await.map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 200 {
            return resp.json::<R>().limit(64 << 20).await.map_err(|e| unreachable(e.to_string()));
        }
        let body = resp.body().limit(4096).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        Err(match status {
            400 => LinkError::Refused(body),
            401 => LinkError::Unauthorized { url },
            409 => LinkError::JobChanged,
            status => LinkError::Status { url, status, body },
        })
    }

    /// Joins the master's job; the answer is what the worker needs to process chunks.
    pub async fn register(&self, req: &Register) -> Result<JobInfo, LinkError> {
        self.call(req).await
    }
}

impl LeaseSource for HttpMaster {
    async fn lease(&self, req: LeaseRequest) -> Result<LeaseReply, LinkError> {
        self.call(&req).await
    }

    async fn heartbeat(&self, req: Heartbeat) -> Result<HeartbeatReply, LinkError> {
        self.call(&req).await
    }

    async fn report(&self, req: Report) -> Result<(), LinkError> {
        self.call::<_, serde_json::Value>(&req).await.map(|_| ())
    }

    async fn leave(&self, req: Leave) -> Result<(), LinkError> {
        self.call::<_, serde_json::Value>(&req).await.map(|_| ())
    }
}
