//! The scheduler's answer to how many tasks its executors run at once
//! ([`crate::exec::slots`]), served beside Ballista's own gRPC service on the same port.

use std::convert::Infallible;

use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tonic::codegen::{http, BoxFuture, Context, Poll, Service};

use crate::exec::slots::{SlotsReply, SlotsRequest, SLOTS_PATH, SLOTS_SERVICE};

#[derive(Clone)]
pub struct Slots(pub SchedulerServer<LogicalPlanNode, PhysicalPlanNode>);

impl tonic::server::NamedService for Slots {
    const NAME: &'static str = SLOTS_SERVICE;
}

/// The one method: the task slots of the executors alive now.
struct Total(SchedulerServer<LogicalPlanNode, PhysicalPlanNode>);

impl tonic::server::UnaryService<SlotsRequest> for Total {
    type Response = SlotsReply;
    type Future = BoxFuture<tonic::Response<SlotsReply>, tonic::Status>;

    fn call(&mut self, _: tonic::Request<SlotsRequest>) -> Self::Future {
        let server = self.0.clone();
        Box::pin(async move {
            let live = super::stranded::live_executors(&server)
                .await
                .ok_or_else(|| tonic::Status::unavailable("the executors are not known"))?;
            Ok(tonic::Response::new(SlotsReply {
                total: live
                    .iter()
                    .map(|e| u64::from(e.specification.task_slots))
                    .sum(),
                executors: u32::try_from(live.len()).unwrap_or(u32::MAX),
            }))
        })
    }
}

impl Service<http::Request<tonic::body::Body>> for Slots {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if req.uri().path() != SLOTS_PATH {
            return Box::pin(async {
                Ok(tonic::Status::unimplemented("no such method").into_http())
            });
        }
        let method = Total(self.0.clone());
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(method, req).await)
        })
    }
}
