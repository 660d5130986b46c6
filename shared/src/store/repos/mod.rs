//! Repositories: one per aggregate, written once on top of [`Table`](super::Table), so DynamoDB
//! and the embedded file run exactly the same data-access code.

pub mod actions;
pub mod alerts;
pub mod api_keys;
pub mod clusters;
pub mod executions;
pub mod invites;
pub mod metrics;
pub mod monitors;
pub mod notifications;
pub mod orgs;
pub mod plans;
pub mod platforms;
pub mod reset_tokens;
pub mod savings;
pub mod schedules;
pub mod usage;
pub mod users;
pub mod warm_pools;
pub mod watches;
