//! How many tasks a cluster runs at once, as its scheduler tells: the partitions a statement
//! is planned with for the cluster when `[cluster] partitions` is not set.
//!
//! ```text
//!  gateway ── /meshgate.cluster.Slots/Total (gRPC, beside Ballista's service) ──► scheduler
//!          ◄── task slots of the executors alive now ─────────────────────────
//! ```
//!
//! The answer is kept [`KEPT`] per scheduler, so a statement costs no round trip; a scheduler
//! that does not answer (Ballista's own, not `meshgate scheduler`; unreachable) is asked again
//! after the same time, and the statement is planned with the gateway's partitions meanwhile.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use tonic::codegen::http::uri::PathAndQuery;

/// The service's name and its one method's path.
pub const SLOTS_SERVICE: &str = "meshgate.cluster.Slots";
pub const SLOTS_PATH: &str = "/meshgate.cluster.Slots/Total";

/// How long an answer is used: an executor that joins or leaves changes the partitions of the
/// statements planned after this much time at most.
pub const KEPT: Duration = Duration::from_secs(10);

/// How long the gateway waits for the answer before planning with its own partitions.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, PartialEq, prost::Message)]
pub struct SlotsRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SlotsReply {
    /// Task slots of the executors alive now, added up.
    #[prost(uint64, tag = "1")]
    pub total: u64,
    /// How many executors those are.
    #[prost(uint32, tag = "2")]
    pub executors: u32,
}

async fn ask(scheduler: &str) -> Result<SlotsReply, String> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{scheduler}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(ASK_TIMEOUT)
        .timeout(ASK_TIMEOUT)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| e.to_string())?;
    grpc.unary(
        tonic::Request::new(SlotsRequest {}),
        PathAndQuery::from_static(SLOTS_PATH),
        tonic_prost::ProstCodec::default(),
    )
    .await
    .map(tonic::Response::into_inner)
    .map_err(|s| s.message().to_string())
}

/// A scheduler's answer and when it was had (`None`: it did not answer).
type Answer = (Instant, Option<u64>);

/// Answers by scheduler address.
static ANSWERS: LazyLock<Mutex<HashMap<String, Answer>>> = LazyLock::new(Default::default);

/// The task slots of the executors of the scheduler at `scheduler` (`host:port`), asked at
/// most once per [`KEPT`]; `None` when it does not say, or has no executor alive.
pub async fn cluster_slots(scheduler: &str) -> Option<u64> {
    let kept = ANSWERS
        .lock()
        .expect("no panic while the lock is held")
        .get(scheduler)
        .filter(|(at, _)| at.elapsed() < KEPT)
        .map(|(_, n)| *n);
    if let Some(n) = kept {
        return n;
    }
    let n = match ask(scheduler).await {
        Ok(r) => {
            tracing::debug!(
                scheduler,
                slots = r.total,
                executors = r.executors,
                "cluster task slots"
            );
            Some(r.total).filter(|&n| n > 0)
        }
        Err(e) => {
            tracing::info!(
                scheduler,
                "the scheduler did not say its executors' task slots ({e}); cluster statements are planned with this gateway's partitions"
            );
            None
        }
    };
    ANSWERS
        .lock()
        .expect("no panic while the lock is held")
        .insert(scheduler.to_string(), (Instant::now(), n));
    n
}

/// The partitions a statement for the cluster is planned with: `configured` when set (not 0),
/// else the executors' task slots, else `gateway` (this gateway's own).
pub fn partitions(configured: usize, slots: Option<u64>, gateway: usize) -> usize {
    match (configured, slots) {
        (0, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        (0, None) => gateway,
        (n, _) => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_then_the_slots_then_the_gateway_decide() {
        assert_eq!(partitions(7, Some(16), 2), 7);
        assert_eq!(partitions(0, Some(16), 2), 16);
        assert_eq!(partitions(0, None, 2), 2);
    }
}
