//! The status writer of ferrolb's own objects: after each change (coalesced), the pools'
//! statuses and gauges, then the advertisements' (which pools they select).

use std::sync::Arc;
use std::time::Duration;

use ferrolb_crds::{IPAddressPool, IPAddressPoolStatus};
use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt};

use crate::context::Context;
use crate::object_status::apply_status;
use crate::{advertisement_status, pool_status};

/// How long a burst of changes is gathered before statuses are written once.
const COALESCE: Duration = Duration::from_millis(500);

/// Runs until the process ends: after each change, writes the pools' statuses, then the
/// advertisements' (which pools they select).
pub async fn run(ctx: Arc<Context>) {
    let api: Api<IPAddressPool> = Api::all(ctx.client.clone());
    loop {
        ctx.status_changed.notified().await;
        ctx.wait_synced().await;
        tokio::time::sleep(COALESCE).await;
        let now = Timestamp::now();
        let writes: Vec<(String, IPAddressPoolStatus)> = {
            let st = ctx.state.lock().await;
            ctx.pools
                .state()
                .iter()
                .filter_map(|p| {
                    let want = pool_status::desired(&st, p, now);
                    pool_status::record_metrics(&ctx, &p.name_any(), &want);
                    let current = p.status.clone().unwrap_or_default();
                    (!pool_status::same(&current, &want)).then(|| (p.name_any(), want))
                })
                .collect()
        };
        for (name, status) in writes {
            apply_status(&api, &name, &status).await;
        }
        advertisement_status::write_changed(&ctx, now).await;
    }
}
