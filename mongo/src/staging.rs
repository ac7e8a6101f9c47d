//! One job, one complete set: a job writes job-scoped staging collections and swaps them
//! in at its end.
//!
//! Readers must never see half a job, nor two jobs mixed (a second job over another file
//! once left the first's rows in `readings`, because rows with equal `_id`s counted as
//! duplicates). So every collection a job writes is first its staging collection,
//! `<live>__<job>` (`readings__18c3…-1f2`, `by_tariff_month__18c3…-1f2`, …); the job id is
//! the manifest's, so a master restarted on the same output continues the same
//! collections: workers insert by stable `_id`, so what an earlier attempt stored is a
//! duplicate key, not a second copy. At the end the master builds the indexes and renames
//! each staging collection onto its live name (`renameCollection … dropTarget: true`,
//! atomic per collection), so once a job ends the database holds exactly its readings and
//! results, and disk holds the staging set beside the live one until the swap.
//!
//! Bookkeeping is in `power.jobs`: a job's record lists its staging collections before the
//! first one exists; `swap_begun` and `swapped` (live names done) make a swap that a
//! killed master left half-done resumable. When a job starts, every staging collection of
//! another job (a failed or killed one) is dropped and that job is marked `abandoned`:
//! staging collections never pile up, and one job at a time runs per database. A job
//! finding itself abandoned (another job started on its database while it was unfinished)
//! fails with that reason instead of swapping in an incomplete set.
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::error::{Error, ErrorKind};
use wattswarm_core::runtime::block_on;

use crate::{Mongo, MongoError};

/// The collection of job records.
pub const JOBS: &str = "jobs";
/// Between a live name and the job id in a staging collection's name.
pub const SEPARATOR: &str = "__";

/// `<live>__<job>`.
pub fn staging_name(live: &str, job: &str) -> String {
    format!("{live}{SEPARATOR}{job}")
}

/// The job id a staging collection's name ends with, if it looks like one.
fn job_of(name: &str) -> Option<&str> {
    let (_, job) = name.rsplit_once(SEPARATOR)?;
    (!job.is_empty()).then_some(job)
}

const NAMESPACE_EXISTS: i32 = 48;

/// A server's refusal in one line: `NotImplemented (238): …`.
fn reason(e: &Error) -> String {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => format!("{} ({}): {}", c.code_name, c.code, c.message),
        _ => crate::first_line(&e.to_string()),
    }
}

fn code(e: &Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

/// A job's staging set.
#[derive(Debug)]
pub struct Staging {
    mongo: Arc<Mongo>,
    job: String,
    /// An earlier master of this job began the swap: a staging collection that is gone
    /// was swapped in already, and must not be created empty again.
    swap_begun: bool,
    /// The server cannot rename with `dropTarget`; warned once.
    no_drop_target: AtomicBool,
}

impl Staging {
    /// Reads what `power.jobs` says of this job and removes every other job's staging
    /// collections. Fails when this job was abandoned: its staging set is gone.
    pub fn begin(mongo: Arc<Mongo>, job: &str) -> Result<Staging, MongoError> {
        let db = mongo.db();
        let jobs = db.collection::<Document>(JOBS);
        let id = job.to_owned();
        let own = block_on(async move { jobs.find_one(doc! {"_id": id}).await }).map_err(|e| mongo.failed("read the job records", e))?;
        if let Some(r) = &own {
            if r.get_str("status") == Ok("abandoned") {
                return Err(MongoError::Superseded {
                    job: job.to_owned(),
                    by: r.get_str("abandoned_by").unwrap_or("another job").to_owned(),
                });
            }
        }
        let swap_begun = own.as_ref().and_then(|r| r.get_bool("swap_begun").ok()).unwrap_or(false);
        let s = Staging {
            mongo,
            job: job.to_owned(),
            swap_begun,
            no_drop_target: AtomicBool::new(false),
        };
        s.remove_others()?;
        Ok(s)
    }

    /// This job's id.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The staging collection of `live`.
    pub fn name(&self, live: &str) -> String {
        staging_name(live, &self.job)
    }

    /// Whether an earlier master of this job had begun the swap.
    pub fn resumed_swap(&self) -> bool {
        self.swap_begun
    }

    /// Whether the staging collection of `live` exists (after a resumed swap it may be
    /// live already).
    pub fn exists(&self, live: &str) -> Result<bool, MongoError> {
        let name = self.name(live);
        Ok(self.collection_names()?.contains(&name))
    }

    fn collection_names(&self) -> Result<Vec<String>, MongoError> {
        let db = self.mongo.db();
        block_on(async move { db.list_collection_names().await }).map_err(|e| self.mongo.failed("list the collections", e))
    }

    /// Drops the staging collections of every other job recorded in `power.jobs`, and marks
    /// the unfinished ones abandoned.
    fn remove_others(&self) -> Result<(), MongoError> {
        let names = self.collection_names()?;
        let candidates: Vec<String> = names.iter().filter_map(|n| job_of(n)).filter(|j| *j != self.job).map(str::to_owned).collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let jobs = self.mongo.db().collection::<Document>(JOBS);
        let q = doc! {"_id": {"$in": candidates}};
        let known: Vec<Document> = block_on(async move { jobs.find(q).await?.try_collect().await }).map_err(|e| self.mongo.failed("read the job records", e))?;
        let known: HashSet<String> = known.iter().filter_map(|d| d.get_str("_id").ok().map(str::to_owned)).collect();
        for n in names.iter().filter(|n| job_of(n).is_some_and(|j| known.contains(j))) {
            tracing::info!("dropping {n}: the staging collection of an unfinished earlier job");
            self.drop_collection(n)?;
        }
        let jobs = self.mongo.db().collection::<Document>(JOBS);
        let known: Vec<String> = known.into_iter().collect();
        let me = self.job.clone();
        block_on(async move {
            jobs.update_many(
                doc! {"_id": {"$in": known}, "status": {"$nin": ["done", "abandoned"]}},
                doc! {"$set": {"status": "abandoned", "abandoned_by": me}},
            )
            .await
        })
        .map_err(|e| self.mongo.failed("mark abandoned jobs", e))?;
        Ok(())
    }

    /// Creates the (empty) staging collection of `live` unless it exists, so that at the
    /// swap a missing one can only mean "swapped in already". Not after a swap began.
    pub fn create(&self, live: &str) -> Result<(), MongoError> {
        if self.swap_begun {
            return Ok(());
        }
        let name = self.name(live);
        let db = self.mongo.db();
        let n = name.clone();
        match block_on(async move { db.create_collection(n).await }) {
            Ok(()) => Ok(()),
            Err(e) if code(&e) == Some(NAMESPACE_EXISTS) => Ok(()),
            Err(e) => Err(self.mongo.failed(format!("create {name}"), e)),
        }
    }

    /// Drops a collection of the database (nothing if there is none).
    pub fn drop_collection(&self, name: &str) -> Result<(), MongoError> {
        let coll = self.mongo.db().collection::<Document>(name);
        block_on(async move { coll.drop().await }).map_err(|e| self.mongo.failed(format!("drop {name}"), e))
    }

    fn set_own(&self, update: Document, what: &str) -> Result<(), MongoError> {
        let jobs = self.mongo.db().collection::<Document>(JOBS);
        let id = self.job.clone();
        block_on(async move { jobs.update_one(doc! {"_id": id}, update).await })
            .map(|_| ())
            .map_err(|e| self.mongo.failed(what, e))
    }

    /// Renames `power.<from>` onto `power.<to>`, replacing it.
    fn rename(&self, from: &str, to: &str) -> Result<(), MongoError> {
        let d = &self.mongo.settings.database;
        let admin = self.mongo.client.database("admin");
        let (src, dst) = (format!("{d}.{from}"), format!("{d}.{to}"));
        if !self.no_drop_target.load(Ordering::Relaxed) {
            let cmd = doc! {"renameCollection": &src, "to": &dst, "dropTarget": true};
            let a = admin.clone();
            match block_on(async move { a.run_command(cmd).await }) {
                Ok(_) => return Ok(()),
                // Anything but "the server will not do this" is a real failure.
                Err(e) if !matches!(code(&e), Some(2 | 9 | 20 | 59 | 72 | 115 | 238)) => return Err(self.mongo.failed(format!("rename {src} to {dst}"), e)),
                Err(e) => {
                    tracing::warn!(
                        "MongoDB at {} cannot rename with dropTarget ({}); falling back to dropping the live collection, then renaming: readers see no {to} for that moment",
                        crate::redact(&self.mongo.settings.uri),
                        reason(&e)
                    );
                    self.no_drop_target.store(true, Ordering::Relaxed);
                }
            }
        }
        self.drop_collection(to)?;
        let cmd = doc! {"renameCollection": &src, "to": &dst};
        block_on(async move { admin.run_command(cmd).await })
            .map(|_| ())
            .map_err(|e| self.mongo.failed(format!("rename {src} to {dst}"), e))
    }

    /// Swaps each of `live`'s staging collections in (the indexes built already) and drops
    /// the live collections in `remove` (those this job does not write). Resumes a swap an
    /// earlier master of this job began.
    pub fn swap(&self, live: &[&str], remove: &[&str]) -> Result<(), MongoError> {
        let jobs = self.mongo.db().collection::<Document>(JOBS);
        let id = self.job.clone();
        let own = block_on(async move { jobs.find_one(doc! {"_id": id}).await }).map_err(|e| self.mongo.failed("read the job record", e))?;
        if let Some(r) = own.filter(|r| r.get_str("status") == Ok("abandoned")) {
            return Err(MongoError::Superseded {
                job: self.job.clone(),
                by: r.get_str("abandoned_by").unwrap_or("another job").to_owned(),
            });
        }
        self.set_own(doc! {"$set": {"swap_begun": true}}, "record the swap")?;
        let present: HashSet<String> = self.collection_names()?.into_iter().collect();
        for l in live {
            let staging = self.name(l);
            if !present.contains(&staging) {
                if self.swap_begun {
                    tracing::info!("{staging} was swapped in by an earlier master of this job");
                } else {
                    return Err(self.mongo.failed(format!("swap in {staging}"), "the staging collection is missing"));
                }
            } else {
                self.rename(&staging, l)?;
            }
            self.set_own(doc! {"$addToSet": {"swapped": *l}}, "record the swap")?;
        }
        for r in remove {
            self.drop_collection(r)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_carry_the_job_and_only_those_are_taken_for_staging() {
        let n = staging_name("readings", "18c3a-1f2");
        assert_eq!(n, "readings__18c3a-1f2");
        assert_eq!(job_of(&n), Some("18c3a-1f2"));
        assert_eq!(job_of("by_tariff_month__18c3a-1f2"), Some("18c3a-1f2"));
        assert_eq!(job_of("household_day"), None);
        assert_eq!(job_of("trailing__"), None);
    }
}
